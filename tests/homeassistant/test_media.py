"""Photos and clips: the media index, the media browser, the bus events, no links in states.

The bridge's HTTP service is stood in for by media_server.py (real files, real socket, the
same link shape); saved copies are in test_media_saving.py, the proxy view in
test_media_proxy.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import FRONT_JPEG, IMEI, EventWaiter, fire, get_device
from homeassistant.components import media_source
from homeassistant.components.media_player import MediaClass
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from media_server import MediaServer, media_event, recent
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.dualcam.const import (
    CONF_MEDIA_DIR,
    CONF_STORE_MEDIA,
    CONF_VEHICLES,
    DOMAIN,
    EVENT_MEDIA_RECEIVED,
)

# The original clip (HEVC on a real bridge) and its browser MP4: content is not inspected.
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40
BROWSER = b"\x00\x00\x00\x18ftypisom" + bytes(range(255, -1, -1)) * 30
POSTER = b"\xff\xd8\xff\xe0poster" + bytes(100) + b"\xff\xd9"
THUMBNAIL = b"\xff\xd8\xff\xe0thumb" + bytes(50) + b"\xff\xd9"
# media_event's default capture time (yesterday, UTC): the day before in Home Assistant's
# time zone of the tests (US/Pacific), unlike the receive time.
CAPTURED_AT = recent("05:30:00")


@pytest.fixture
def entry_options(media_dir: Path) -> dict[str, Any]:
    """No saved copies here (test_media_saving.py): every item plays from the bridge."""
    return {CONF_STORE_MEDIA: False, CONF_MEDIA_DIR: str(media_dir), CONF_VEHICLES: []}


def local(timestamp: str) -> Any:
    """A contract timestamp in Home Assistant's time zone."""
    return dt_util.as_local(dt_util.parse_datetime(timestamp))


async def browse(hass: HomeAssistant, *path: str) -> Any:
    """Browse DualCam down the titles given (vehicle, day)."""
    node = await media_source.async_browse_media(hass, "media-source://dualcam")
    for title in path:
        [child] = [c for c in node.children if c.title == title]
        node = await media_source.async_browse_media(hass, child.media_content_id)
    return node


def add_clip(server: MediaServer, media_id: str = "c1") -> None:
    """A clip on the bridge: the original and its poster."""
    server.add(media_id, "file", VIDEO, "video/mp4")
    server.add(media_id, "poster", POSTER, "image/jpeg")


async def test_clip_events_browser_and_resolve(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    media_server: MediaServer,
    hass_client: ClientSessionGenerator,
) -> None:
    """A clip: announced once per variant, listed by capture time, played as H.264 once known."""
    assert await async_setup_component(hass, "media_source", {})
    received = EventWaiter(hass, EVENT_MEDIA_RECEIVED)
    add_clip(media_server)
    original = media_event(media_server, "c1", IMEI, data=VIDEO)
    for _ in range(2):  # QoS 1 may deliver twice
        fire(hass, f"{IMEI}/media", original)
    await hass.async_block_till_done()
    [event] = received.events
    captured = local(CAPTURED_AT)
    day = f"{captured:%Y-%m-%d}"
    proxy = f"/api/dualcam/bridge_media/{loaded.entry_id}/c1"
    device = get_device(hass, IMEI)
    assert event.data == {
        "device_id": device.id,
        "imei": IMEI,
        "name": "Van 1",
        "id": "c1",
        "variant": "original",
        "camera": "front",
        "kind": "video",
        "mime": "video/mp4",
        "size": len(VIDEO),
        "sha256": original["sha256"],
        "captured_at": dt_util.parse_datetime(CAPTURED_AT).isoformat(),
        "received_at": dt_util.parse_datetime(original["received_at"]).isoformat(),
        "duration_s": 10.0,
        "trigger": "crash",
        "latitude": 54.6872,
        "longitude": 25.2797,
        "media_content_id": f"media-source://dualcam/{loaded.entry_id}/{IMEI}/{day}/c1",
        "url": f"{proxy}/best",
        "signed_url": event.data["signed_url"],
        "signed_poster_url": event.data["signed_poster_url"],
        "bridge_path": f"/var/lib/dualcam/media/{IMEI}/c1",
        "bridge_url": original["url"],
        "bridge_browser_url": None,
        "bridge_poster_url": original["poster_url"],
        "bridge_thumbnail_url": None,
    }
    assert event.data["signed_url"].startswith(f"{proxy}/best?authSig=")
    assert event.data["signed_poster_url"].startswith(f"{proxy}/poster?authSig=")

    # Vehicle → capture day (local time; the receive day would differ) → the clip.
    assert day != f"{local(original['received_at']):%Y-%m-%d}"
    files = await browse(hass, "Van 1", day)
    [clip] = files.children
    assert clip.title == f"{captured:%H:%M:%S} · Front clip · crash"
    assert clip.media_class == MediaClass.VIDEO and clip.can_play
    assert clip.media_content_id == event.data["media_content_id"]
    assert clip.thumbnail.startswith(f"{proxy}/poster?authSig=")
    client = await hass_client()
    assert await (await client.get(clip.thumbnail)).read() == POSTER

    resolved = await media_source.async_resolve_media(hass, clip.media_content_id, None)
    assert (resolved.url, resolved.mime_type) == (f"{proxy}/file", "video/mp4")

    # The browser MP4 is ready: a second event, once; playing now prefers it.
    media_server.add("c1", "browser", BROWSER, "video/mp4")
    browser = media_event(media_server, "c1", IMEI, data=VIDEO, variant="browser")
    for _ in range(2):
        fire(hass, f"{IMEI}/media", browser)
    await hass.async_block_till_done()
    assert len(received.events) == 2
    second = received.events[1].data
    assert second["variant"] == "browser" and second["id"] == "c1"
    assert second["bridge_browser_url"] == browser["browser_url"]
    assert second["media_content_id"] == event.data["media_content_id"]
    resolved = await media_source.async_resolve_media(hass, clip.media_content_id, None)
    assert (resolved.url, resolved.mime_type) == (f"{proxy}/browser", "video/mp4")
    assert await (await client.get(resolved.url)).read() == BROWSER
    assert await (await client.get(event.data["url"])).read() == BROWSER  # best: browser now


