"""Saved copies (the option) and the media index across restarts."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import FRONT_JPEG, IMEI, EventWaiter, fire, publish_bridge, publish_vehicle
from homeassistant.components import media_source
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from media_server import MediaServer, media_event
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.dualcam import media_index
from custom_components.dualcam.const import (
    CONF_MEDIA_DIR,
    CONF_STORE_MEDIA,
    CONF_VEHICLES,
    EVENT_MEDIA_SAVED,
)
from custom_components.dualcam.media_index import MAX_AGE, SAVE_DELAY, store_key

VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 1500  # > one download chunk
BROWSER = b"\x00\x00\x00\x18ftypisom" + bytes(range(255, -1, -1)) * 900


def saved_name(item: Any, ext: str) -> str:
    """`<imei>/<capture day>/<HHMMSS>_<camera>_<kind>_<id>.<ext>` in local time."""
    when = dt_util.as_local(item.taken_at)
    return f"{IMEI}/{when:%Y-%m-%d}/{when:%H%M%S}_{item.camera}_{item.kind}_{item.id}.{ext}"


async def test_photo_and_clip_saved(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    media_server: MediaServer,
    media_dir: Path,
    hass_client: ClientSessionGenerator,
) -> None:
    """The photo byte for byte; the clip's original, then its browser MP4 in its place."""
    assert await async_setup_component(hass, "media_source", {})
    saved = EventWaiter(hass, EVENT_MEDIA_SAVED)
    media_server.add("p1", "file", FRONT_JPEG, "image/jpeg")
    media_server.add("c1", "file", VIDEO, "video/mp4")
    photo = media_event(media_server, "p1", IMEI, kind="photo", data=FRONT_JPEG, trigger=None)
    fire(hass, f"{IMEI}/media", photo)
    fire(hass, f"{IMEI}/media", media_event(media_server, "c1", IMEI, data=VIDEO))
    first, second = [e.data for e in await saved.wait(2)]
    index = loaded.runtime_data.media_index
    photo_item, clip_item = index.get("p1"), index.get("c1")
    assert first == {
        "device_id": first["device_id"],
        "imei": IMEI,
        "name": "Van 1",
        "id": "p1",
        "camera": "front",
        "kind": "photo",
        "variant": "file",
        "path": str(media_dir / saved_name(photo_item, "jpg")),
        "media_content_id": (
            f"media-source://dualcam/{loaded.entry_id}/{IMEI}/{photo_item.day}/p1"
        ),
    }
    assert Path(first["path"]).read_bytes() == FRONT_JPEG
    clip_path = media_dir / saved_name(clip_item, "mp4")
    assert (second["id"], second["variant"], second["path"]) == ("c1", "file", str(clip_path))
    assert clip_path.read_bytes() == VIDEO

    # The browser MP4 replaces the original copy (same name); no partial files left.
    media_server.add("c1", "browser", BROWSER, "video/mp4")
    fire(hass, f"{IMEI}/media", media_event(media_server, "c1", IMEI, variant="browser"))
    third = (await saved.wait(3))[2].data
    assert (third["id"], third["variant"], third["path"]) == ("c1", "browser", str(clip_path))
    assert clip_path.read_bytes() == BROWSER
    assert sorted(p.name for p in clip_path.parent.iterdir()) == sorted(
        [clip_path.name, Path(first["path"]).name]
    )

    # Saved copies play from Home Assistant itself.
    client = await hass_client()
    for item_id, expected in (("p1", FRONT_JPEG), ("c1", BROWSER)):
        item = index.get(item_id)
        content_id = f"media-source://dualcam/{loaded.entry_id}/{IMEI}/{item.day}/{item_id}"
        resolved = await media_source.async_resolve_media(hass, content_id, None)
        assert resolved.url == f"/api/dualcam/media/{loaded.entry_id}/{item.local_path}"
        assert await (await client.get(resolved.url)).read() == expected

    # A saved copy the user deleted: the bridge plays it again.
    clip_path.unlink()
    content_id = f"media-source://dualcam/{loaded.entry_id}/{IMEI}/{clip_item.day}/c1"
    resolved = await media_source.async_resolve_media(hass, content_id, None)
    assert resolved.url == f"/api/dualcam/bridge_media/{loaded.entry_id}/c1/browser"


