"""Diagnostics of the entry and of a vehicle: useful content, no IMEI, no location."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import IMEI, IMEI2, POSITION, fire, get_device
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from media_server import MediaServer, media_event
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
    get_diagnostics_for_device,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.dualcam.const import CONF_STORE_MEDIA, CONF_VEHICLES


@pytest.mark.parametrize("entry_options", [{CONF_VEHICLES: [IMEI, IMEI2], CONF_STORE_MEDIA: False}])
async def test_entry_diagnostics(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    hass_client: ClientSessionGenerator,
    tmp_path: Path,
) -> None:
    """The bridge and vehicle state are there; IMEIs, coordinates and links are not."""
    assert await async_setup_component(hass, "diagnostics", {})
    fire(hass, f"{IMEI}/info", {"imei": IMEI, "name": f"Van {IMEI}"})
    media = MediaServer(tmp_path)
    media.add("c1", "file", b"clip", "video/mp4")
    media.add("c1", "poster", b"poster", "image/jpeg")
    media.add("c1", "browser", b"h264", "video/mp4")
    fire(hass, f"{IMEI}/media", media_event(media, "c1", IMEI, data=b"clip"))
    fire(hass, f"{IMEI}/media", media_event(media, "c1", IMEI, variant="browser"))
    fire(hass, f"{IMEI}/sos", {"value": 3, "trigger": "crash", "position": POSITION})
    fire(hass, f"{IMEI2}/availability", "online")
    await hass.async_block_till_done()

    result = await get_diagnostics_for_config_entry(hass, hass_client, loaded)
    text = json.dumps(result)
    assert IMEI not in text and IMEI2 not in text
    assert str(POSITION["latitude"]) not in text
    for secret in ("http://", "sig=", "authSig", "/media/c1"):
        assert secret not in text, secret
    assert result["bridge"]["media_items"] == 1
    assert result["vehicle_states"][0]["last_media"]["kind"] == "video"
    assert result["vehicle_states"][0]["last_media"]["url"] == "**REDACTED**"
    assert result["entry"]["data"] == {"topic_prefix": "dualcam"}
    assert result["entry"]["options"]["vehicles"] == "**REDACTED**"
    assert result["bridge"]["info"]["version"] == "0.1.0"
    assert result["bridge"]["online"] is True
    vehicle, other = result["vehicle_states"]
    assert other == {**other, "imei": "**REDACTED**", "online": True}
    assert vehicle["imei"] == "**REDACTED**"
    assert vehicle["name"] == "Van **REDACTED**"
    assert vehicle["last_sos"]["trigger"] == "crash"
    assert vehicle["position"] == "**REDACTED**"


async def test_device_diagnostics(
    hass: HomeAssistant, loaded: MockConfigEntry, hass_client: ClientSessionGenerator
) -> None:
    """A vehicle's diagnostics: its state, without its IMEI."""
    assert await async_setup_component(hass, "diagnostics", {})
    device = get_device(hass, IMEI)
    result = await get_diagnostics_for_device(hass, hass_client, loaded, device)
    assert IMEI not in json.dumps(result)
    assert result["device"]["model"] == "DualCam"
    assert result["vehicle"]["camera_states"]["front"]["state"] == "no_card"
    assert result["vehicle"]["photos"]["front"]["bytes"] > 0
    assert result["vehicle"]["online"] is True
