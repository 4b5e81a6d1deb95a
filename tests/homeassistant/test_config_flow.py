"""Config flow (manual, MQTT discovery, duplicates) and options flow."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from unittest.mock import patch

import pytest
from conftest import BRIDGE_INFO, IMEI, IMEI2, PREFIX, fire, publish_bridge, publish_vehicle
from homeassistant.config_entries import SOURCE_MQTT, SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.mqtt import MqttServiceInfo
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_mqtt_message
from pytest_homeassistant_custom_component.typing import MqttMockHAClient

from custom_components.dualcam import config_flow
from custom_components.dualcam.const import (
    CONF_MEDIA_DIR,
    CONF_STORE_MEDIA,
    CONF_TOPIC_PREFIX,
    CONF_VEHICLES,
    DOMAIN,
)

PROBE = "custom_components.dualcam.config_flow.async_probe_bridge"
STRINGS = json.loads((Path(config_flow.__file__).parent / "strings.json").read_text())
DEFAULT_OPTIONS = {CONF_STORE_MEDIA: True, CONF_MEDIA_DIR: "", CONF_VEHICLES: []}


def discovery(
    topic: str = f"{PREFIX}/bridge/info", payload: object = BRIDGE_INFO
) -> MqttServiceInfo:
    """What HA's mqtt integration hands to async_step_mqtt."""
    return MqttServiceInfo(
        topic=topic,
        payload=payload if isinstance(payload, str) else json.dumps(payload),
        qos=1,
        retain=True,
        subscribed_topic=f"{PREFIX}/bridge/info",
        timestamp=0,
    )


async def test_user_flow(hass: HomeAssistant, mqtt_mock: MqttMockHAClient) -> None:
    """Manual: prefix in, probed, entry created with default options."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM and result["step_id"] == "user"
    with patch(PROBE, return_value=BRIDGE_INFO) as probe:
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_TOPIC_PREFIX: " fleet/dualcam/ "}
        )
    probe.assert_awaited_once_with(hass, "fleet/dualcam")
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "DualCam bridge (fleet/dualcam)"
    assert result["data"] == {CONF_TOPIC_PREFIX: "fleet/dualcam"}
    assert result["options"] == DEFAULT_OPTIONS
    assert result["result"].unique_id == "fleet/dualcam"
    await hass.async_block_till_done()
    assert result["result"].state is ConfigEntryState.LOADED


@pytest.mark.parametrize("prefix", ["", "dual+cam", "dual#cam", "a//b"])
async def test_user_flow_invalid_prefix(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, prefix: str
) -> None:
    """Wildcards and empty levels are refused before anything is probed."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    with patch(PROBE) as probe:
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_TOPIC_PREFIX: prefix}
        )
    assert result["errors"] == {CONF_TOPIC_PREFIX: "invalid_prefix"}
    probe.assert_not_called()


async def test_user_flow_bridge_not_found_then_found(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient
) -> None:
    """No answer on P/bridge/info: an error naming the topic, and the user can retry."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    with patch(PROBE, return_value=None):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_TOPIC_PREFIX: "fleet/north/"}
        )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "bridge_not_found"}
    # The frontend renders the error with the form's placeholders: the topic the user typed.
    message = STRINGS["config"]["error"]["bridge_not_found"]
    assert message.format(**result["description_placeholders"]).startswith(
        "No bridge answered on `fleet/north/bridge/info`."
    )
    with patch(PROBE, return_value=BRIDGE_INFO):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_TOPIC_PREFIX: PREFIX}
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_user_flow_duplicate(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, config_entry: MockConfigEntry
) -> None:
    """One entry per bridge (prefix)."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    with patch(PROBE, return_value=BRIDGE_INFO):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_TOPIC_PREFIX: PREFIX}
        )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_user_flow_without_mqtt(hass: HomeAssistant) -> None:
    """The MQTT integration is a prerequisite."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "mqtt_not_connected"


async def test_probe_reads_the_retained_info(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient
) -> None:
    """The probe returns the bridge's info, ignores junk, and gives up after its timeout."""
    task = hass.async_create_task(config_flow.async_probe_bridge(hass, "fleet", timeout=5))
    await asyncio.sleep(0)
    async_fire_mqtt_message(hass, "fleet/bridge/info", "junk")
    async_fire_mqtt_message(hass, "fleet/bridge/info", json.dumps(BRIDGE_INFO), retain=True)
    assert await task == BRIDGE_INFO
    assert await config_flow.async_probe_bridge(hass, "nobody", timeout=0.01) is None