async def test_items_by_capture_time_with_thumbnails(
    hass: HomeAssistant, loaded: MockConfigEntry, media_server: MediaServer
) -> None:
    """Newest capture first; photos show their thumbnail; only crash files are marked."""
    assert await async_setup_component(hass, "media_source", {})
    media_server.add("p1", "file", FRONT_JPEG, "image/jpeg")
    media_server.add("p1", "thumbnail", THUMBNAIL, "image/jpeg")
    add_clip(media_server, "c2")
    # Received in this order, captured the other way round; the clip has no metadata.
    photo = media_event(
        media_server,
        "p1",
        IMEI,
        kind="photo",
        camera="rear",
        data=FRONT_JPEG,
        trigger="server_request",
        captured_at="10:00:00",
        received_at="10:00:05",
    )
    clip = media_event(
        media_server,
        "c2",
        IMEI,
        data=VIDEO,
        trigger="din1",
        captured_at=None,
        received_at="09:59:00",
    )
    fire(hass, f"{IMEI}/media", photo)
    fire(hass, f"{IMEI}/media", clip)
    await hass.async_block_till_done()
    day = f"{local(photo['captured_at']):%Y-%m-%d}"
    assert day == f"{local(clip['received_at']):%Y-%m-%d}"
    files = await browse(hass, "Van 1", day)
    assert [c.title for c in files.children] == [
        f"{local(photo['captured_at']):%H:%M:%S} · Rear photo",
        f"{local(clip['received_at']):%H:%M:%S} · Front clip",
    ]
    shown_photo, shown_clip = files.children
    proxy = f"/api/dualcam/bridge_media/{loaded.entry_id}"
    assert shown_photo.media_class == MediaClass.IMAGE
    assert shown_photo.media_content_type == "image/jpeg"
    assert shown_photo.thumbnail.startswith(f"{proxy}/p1/thumbnail?authSig=")
    assert shown_clip.thumbnail.startswith(f"{proxy}/c2/poster?authSig=")
    resolved = await media_source.async_resolve_media(hass, shown_photo.media_content_id, None)
    assert (resolved.url, resolved.mime_type) == (f"{proxy}/p1/file", "image/jpeg")


