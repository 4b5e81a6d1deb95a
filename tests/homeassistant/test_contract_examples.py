"""The integration takes an example of every payload the bridge publishes.

The examples are those of tests/bridge/mqtt/schemas.py, which the bridge suite checks against
the JSON schemas of the contract: loaded here by file path (that tree belongs to the bridge
suite), so both suites use the very same payloads.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from conftest import IMEI, PREFIX
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_mqtt_message,
)

from custom_components.dualcam import commands
from custom_components.dualcam.const import (
    CONF_MEDIA_DIR,
    CONF_STORE_MEDIA,
    CONF_VEHICLES,
    EVENT_SOS,
)
from custom_components.dualcam.contract import TOPIC_COMMAND_RESULT, TOPICS, topic
from custom_components.dualcam.models import (
    CameraStatus,
    MediaInfo,
    Position,
    SosReport,
    Transfer,
    parse_json,
)

SCHEMAS = Path(__file__).parents[1] / "bridge" / "mqtt" / "schemas.py"


def _load_schemas() -> ModuleType:
    name = "dualcam_contract_schemas"
    spec = importlib.util.spec_from_file_location(name, SCHEMAS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while building the class
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


EXAMPLES: dict[str, list[Any]] = _load_schemas().EXAMPLES
PARSERS = {
    "camera_state": CameraStatus.from_json,
    "media": MediaInfo.from_json,
    "transfer": Transfer.from_json,
    "sos": SosReport.from_json,
    "position": Position.from_json,
}


@pytest.fixture
def entry_options(media_dir: Path) -> dict[str, Any]:
    """No media pairing: the examples' hashes are not those of the example bytes."""
    return {CONF_STORE_MEDIA: False, CONF_MEDIA_DIR: str(media_dir), CONF_VEHICLES: []}


def test_examples_cover_every_topic() -> None:
    assert set(EXAMPLES) == {spec.name for spec in TOPICS}
    assert all(EXAMPLES.values())


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_parsers_accept_every_example(name: str) -> None:
    for example in EXAMPLES[name]:
        parsed = PARSERS[name](parse_json(json.dumps(example)))
        for key in ("value", "state", "trigger", "camera", "kind", "latitude", "packets_done"):
            if key in example and hasattr(parsed, key):
                assert getattr(parsed, key) == example[key], (name, key)
        if timestamp := example.get("timestamp") or example.get("received_at"):
            when = getattr(parsed, "timestamp", None) or parsed.received_at
            assert when == datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


@pytest.mark.parametrize("name", ["bridge_info", "device_info", "command_result"])
def test_json_objects_parse(name: str) -> None:
    for example in EXAMPLES[name]:
        assert parse_json(json.dumps(example)) == example


async def test_every_example_through_the_subscriptions(
    hass: HomeAssistant, setup_entry: MockConfigEntry, caplog: pytest.LogCaptureFixture
) -> None:
    """Fired on their real topics, every example is taken (none is logged as ignored)."""
    caplog.set_level(logging.WARNING, logger="custom_components.dualcam")
    sos_events = async_capture_events(hass, EVENT_SOS)
    bridge = setup_entry.runtime_data
    for spec in TOPICS:
        if spec.name == "command":
            continue  # the bridge's input, not published to the integration
        for camera in ("front", "rear"):
            for example in EXAMPLES[spec.name]:
                payload = json.dumps(example) if isinstance(example, dict) else example
                where = topic(PREFIX, spec.pattern, IMEI, camera)
                # As a live subscriber receives them: the broker clears the retain flag, and HA
                # delivers a retained message only once per subscription.
                async_fire_mqtt_message(hass, where, payload, qos=spec.qos, retain=False)
            await hass.async_block_till_done()
    assert "Ignoring" not in caplog.text

    vehicle = bridge.vehicles[IMEI]
    last = {name: examples[-1] for name, examples in EXAMPLES.items()}
    assert bridge.online is (last["bridge_status"] == "online")
    assert bridge.info == last["bridge_info"]
    assert vehicle.info == last["device_info"]
    assert vehicle.online is (last["availability"] == "online")
    assert vehicle.camera_states["rear"].state == last["camera_state"]["state"]
    assert vehicle.photos["front"].data == last["photo"]
    assert vehicle.transfer is not None and vehicle.transfer.state == last["transfer"]["state"]
    # The media examples share one id, i.e. are one file: the first is the new file, the
    # browser variant adds its link, the others are duplicates (QoS 1) and change nothing.
    first_media = EXAMPLES["media"][0]
    assert vehicle.last_media is not None and vehicle.last_media.mime == first_media["mime"]
    item = bridge.media_index.get(first_media["id"])
    assert item is not None and item.mime == first_media["mime"]
    [browser] = [m for m in EXAMPLES["media"] if m["variant"] == "browser"]
    assert item.links == {
        "file": first_media["url"],
        "poster": first_media["poster_url"],
        "thumbnail": first_media["thumbnail_url"],
        "browser": browser["browser_url"],
    }
    assert vehicle.position is not None
    assert vehicle.position.latitude == last["position"]["latitude"]
    assert vehicle.last_sos is not None and vehicle.last_sos.trigger == last["sos"]["trigger"]
    # Topics without a camera got each example twice: the same SOS twice is one SOS.
    assert [e.data["trigger"] for e in sos_events] == [s["trigger"] for s in EXAMPLES["sos"]]


async def test_command_results_complete_their_commands(
    hass: HomeAssistant, setup_entry: MockConfigEntry
) -> None:
    client = setup_entry.runtime_data.commands
    for example in EXAMPLES["command_result"]:
        future: asyncio.Future[dict[str, Any]] = hass.loop.create_future()
        client.pending[str(example["id"])] = future
        result_topic = topic(PREFIX, TOPIC_COMMAND_RESULT, IMEI)
        async_fire_mqtt_message(hass, result_topic, json.dumps(example), qos=1)
        await hass.async_block_till_done()
        assert future.done() and future.result() == example
        client.pending.clear()


async def test_the_actions_build_the_example_requests(hass: HomeAssistant) -> None:
    """What the actions send is what the bridge suite runs through the bridge."""
    requests = EXAMPLES["command"]
    assert commands.photo_request("both") == requests[0]
    start = datetime.fromtimestamp(requests[1]["timestamp"], UTC)
    now = datetime.fromtimestamp(requests[1]["timestamp"] + 60, UTC)
    assert commands.video_request("front", 20, start=start, now=now) == requests[1]
    assert commands.video_request("rear", 30) == requests[2]
    settings = {
        "resolution": "1280x720",
        "compression": 50,
        "osd": True,
        "frame_rate": 25,
        "periodic_photo": True,
        "periodic_photo_interval": 600,
        "video_trigger": "crash",
        "video_seconds_before": 5,
        "video_seconds_after": 7,
    }
    assert commands.camera_settings(settings) == requests[3]
