"""Device triggers: crash detected, SOS, clip/photo received, camera state changed."""

from __future__ import annotations

import pytest
from conftest import IMEI, PREFIX, fire, get_device
from homeassistant.components.device_automation import DeviceAutomationType
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_get_device_automations,
    async_mock_service,
)

from custom_components.dualcam.const import DOMAIN, EVENT_MEDIA_RECEIVED
from custom_components.dualcam.device_trigger import TRIGGER_TYPES


def device_id(hass: HomeAssistant, imei: str = IMEI) -> str:
    """Registry id of a vehicle (or of the bridge, given its identifier)."""
    return get_device(hass, imei).id


async def test_get_triggers(hass: HomeAssistant, loaded: MockConfigEntry) -> None:
    """A vehicle offers every DualCam trigger; the bridge device offers none."""
    triggers = await async_get_device_automations(
        hass, DeviceAutomationType.TRIGGER, device_id(hass)
    )
    ours = {t["type"] for t in triggers if t["domain"] == DOMAIN}
    assert ours == set(TRIGGER_TYPES)
    bridge_triggers = await async_get_device_automations(
        hass, DeviceAutomationType.TRIGGER, device_id(hass, f"bridge/{PREFIX}")
    )
    assert [t for t in bridge_triggers if t["domain"] == DOMAIN] == []


@pytest.fixture
async def fired(hass: HomeAssistant, loaded: MockConfigEntry) -> list[ServiceCall]:
    """One automation per trigger type; each calls test.automation with its type."""
    calls = async_mock_service(hass, "test", "automation")
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": [
                {
                    "triggers": {
                        "trigger": "device",
                        "domain": DOMAIN,
                        "device_id": device_id(hass),
                        "type": trigger_type,
                    },
                    "actions": {"action": "test.automation", "data": {"type": trigger_type}},
                }
                for trigger_type in TRIGGER_TYPES
            ]
        },
    )
    await hass.async_block_till_done()
    return calls


def fired_types(calls: list[ServiceCall]) -> list[str]:
    """Trigger types that ran, in order."""
    return [c.data["type"] for c in calls]


async def test_sos_triggers(hass: HomeAssistant, fired: list[ServiceCall]) -> None:
    """Any SOS fires "sos"; only a crash also fires "crash detected"."""
    fire(hass, f"{IMEI}/sos", {"value": 1, "trigger": "din1", "timestamp": None, "position": None})
    await hass.async_block_till_done()
    assert fired_types(fired) == ["sos"]
    fire(hass, f"{IMEI}/sos", {"value": 3, "trigger": "crash", "timestamp": None, "position": None})
    await hass.async_block_till_done()
    assert sorted(fired_types(fired)) == ["crash_detected", "sos", "sos"]


async def test_media_triggers(hass: HomeAssistant, fired: list[ServiceCall]) -> None:
    """Clip and photo triggers follow the kind of the received file, for this device only,
    once per file (a clip's browser MP4 is no new clip)."""
    for kind, variant, device in (
        ("video", "original", device_id(hass)),
        ("video", "browser", device_id(hass)),
        ("photo", "original", device_id(hass)),
        ("video", "original", "x"),
    ):
        data = {"device_id": device, "kind": kind, "variant": variant}
        hass.bus.async_fire(EVENT_MEDIA_RECEIVED, data)
    await hass.async_block_till_done()
    assert fired_types(fired) == ["clip_received", "photo_received"]


async def test_camera_state_changed(hass: HomeAssistant, fired: list[ServiceCall]) -> None:
    """A new camera state fires; the same state again or going unavailable does not."""
    fire(hass, f"{IMEI}/camera/rear/state", {"value": 2, "state": "card_mount_failed"})
    await hass.async_block_till_done()
    assert fired_types(fired) == ["camera_state_changed"]
    fire(hass, f"{IMEI}/camera/rear/state", {"value": 2, "state": "card_mount_failed"})
    fire(hass, "bridge/status", "offline")
    fire(hass, "bridge/status", "online")
    await hass.async_block_till_done()
    assert fired_types(fired) == ["camera_state_changed"]
