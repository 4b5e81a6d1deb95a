"""Clips and photos: saved under the media folder, browsable, announced on the bus."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import FRONT_JPEG, IMEI, fire, get_device
from homeassistant.components import media_source
from homeassistant.components.media_player import MediaClass
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.dualcam.const import (
    CONF_MEDIA_DIR,
    CONF_STORE_MEDIA,
    CONF_VEHICLES,
    EVENT_MEDIA_RECEIVED,
    MEDIA_PAIRING_TIMEOUT,
)

# Bytes of an MP4 as the bridge would publish them (content is not inspected).
VIDEO = b"\x00\x00\x00\x18ftypmp42" + b"\x00mdat" + bytes(range(256)) * 40
RECEIVED_AT = "2025-05-01T10:02:03Z"


def media_event(data: bytes, kind: str = "video", media_id: str = "f-1", **extra: Any) -> dict:
    """A `P/<imei>/media` event for these bytes."""
    return {
        "id": media_id,
        "imei": IMEI,
        "camera": "front",
        "kind": kind,
        "mime": "video/mp4" if kind == "video" else "image/jpeg",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "received_at": RECEIVED_AT,
        "path": f"/srv/dualcam/{IMEI}/{media_id}",
        "url": None,
        "duration_s": 10 if kind == "video" else None,
        "trigger": "crash" if kind == "video" else None,
        **extra,
    }


def expected_relative(kind: str = "video", media_id: str = "f-1") -> str:
    """Where the file lands below the media folder (HA's local time)."""
    local = dt_util.as_local(dt_util.parse_datetime(RECEIVED_AT))
    ext = "mp4" if kind == "video" else "jpg"
    return f"{IMEI}/{local:%Y-%m-%d}/{local:%H%M%S}_front_{kind}_{media_id}.{ext}"


@pytest.mark.parametrize("payload_first", [False, True])
async def test_video_saved_and_event_fired(
    hass: HomeAssistant, loaded: MockConfigEntry, media_dir: Path, payload_first: bool
) -> None:
    """Event + payload in either order: the bytes are saved once and announced once."""
    events = async_capture_events(hass, EVENT_MEDIA_RECEIVED)
    messages = [(f"{IMEI}/media", media_event(VIDEO)), (f"{IMEI}/camera/front/video", VIDEO)]
    for topic, payload in reversed(messages) if payload_first else messages:
        fire(hass, topic, payload)
    await hass.async_block_till_done()

    relative = expected_relative()
    assert (media_dir / relative).read_bytes() == VIDEO
    device = get_device(hass, IMEI)
    assert len(events) == 1
    data = events[0].data
    assert data["path"] == str(media_dir / relative)
    assert data["media_content_id"] == f"media-source://dualcam/{loaded.entry_id}/{relative}"
    assert data["url"] == f"/api/dualcam/media/{loaded.entry_id}/{relative}"
    assert data["signed_url"].startswith(data["url"] + "?authSig=")
    assert {k: data[k] for k in ("device_id", "imei", "name", "camera", "kind", "trigger")} == {
        "device_id": device.id,
        "imei": IMEI,
        "name": "Van 1",
        "camera": "front",
        "kind": "video",
        "trigger": "crash",
    }
    assert data["bridge_path"] == f"/srv/dualcam/{IMEI}/f-1"
    # No temporary files left behind by the atomic write.
    assert [p.name for p in (media_dir / relative).parent.iterdir()] == [Path(relative).name]


async def test_media_browsable_and_playable(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    hass_client: ClientSessionGenerator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """media_source: DualCam → vehicle → day → clip; the resolved URL serves the bytes."""
    assert await async_setup_component(hass, "media_source", {})
    events = async_capture_events(hass, EVENT_MEDIA_RECEIVED)
    fire(hass, f"{IMEI}/media", media_event(VIDEO))
    fire(hass, f"{IMEI}/camera/front/video", VIDEO)
    fire(hass, f"{IMEI}/camera/front/photo", FRONT_JPEG)
    fire(hass, f"{IMEI}/media", media_event(FRONT_JPEG, kind="photo", media_id="p-1"))
    await hass.async_block_till_done()

    root = await media_source.async_browse_media(hass, "media-source://dualcam")
    assert [c.title for c in root.children] == ["Van 1"]
    vehicle = await media_source.async_browse_media(hass, root.children[0].media_content_id)
    day = dt_util.as_local(dt_util.parse_datetime(RECEIVED_AT)).strftime("%Y-%m-%d")
    assert [c.title for c in vehicle.children] == [day]
    files = await media_source.async_browse_media(hass, vehicle.children[0].media_content_id)
    by_kind = {c.media_class: c for c in files.children}
    assert set(by_kind) == {MediaClass.VIDEO, MediaClass.IMAGE}
    clip = by_kind[MediaClass.VIDEO]
    assert clip.can_play and clip.media_content_type == "video/mp4"
    # Saves run in the executor, so the two events may come in either order.
    event_by_kind = {e.data["kind"]: e.data for e in events}
    assert clip.media_content_id == event_by_kind["video"]["media_content_id"]

    resolved = await media_source.async_resolve_media(hass, clip.media_content_id, None)
    assert resolved.mime_type == "video/mp4"
    client = await hass_client()
    response = await client.get(resolved.url)
    assert response.status == 200
    assert await response.read() == VIDEO
    # The signed link in the bus event works without a login (for notifications).
    anonymous = await hass_client_no_auth()
    assert (await anonymous.get(resolved.url)).status == 401
    signed = await anonymous.get(event_by_kind["video"]["signed_url"])
    assert signed.status == 200
    assert await signed.read() == VIDEO
    photo = await client.get(event_by_kind["photo"]["url"])
    assert await photo.read() == FRONT_JPEG


async def test_media_view_and_source_refuse_unknown_paths(
    hass: HomeAssistant, loaded: MockConfigEntry, hass_client: ClientSessionGenerator
) -> None:
    """Nothing outside the media folder, unknown entries or bad names are served."""
    assert await async_setup_component(hass, "media_source", {})
    client = await hass_client()
    base = f"/api/dualcam/media/{loaded.entry_id}"
    # HA's own filter already answers 400 to the encoded traversal; our view 404s the rest.
    for url in (
        f"{base}/{IMEI}/2025-05-01/..%2F..%2Fsecret.mp4",
        f"{base}/{IMEI}/2025-05-01/nothing.mp4",
        f"{base}/12345/2025-05-01/101010_front_video_x.mp4",
        f"{base}/{IMEI}/..%2e/101010_front_video_x.mp4",
        f"/api/dualcam/media/unknown-entry/{IMEI}/2025-05-01/101010_front_video_x.mp4",
    ):
        assert (await client.get(url)).status in (400, 404), url
    for media_id in (
        f"media-source://dualcam/{loaded.entry_id}/{IMEI}/2025-05-01/x.mp4",
        "media-source://dualcam/nope",
    ):
        with pytest.raises(media_source.Unresolvable):
            await media_source.async_resolve_media(hass, media_id, None)
    with pytest.raises(media_source.Unresolvable):
        await media_source.async_browse_media(hass, "media-source://dualcam/nope/1")


async def test_missing_payload_is_announced_after_timeout(
    hass: HomeAssistant, loaded: MockConfigEntry, media_dir: Path
) -> None:
    """A media event whose bytes never come (payload publishing off) still fires, unsaved."""
    events = async_capture_events(hass, EVENT_MEDIA_RECEIVED)
    fire(hass, f"{IMEI}/media", media_event(VIDEO, url="http://bridge:8080/f-1.mp4"))
    await hass.async_block_till_done()
    assert events == []
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=MEDIA_PAIRING_TIMEOUT + 1))
    await hass.async_block_till_done()
    assert len(events) == 1
    assert events[0].data["path"] is None
    assert events[0].data["bridge_url"] == "http://bridge:8080/f-1.mp4"
    assert not media_dir.exists()


async def test_duplicate_media_event_is_announced_once(
    hass: HomeAssistant, loaded: MockConfigEntry
) -> None:
    """QoS 1 may deliver twice; one file id is one event."""
    events = async_capture_events(hass, EVENT_MEDIA_RECEIVED)
    for _ in range(2):
        fire(hass, f"{IMEI}/media", media_event(VIDEO))
        fire(hass, f"{IMEI}/camera/front/video", VIDEO)
    await hass.async_block_till_done()
    assert len(events) == 1


@pytest.mark.parametrize(
    "entry_options", [{CONF_STORE_MEDIA: False, CONF_MEDIA_DIR: "", CONF_VEHICLES: []}]
)
async def test_store_media_off(hass: HomeAssistant, loaded: MockConfigEntry) -> None:
    """Without local storage the event fires at once with the bridge's links only."""
    events = async_capture_events(hass, EVENT_MEDIA_RECEIVED)
    fire(hass, f"{IMEI}/media", media_event(VIDEO))
    await hass.async_block_till_done()
    assert len(events) == 1
    assert events[0].data["path"] is None
    assert events[0].data["media_content_id"] is None
    assert events[0].data["bridge_path"] == f"/srv/dualcam/{IMEI}/f-1"


async def test_crash_clip_is_linked_to_the_sos(
    hass: HomeAssistant, loaded: MockConfigEntry
) -> None:
    """The clip that follows a crash SOS shows up on the SOS event entity."""
    fire(hass, f"{IMEI}/sos", {"value": 3, "trigger": "crash", "timestamp": None, "position": None})
    await hass.async_block_till_done()
    fired_at = hass.states.get("event.van_1_sos").state
    fire(hass, f"{IMEI}/media", media_event(VIDEO))
    fire(hass, f"{IMEI}/camera/front/video", VIDEO)
    # A clip with another trigger is not this SOS's clip.
    other = VIDEO + b"other"
    fire(hass, f"{IMEI}/media", media_event(other, media_id="f-2", trigger="din1"))
    fire(hass, f"{IMEI}/camera/front/video", other)
    await hass.async_block_till_done()
    state = hass.states.get("event.van_1_sos")
    assert state.state == fired_at  # attributes changed, the event did not fire again
    assert state.attributes["event_type"] == "crash"
    [clip] = state.attributes["clips"]
    relative = expected_relative()
    assert clip["camera"] == "front"
    assert clip["media_content_id"] == f"media-source://dualcam/{loaded.entry_id}/{relative}"
    assert state.attributes["clip_media_content_id"] == clip["media_content_id"]
    assert state.attributes["clip_url"] == clip["signed_url"]


async def test_unwritable_media_folder(
    hass: HomeAssistant, loaded: MockConfigEntry, media_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A failed save is logged and the file is still announced (with the bridge's path)."""
    media_dir.parent.mkdir(parents=True)
    media_dir.write_text("a file where the folder should be")
    events = async_capture_events(hass, EVENT_MEDIA_RECEIVED)
    fire(hass, f"{IMEI}/media", media_event(VIDEO))
    fire(hass, f"{IMEI}/camera/front/video", VIDEO)
    await hass.async_block_till_done()
    assert "Could not save f-1" in caplog.text
    assert len(events) == 1 and events[0].data["path"] is None