async def test_failed_download_keeps_the_item_playable(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    media_server: MediaServer,
    media_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Bytes that do not match the event, or a 404: one log line, nothing on disk."""
    assert await async_setup_component(hass, "media_source", {})
    saved = EventWaiter(hass, EVENT_MEDIA_SAVED)
    media_server.add("bad", "file", VIDEO + b"x", "video/mp4")
    fire(hass, f"{IMEI}/media", media_event(media_server, "bad", IMEI, data=VIDEO))
    media_server.add("gone", "file", VIDEO, "video/mp4")
    gone = media_event(media_server, "gone", IMEI, data=VIDEO)
    media_server.files.pop(("gone", "file"))
    fire(hass, f"{IMEI}/media", gone)
    # One download at a time, in order: once this one is saved, the others are done.
    media_server.add("p1", "file", FRONT_JPEG, "image/jpeg")
    fire(
        hass, f"{IMEI}/media", media_event(media_server, "p1", IMEI, kind="photo", data=FRONT_JPEG)
    )
    [event] = await saved.wait(1)
    assert event.data["id"] == "p1"
    assert "Could not save video bad of Van 1 from the bridge (file): got " in caplog.text
    assert "Could not save video gone of Van 1 from the bridge (file): HTTP 404" in caplog.text
    files = [p.name for p in media_dir.rglob("*") if p.is_file()]
    assert files == [Path(event.data["path"]).name]
    item = loaded.runtime_data.media_index.get("bad")
    content_id = f"media-source://dualcam/{loaded.entry_id}/{IMEI}/{item.day}/bad"
    resolved = await media_source.async_resolve_media(hass, content_id, None)
    assert resolved.url == f"/api/dualcam/bridge_media/{loaded.entry_id}/bad/file"


@pytest.mark.parametrize(
    "entry_options", [{CONF_STORE_MEDIA: False, CONF_MEDIA_DIR: "", CONF_VEHICLES: []}]
)
async def test_saving_off_downloads_nothing(
    hass: HomeAssistant, loaded: MockConfigEntry, media_server: MediaServer
) -> None:
    """Without the option the bridge keeps the only copy: Home Assistant fetches nothing."""
    media_server.add("c1", "file", VIDEO, "video/mp4")
    fire(hass, f"{IMEI}/media", media_event(media_server, "c1", IMEI, data=VIDEO))
    await hass.async_block_till_done()
    assert loaded.runtime_data.media_index.get("c1") is not None
    assert media_server.requests == []


@pytest.mark.parametrize(
    "entry_options", [{CONF_STORE_MEDIA: False, CONF_MEDIA_DIR: "", CONF_VEHICLES: []}]
)
async def test_index_survives_a_restart(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    media_server: MediaServer,
    hass_storage: dict[str, Any],
) -> None:
    """Written (batched) to the Store and on unload; read back at setup, merged by id."""
    assert await async_setup_component(hass, "media_source", {})
    media_server.add("c1", "file", VIDEO, "video/mp4")
    fire(hass, f"{IMEI}/media", media_event(media_server, "c1", IMEI, data=VIDEO))
    await hass.async_block_till_done()
    key = store_key(loaded.entry_id)
    assert key not in hass_storage  # batched
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=SAVE_DELAY))
    await hass.async_block_till_done()
    [stored] = hass_storage[key]["data"]["items"]
    assert stored["id"] == "c1" and stored["links"]["file"].startswith(media_server.base)

    media_server.add("c1", "browser", VIDEO, "video/mp4")
    fire(hass, f"{IMEI}/media", media_event(media_server, "c1", IMEI, variant="browser"))
    await hass.async_block_till_done()
    assert await hass.config_entries.async_reload(loaded.entry_id)  # unload writes at once
    await hass.async_block_till_done()
    [stored] = hass_storage[key]["data"]["items"]
    assert "browser" in stored["links"]

    publish_bridge(hass)
    publish_vehicle(hass)
    await hass.async_block_till_done()
    item = loaded.runtime_data.media_index.get("c1")
    assert item is not None and "browser" in item.links
    content_id = f"media-source://dualcam/{loaded.entry_id}/{IMEI}/{item.day}/c1"
    resolved = await media_source.async_resolve_media(hass, content_id, None)
    assert resolved.url.endswith("/c1/browser")
    # The same event again after the restart is no new file.
    fire(hass, f"{IMEI}/media", media_event(media_server, "c1", IMEI, data=VIDEO))
    await hass.async_block_till_done()
    assert len(loaded.runtime_data.media_index) == 1

    # Removing the integration forgets the list.
    assert await hass.config_entries.async_remove(loaded.entry_id)
    await hass.async_block_till_done()
    assert key not in hass_storage


async def test_index_bounds_at_load(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    mqtt_mock: Any,
    media_server: MediaServer,
    hass_storage: dict[str, Any],
) -> None:
    """Too old, or unplayable for a day (links expired, no saved copy): dropped at load."""
    now = dt_util.utcnow()

    def stored(media_id: str, age: Any, ttl: int, local: str | None = None) -> dict[str, Any]:
        received = (now - age).isoformat()
        return {
            "id": media_id,
            "imei": IMEI,
            "camera": "front",
            "kind": "video",
            "mime": "video/mp4",
            "size": 1,
            "sha256": "0" * 64,
            "received_at": received,
            "captured_at": None,
            "duration_s": None,
            "trigger": None,
            "latitude": None,
            "longitude": None,
            "bridge_path": None,
            "links": {"file": media_server.link(media_id, "file", ttl)},
            "local_path": local,
            "local_variant": "file" if local else None,
        }

    day = timedelta(days=1)
    hass_storage[store_key(config_entry.entry_id)] = {
        "version": 1,
        "key": store_key(config_entry.entry_id),
        "data": {
            "items": [
                stored("fresh", day * 2, 3600),
                stored("expired", day * 2, -10),
                stored("expired-today", day / 2, -10),  # kept a day: duplicates stay known
                stored("saved", day * 10, -10, f"{IMEI}/2025-01-01/000000_front_video_s.mp4"),
                stored("too-old", MAX_AGE + day, 3600),
                {"id": "damaged"},
            ]
        },
    }
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    index = config_entry.runtime_data.media_index
    kept = {i for i in ("fresh", "expired", "expired-today", "saved", "too-old") if index.get(i)}
    assert kept == {"fresh", "expired-today", "saved"}
    assert {i.id for i in index.playable()} == {"fresh", "saved"}


@pytest.mark.parametrize(
    "entry_options", [{CONF_STORE_MEDIA: False, CONF_MEDIA_DIR: "", CONF_VEHICLES: []}]
)
async def test_index_keeps_the_newest(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    media_server: MediaServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Over the item limit, the files received longest ago go first."""
    monkeypatch.setattr(media_index, "MAX_ITEMS", 2)
    for media_id, received in (("a", "10:00:00"), ("c", "10:00:02"), ("b", "10:00:01")):
        media_server.add(media_id, "file", VIDEO, "video/mp4")
        event = media_event(media_server, media_id, IMEI, data=VIDEO, received_at=received)
        fire(hass, f"{IMEI}/media", event)
    await hass.async_block_till_done()
    index = loaded.runtime_data.media_index
    assert {m.id for m in index.playable()} == {"b", "c"}
