"""End to end with nothing mocked between the parts.

A real mosquitto on 127.0.0.1, the real bridge (`dualcam-bridge run`, from the bridge's own
venv: the integration never imports it), a simulated tracker + DualCam speaking the real
protocols to it (`dualcam-bridge simulate tracker`), and Home Assistant's real `mqtt`
integration connected to that broker with the DualCam integration on top (helpers in e2e.py).

`dualcam.request_photo` travels HA → MQTT command → bridge → Codec 12 `camreq` → the
simulated tracker, whose camera captures and uploads a photo to the bridge, which stores it
and publishes it; the front camera entity ends up showing exactly the stored JPEG.

`dualcam.request_video` the same way for a clip; the bridge makes its H.264 MP4 and says so
in a second media event, and the media browser plays it through the integration's proxy
view, by range requests against the bridge's HTTP service; the saved copy is that file.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from conftest import EventWaiter, get_device
from e2e import (
    BRIDGE_CLI,
    FRONT_SAMPLE,
    IMEI,
    MOSQUITTO,
    NAME,
    Processes,
    listening,
    make_entries,
    start_stack,
    unload,
    wait_for,
)
from homeassistant.components import camera
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)
from pytest_homeassistant_custom_component.typing import (
    ClientSessionGenerator,
    WebSocketGenerator,
)

from custom_components.dualcam.const import DOMAIN, EVENT_MEDIA_RECEIVED, EVENT_MEDIA_SAVED

TEST_TIMEOUT = 50  # seconds for the whole scenario (pytest-timeout's 60 s is the backstop)
CLIP_TIMEOUT = 110  # a clip: upload, remux, H.264 encode, download


pytestmark = [
    pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto is not installed (apt mosquitto)"),
    pytest.mark.skipif(
        not BRIDGE_CLI.exists(),
        reason=f"the bridge venv is missing ({BRIDGE_CLI}); scripts/test or scripts/setup "
        "creates it",
    ),
]


async def front_image(hass: HomeAssistant, entity_id: str) -> bytes:
    """What the camera entity serves (camera.snapshot and the frontend get the same); a
    placeholder before the first photo."""
    return (await camera.async_get_image(hass, entity_id)).content


async def test_request_photo_reaches_the_camera_entity(
    hass: HomeAssistant,
    mock_hass_config: None,  # an empty configuration.yaml (MQTT reads it at setup)
    socket_enabled: None,  # real sockets; pytest-socket still allows only 127.0.0.1
    processes: Processes,
    tmp_path: Path,
) -> None:
    """dualcam.request_photo → real bridge + simulator → camera entity shows the photo."""
    mqtt_entry, dualcam_entry = make_entries(tmp_path / "ha-media")
    try:
        async with asyncio.timeout(TEST_TIMEOUT):
            await _scenario(hass, processes, tmp_path, mqtt_entry, dualcam_entry)
    finally:
        await unload(hass, dualcam_entry, mqtt_entry)


async def _scenario(
    hass: HomeAssistant,
    procs: Processes,
    workdir: Path,
    mqtt_entry: MockConfigEntry,
    dualcam_entry: MockConfigEntry,
) -> None:
    # 1. The broker, the bridge, the simulated vehicle; Home Assistant's MQTT and DualCam.
    bridge = await start_stack(hass, procs, workdir, mqtt_entry, dualcam_entry)
    media_events = async_capture_events(hass, EVENT_MEDIA_RECEIVED)
    saved = EventWaiter(hass, EVENT_MEDIA_SAVED)

    # 3. The vehicle's device and its front camera, available (bridge and tracker online).
    device = await wait_for(
        "the vehicle's device",
        lambda: get_device(hass, IMEI),
        procs,
    )
    assert device.name == NAME and device.serial_number == IMEI
    entity_id = await wait_for(
        "the front camera entity",
        lambda: er.async_get(hass).async_get_entity_id("camera", DOMAIN, f"{IMEI}_front_camera"),
        procs,
    )
    await wait_for(
        "the front camera to be available",
        lambda: (state := hass.states.get(entity_id)) and state.state != STATE_UNAVAILABLE,
        procs,
    )
    # The simulated cameras are healthy: state 3, a mounted SD card.
    state_id = er.async_get(hass).async_get_entity_id(
        "sensor", DOMAIN, f"{IMEI}_front_camera_state"
    )
    assert state_id is not None
    await wait_for(
        "the front camera's state",
        lambda: (state := hass.states.get(state_id)) and state.state == "card_mounted",
        procs,
    )
    before = await front_image(hass, entity_id)
    picture_before = hass.states.get(entity_id).attributes.get("entity_picture")

    # 4. The action, answered by the tracker over Codec 12 through the bridge.
    response = await hass.services.async_call(
        DOMAIN,
        "request_photo",
        {"device_id": device.id, "source": "front", "timeout": 20},
        blocking=True,
        return_response=True,
    )
    assert response is not None
    [result] = response["results"]
    assert result == {
        "device_id": device.id,
        "imei": IMEI,
        "name": NAME,
        "id": result["id"],
        "ok": True,
        "command": "camreq",
        "status": "ok",
        "response": "Request for photo from source 1 received",
        "error": None,
        "result": {
            "type": "camera_request",
            "kind": "photo",
            "source": 1,
            "cameras": ["front"],
            "duration_s": None,
            "since": None,
        },
    }

    # 5. The bridge stored the uploaded photo; the camera entity shows exactly those bytes.
    path, digest = await wait_for("the bridge to store the photo", bridge.stored_photo, procs)
    stored = path.read_bytes()
    assert hashlib.sha256(stored).hexdigest() == digest
    sample = FRONT_SAMPLE.read_bytes()
    # The simulator's front sample, tagged with this capture (a COM segment after SOI).
    assert stored[:4] == b"\xff\xd8\xff\xfe" and stored.endswith(sample[2:])
    assert f"imei={IMEI} photo front".encode() in stored[:200]
    assert stored != before

    async def shows_stored_photo() -> bool:
        return await front_image(hass, entity_id) == stored

    await wait_for("the camera entity to show the stored photo", shows_stored_photo, procs)
    state = hass.states.get(entity_id)
    assert state.state != STATE_UNAVAILABLE
    assert state.attributes["photo_received_at"] is not None
    assert state.attributes["entity_picture"] != picture_before

    # The bridge's media event reached Home Assistant's bus, describing that very file.
    [event] = await wait_for(
        "dualcam_media_received",
        lambda: [e for e in media_events if e.data["sha256"] == digest],
        procs,
    )
    assert event.data["kind"] == "photo" and event.data["camera"] == "front"
    assert event.data["trigger"] == "server_request"
    assert event.data["size"] == len(stored)
    assert event.data["bridge_url"].startswith(f"http://127.0.0.1:{bridge.http_port}/media/")

    # 6. Saving is on: Home Assistant downloaded that file from the bridge's link.
    copy = await wait_for(
        "the saved copy of the photo",
        lambda: next((e.data for e in saved.events if e.data["id"] == event.data["id"]), None),
        procs,
    )
    assert copy["variant"] == "file"
    assert Path(copy["path"]).read_bytes() == stored


@pytest.mark.timeout(CLIP_TIMEOUT + 10)
async def test_clip_plays_through_the_view(
    hass: HomeAssistant,
    mock_hass_config: None,
    socket_enabled: None,
    processes: Processes,
    tmp_path: Path,
    hass_client: ClientSessionGenerator,
    hass_ws_client: WebSocketGenerator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """dualcam.request_video → the bridge's files → played through the integration's view.

    Saving is off here, so the media browser plays from the bridge (through the proxy) and
    not from a copy that might or might not be complete yet; the photo test covers saving.
    """
    mqtt_entry, dualcam_entry = make_entries(tmp_path / "ha-media", store=False)
    try:
        async with asyncio.timeout(CLIP_TIMEOUT):
            await _clip_scenario(
                hass,
                processes,
                tmp_path,
                mqtt_entry,
                dualcam_entry,
                hass_client,
                hass_ws_client,
                hass_client_no_auth,
            )
    finally:
        await unload(hass, dualcam_entry, mqtt_entry)


async def _clip_scenario(
    hass: HomeAssistant,
    procs: Processes,
    workdir: Path,
    mqtt_entry: MockConfigEntry,
    dualcam_entry: MockConfigEntry,
    hass_client: ClientSessionGenerator,
    hass_ws_client: WebSocketGenerator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    bridge = await start_stack(hass, procs, workdir, mqtt_entry, dualcam_entry)
    await wait_for("the bridge's HTTP service", lambda: listening(bridge.http_port), procs)
    assert await async_setup_component(hass, "media_source", {})  # and http
    # Before the first client: that freezes the router, where the WebSocket API adds a view.
    assert await async_setup_component(hass, "websocket_api", {})
    client, player = await hass_client(), await hass_client_no_auth()
    received = EventWaiter(hass, EVENT_MEDIA_RECEIVED)
    device = await wait_for("the vehicle's device", lambda: get_device(hass, IMEI), procs)
    await wait_for("the bridge online", lambda: dualcam_entry.runtime_data.available, procs)

    # 1. A clip from the front camera, over the real protocols.
    response = await hass.services.async_call(
        DOMAIN,
        "request_video",
        {"device_id": device.id, "source": "front", "duration": 2, "timeout": 20},
        blocking=True,
        return_response=True,
    )
    assert response is not None and response["results"][0]["ok"], response

    def media(variant: str) -> dict[str, Any] | None:
        return next(
            (
                e.data
                for e in received.events
                if e.data["kind"] == "video" and e.data["variant"] == variant
            ),
            None,
        )

    # 2. The bridge announces the clip; the view serves its file by ranges, as the bridge has it.
    original = await wait_for("the clip's media event", lambda: media("original"), procs, 40)
    session = async_get_clientsession(hass)
    async with session.get(original["bridge_url"]) as answer:
        assert answer.status == 200
        clip = await answer.read()
    assert len(clip) == original["size"]
    assert hashlib.sha256(clip).hexdigest() == original["sha256"]
    view = f"/api/dualcam/bridge_media/{dualcam_entry.entry_id}/{original['id']}/file"
    await assert_ranges(client, view, clip, original["mime"])

    # 3. Its H.264 MP4 (same id) follows.
    browser = await wait_for("the clip's browser MP4", lambda: media("browser"), procs, 60)
    assert browser["id"] == original["id"]
    async with session.get(browser["bridge_browser_url"]) as answer:
        assert answer.status == 200
        h264 = await answer.read()
    assert b"avc1" in h264[:65536]  # H.264, its index up front (+faststart)

    # 4. The media browser's player: resolve (a signed path to the view), then ranges without
    #    a login, as the frontend's <video> asks.
    ws = await hass_ws_client(hass)
    await ws.send_json(
        {
            "id": 1,
            "type": "media_source/resolve_media",
            "media_content_id": original["media_content_id"],
        }
    )
    resolved = await ws.receive_json()
    assert resolved["success"], resolved
    url = resolved["result"]["url"]
    assert f"/bridge_media/{dualcam_entry.entry_id}/{original['id']}/browser?authSig=" in url
    await assert_ranges(player, url, h264, resolved["result"]["mime_type"])


async def assert_ranges(client: TestClient, url: str, body: bytes, mime: str) -> None:
    """The whole body from two ranges (206, Content-Range), and the type a player needs."""
    head = await client.get(url, headers={"Range": "bytes=0-1023"})
    assert head.status == 206, await head.text()
    assert head.headers["Content-Range"] == f"bytes 0-1023/{len(body)}"
    assert head.headers["Content-Type"] == mime == "video/mp4"
    rest = await client.get(url, headers={"Range": "bytes=1024-"})
    assert rest.status == 206
    assert await head.read() + await rest.read() == body