async def test_mqtt_discovery_flow(hass: HomeAssistant, mqtt_mock: MqttMockHAClient) -> None:
    """A discovered bridge is confirmed, then created with its prefix as unique id."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_MQTT}, data=discovery()
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "discovery_confirm"
    assert result["description_placeholders"] == {
        "prefix": PREFIX,
        "version": "0.1.0",
        "vehicles": "1",
    }
    description = STRINGS["config"]["step"]["discovery_confirm"]["description"]
    assert "knows 1 vehicle(s)" in description.format(**result["description_placeholders"])
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {CONF_TOPIC_PREFIX: PREFIX}
    assert result["result"].unique_id == PREFIX
    await hass.async_block_till_done()


async def test_mqtt_discovery_through_the_mqtt_integration(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient
) -> None:
    """The manifest's `mqtt` topic makes HA's mqtt integration start our flow."""
    async_fire_mqtt_message(hass, f"{PREFIX}/bridge/info", json.dumps(BRIDGE_INFO), retain=True)
    await hass.async_block_till_done()
    [flow] = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["source"] == SOURCE_MQTT
    assert flow["context"]["unique_id"] == PREFIX
    assert flow["step_id"] == "discovery_confirm"


@pytest.mark.parametrize(
    ("info", "reason"),
    [
        (discovery(topic="dualcam/bridge/state"), "invalid_discovery_info"),
        (discovery(payload="not json"), "invalid_discovery_info"),
        # zigbee2mqtt publishes <prefix>/bridge/info too.
        (discovery(payload={"version": "1.40", "coordinator": {}}), "not_dualcam_bridge"),
    ],
)
async def test_mqtt_discovery_rejects(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, info: MqttServiceInfo, reason: str
) -> None:
    """Anything that is not a DualCam bridge's info aborts."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_MQTT}, data=info
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == reason


async def test_mqtt_discovery_duplicate(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, config_entry: MockConfigEntry
) -> None:
    """A bridge that is already configured is not offered again."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_MQTT}, data=discovery()
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_options_flow(
    hass: HomeAssistant, setup_entry: MockConfigEntry, tmp_path: Path
) -> None:
    """Options list the vehicles the bridge reported; saving them reloads the entry."""
    publish_bridge(hass)
    publish_vehicle(hass)
    fire(hass, f"{IMEI2}/availability", "online")
    await hass.async_block_till_done()
    before = setup_entry.runtime_data

    result = await hass.config_entries.options.async_init(setup_entry.entry_id)
    assert result["type"] is FlowResultType.FORM and result["step_id"] == "init"
    options = result["data_schema"].schema[CONF_VEHICLES].config["options"]
    assert {o["value"]: o["label"] for o in options} == {
        IMEI: f"Van 1 ({IMEI})",
        IMEI2: IMEI2,
    }
    new_dir = tmp_path / "clips"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_STORE_MEDIA: False, CONF_MEDIA_DIR: str(new_dir), CONF_VEHICLES: [IMEI2]},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert setup_entry.options == {
        CONF_STORE_MEDIA: False,
        CONF_MEDIA_DIR: str(new_dir),
        CONF_VEHICLES: [IMEI2],
    }
    await hass.async_block_till_done()
    assert new_dir.is_dir()
    assert setup_entry.state is ConfigEntryState.LOADED
    assert setup_entry.runtime_data is not before
    assert setup_entry.runtime_data.selected == {IMEI2}
    assert setup_entry.runtime_data.saver.enabled is False


@pytest.mark.parametrize(
    ("user_input", "errors"),
    [
        ({CONF_MEDIA_DIR: "relative/dir"}, {CONF_MEDIA_DIR: "media_dir_not_absolute"}),
        ({CONF_MEDIA_DIR: "/proc/dualcam"}, {CONF_MEDIA_DIR: "media_dir_not_writable"}),
        ({CONF_VEHICLES: ["12345"]}, {CONF_VEHICLES: "invalid_imei"}),
    ],
)
async def test_options_flow_errors(
    hass: HomeAssistant, setup_entry: MockConfigEntry, user_input: dict, errors: dict
) -> None:
    """Bad folders and IMEIs are refused on the form."""
    result = await hass.config_entries.options.async_init(setup_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_STORE_MEDIA: True, **user_input}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors
