"""The crash-clip blueprint, run as a real automation against the integration."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import time
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import IMEI, fire, get_device
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    async_mock_service,
)

BLUEPRINT = (
    Path(__file__).parents[2] / "blueprints" / "automation" / "dualcam" / "crash_clip_notify.yaml"
)
VIDEO = b"\x00\x00\x00\x18ftypmp42crash-clip"


@pytest.fixture
async def notifications(
    hass: HomeAssistant, loaded: MockConfigEntry, tmp_path: Path
) -> list[ServiceCall]:
    """An automation from the blueprint, notifying a mocked notify action."""
    hass.config.config_dir = str(tmp_path)
    target = tmp_path / "blueprints" / "automation" / "dualcam" / BLUEPRINT.name
    target.parent.mkdir(parents=True)
    shutil.copy(BLUEPRINT, target)
    calls = async_mock_service(hass, "notify", "test_phone")
    device = get_device(hass, IMEI)
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "alias": "Crash clip",
                "use_blueprint": {
                    "path": f"dualcam/{BLUEPRINT.name}",
                    "input": {
                        "vehicle": device.id,
                        "camera": "camera.van_1_front_camera",
                        "notify_action": "notify.test_phone",
                        "clip_timeout": 300,
                    },
                },
            }
        },
    )
    await hass.async_block_till_done()
    assert hass.states.get("automation.crash_clip").state == "on"
    return calls


async def crash(hass: HomeAssistant, trigger: str = "crash", position: dict | None = None) -> None:
    """The tracker's SOS record; returns once the automation waits for the clip.

    (async_block_till_done would wait for the whole run, i.e. for the clip itself.)
    """
    fire(
        hass,
        f"{IMEI}/sos",
        {"value": 3, "trigger": trigger, "timestamp": "2025-05-01T10:05:00Z", "position": position},
    )
    for _ in range(10):
        await asyncio.sleep(0)


async def test_crash_then_clip(hass: HomeAssistant, notifications: list[ServiceCall]) -> None:
    """Crash, then the clip: one notification with the photo and the clip link."""
    await crash(hass)
    assert notifications == []  # still waiting for the clip
    link = f"http://bridge.local:5080/media/c1/file?exp={int(time.time()) + 3600}&sig={'0' * 64}"
    fire(
        hass,
        f"{IMEI}/media",
        {
            "id": "c1",
            "imei": IMEI,
            "camera": "front",
            "kind": "video",
            "variant": "original",
            "mime": "video/mp4",
            "size": len(VIDEO),
            "sha256": hashlib.sha256(VIDEO).hexdigest(),
            "captured_at": "2025-05-01T10:05:01Z",
            "received_at": "2025-05-01T10:06:00Z",
            "path": "/var/lib/dualcam/media/c1.mp4",
            "url": link,
            "poster_url": None,
            "thumbnail_url": None,
            "browser_url": None,
            "duration_s": 10,
            "trigger": "crash",
            "latitude": None,
            "longitude": None,
        },
    )
    await hass.async_block_till_done()
    [call] = notifications
    assert call.data["title"] == "Crash detected: Van 1"
    assert "front camera's crash clip has arrived" in call.data["message"]
    assert call.data["data"]["image"] == "/api/camera_proxy/camera.van_1_front_camera"
    # Home Assistant's proxy to the clip, signed for the phone: the browser MP4 once the
    # bridge has made it, the original until then.
    entry_id = hass.config_entries.async_entries("dualcam")[0].entry_id
    assert call.data["data"]["url"].startswith(
        f"/api/dualcam/bridge_media/{entry_id}/c1/best?authSig="
    )


async def test_crash_without_clip(hass: HomeAssistant, notifications: list[ServiceCall]) -> None:
    """No clip in time: notify anyway, linking the crash position."""
    await crash(hass, position={"latitude": 54.6, "longitude": 25.2})
    assert notifications == []
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=301))
    await hass.async_block_till_done()
    [call] = notifications
    assert "No crash clip arrived within 300 s" in call.data["message"]
    assert call.data["data"]["url"] == "https://www.openstreetmap.org/?mlat=54.6&mlon=25.2"


async def test_other_sos_is_ignored(hass: HomeAssistant, notifications: list[ServiceCall]) -> None:
    """Only a crash starts the automation."""
    await crash(hass, trigger="din1")
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=301))
    await hass.async_block_till_done()
    assert notifications == []