async def test_unknown_and_unsafe_media(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    media_server: MediaServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Unknown ids do not resolve; links without the bridge's shape and bad ids are refused."""
    assert await async_setup_component(hass, "media_source", {})
    add_clip(media_server)
    event = media_event(media_server, "c1", IMEI, data=VIDEO)
    # Somebody else on the broker points the link elsewhere: Home Assistant will not fetch it.
    fire(hass, f"{IMEI}/media", {**event, "url": "http://127.0.0.1:1/etc/passwd"})
    fire(hass, f"{IMEI}/media", {**event, "id": "../../x"})
    await hass.async_block_till_done()
    assert "Ignoring the file link of media c1" in caplog.text
    assert f"Ignoring {loaded.data['topic_prefix']}/{IMEI}/media: bad media event" in caplog.text
    bridge = loaded.runtime_data
    item = bridge.media_index.get("c1")
    assert item is not None and "file" not in item.links and "poster" in item.links
    assert bridge.media_index.get("../../x") is None
    day = f"{local(CAPTURED_AT):%Y-%m-%d}"
    with pytest.raises(media_source.Unresolvable):  # no file link: nothing to play
        await media_source.async_resolve_media(
            hass, f"media-source://dualcam/{loaded.entry_id}/{IMEI}/{day}/c1", None
        )
    for media_id in (
        f"media-source://dualcam/{loaded.entry_id}/{IMEI}/{day}/nope",
        f"media-source://dualcam/{loaded.entry_id}/350612071913857/{day}/c1",  # other vehicle
        "media-source://dualcam/nope/1/2/3",
        "media-source://dualcam/nope",
    ):
        with pytest.raises(media_source.Unresolvable):
            await media_source.async_resolve_media(hass, media_id, None)
    with pytest.raises(media_source.Unresolvable):
        await media_source.async_browse_media(hass, "media-source://dualcam/nope/1")


async def test_no_links_in_entity_states(
    hass: HomeAssistant, loaded: MockConfigEntry, media_server: MediaServer
) -> None:
    """Signed links are secrets and states go to the recorder: no entity carries one.

    Every DualCam entity is checked after a crash, its clip (both variants) and a photo.
    """
    fire(hass, f"{IMEI}/sos", {"value": 3, "trigger": "crash", "timestamp": None, "position": None})
    await hass.async_block_till_done()
    add_clip(media_server)
    media_server.add("c1", "browser", BROWSER, "video/mp4")
    media_server.add("p1", "file", FRONT_JPEG, "image/jpeg")
    media_server.add("p1", "thumbnail", THUMBNAIL, "image/jpeg")
    fire(hass, f"{IMEI}/media", media_event(media_server, "c1", IMEI, data=VIDEO))
    fire(hass, f"{IMEI}/media", media_event(media_server, "c1", IMEI, variant="browser"))
    photo = media_event(media_server, "p1", IMEI, kind="photo", data=FRONT_JPEG, trigger=None)
    fire(hass, f"{IMEI}/media", photo)
    await hass.async_block_till_done()

    sos = hass.states.get("event.van_1_sos")
    day = f"{local(CAPTURED_AT):%Y-%m-%d}"
    content_id = f"media-source://dualcam/{loaded.entry_id}/{IMEI}/{day}/c1"
    assert sos.attributes["clips"] == [
        {
            "id": "c1",
            "camera": "front",
            "captured_at": dt_util.parse_datetime(CAPTURED_AT).isoformat(),
            "media_content_id": content_id,  # a media browser id, not a link
        }
    ]
    assert sos.attributes["clip_media_content_id"] == content_id
    assert hass.states.get("sensor.van_1_last_media_received").attributes["id"] == "p1"

    entries = [
        e for e in er.async_get(hass).entities.values() if e.config_entry_id == loaded.entry_id
    ]
    assert len(entries) >= 10
    for entry in entries:
        state = hass.states.get(entry.entity_id)
        assert state is not None, entry.entity_id
        # The camera's own entity_picture/access_token are Home Assistant's short-lived
        # camera tokens, which the camera component keeps out of the recorder itself.
        attributes = {
            k: v
            for k, v in state.attributes.items()
            if not (entry.domain == "camera" and k in ("entity_picture", "access_token"))
        }
        text = repr(attributes)
        for secret in ("http://", "https://", "/api/", "sig=", "authSig", media_server.base):
            assert secret not in text, (entry.entity_id, attributes)


async def test_media_event_without_links(hass: HomeAssistant, loaded: MockConfigEntry) -> None:
    """A bridge with http off: announced (bridge path only), nothing to browse or play."""
    assert await async_setup_component(hass, "media_source", {})
    received = EventWaiter(hass, EVENT_MEDIA_RECEIVED)
    server = MediaServer(Path("/nonexistent"))  # no files: every link is null
    fire(hass, f"{IMEI}/media", media_event(server, "n1", IMEI, data=VIDEO))
    await hass.async_block_till_done()
    [event] = received.events
    assert event.data["url"] is None and event.data["signed_url"] is None
    assert event.data["bridge_url"] is None
    assert event.data["bridge_path"] == f"/var/lib/dualcam/media/{IMEI}/n1"
    root = await media_source.async_browse_media(hass, f"media-source://{DOMAIN}")
    assert root.children == []
