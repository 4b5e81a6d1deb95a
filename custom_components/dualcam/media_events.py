"""What the bus events about media carry, and the link from a crash clip to its SOS.

`dualcam_media_received` fires once when a file is new (`variant: original`) and once more
when a clip's H.264 MP4 becomes available (`variant: browser`), so an automation can wait
for the link that plays everywhere. Bus events may carry links (entity state attributes never
do: the recorder keeps those): the bridge's signed links and Home Assistant's proxy path,
plain (needs a login) and signed (works without one for SIGNED_URL_TTL, for notifications).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from homeassistant.components.http.auth import async_sign_path
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from .const import DOMAIN, SIGNED_URL_TTL, SOS_CLIP_WINDOW
from .media_index import BEST, Change, MediaItem, proxy_path
from .models import Vehicle


def media_content_id(entry_id: str, item: MediaItem) -> str:
    """The media browser's id of an item (vehicle → capture day → item)."""
    return f"media-source://{DOMAIN}/{entry_id}/{item.imei}/{item.day}/{item.id}"


def poster_variant(item: MediaItem) -> str | None:
    """The picture that stands for an item: a clip's poster, a photo's thumbnail."""
    order = ("poster", "thumbnail") if item.kind == "video" else ("thumbnail", "poster")
    return next((v for v in order if v in item.links), None)


def _sign(hass: HomeAssistant, path: str | None) -> str | None:
    # Signing needs the http integration's content user (absent in a headless setup).
    if path is None or "http" not in hass.config.components:
        return None
    return async_sign_path(hass, path, timedelta(seconds=SIGNED_URL_TTL), use_content_user=True)


def media_received_data(
    hass: HomeAssistant, entry_id: str, item: MediaItem, change: Change
) -> dict[str, Any]:
    """`dualcam_media_received` (besides device_id, imei, name)."""
    url = proxy_path(entry_id, item.id, BEST) if item.link(BEST) else None
    poster = poster_variant(item)
    poster_path = proxy_path(entry_id, item.id, poster) if poster else None
    return {
        "id": item.id,
        "variant": "browser" if change is Change.BROWSER else "original",
        "camera": item.camera,
        "kind": item.kind,
        "mime": item.mime,
        "size": item.size,
        "sha256": item.sha256,
        "captured_at": item.captured_at.isoformat() if item.captured_at else None,
        "received_at": item.received_at.isoformat(),
        "duration_s": item.duration_s,
        "trigger": item.trigger,
        "latitude": item.latitude,
        "longitude": item.longitude,
        "media_content_id": media_content_id(entry_id, item),
        "url": url,
        "signed_url": _sign(hass, url),
        "signed_poster_url": _sign(hass, poster_path),
        "bridge_path": item.bridge_path,
        "bridge_url": item.links.get("file"),
        "bridge_browser_url": item.links.get("browser"),
        "bridge_poster_url": item.links.get("poster"),
        "bridge_thumbnail_url": item.links.get("thumbnail"),
    }


def media_saved_data(entry_id: str, root: Path, item: MediaItem) -> dict[str, Any]:
    """`dualcam_media_saved` (besides device_id, imei, name)."""
    return {
        "id": item.id,
        "camera": item.camera,
        "kind": item.kind,
        "variant": item.local_variant,
        "path": str(root / item.local_path) if item.local_path else None,
        "media_content_id": media_content_id(entry_id, item),
    }


def link_clip_to_sos(vehicle: Vehicle, item: MediaItem, entry_id: str) -> bool:
    """Attach a new clip to the SOS it belongs to (same trigger, shortly after it).

    What is attached ends up in the SOS event entity's attributes: no links, only what
    finds the clip in the media browser.
    """
    sos = vehicle.last_sos
    if item.kind != "video" or sos is None:
        return False
    if item.trigger is not None and item.trigger != sos.trigger:
        return False
    if dt_util.utcnow() - sos.received_at > timedelta(seconds=SOS_CLIP_WINDOW):
        return False
    sos.clips.append(
        {
            "id": item.id,
            "camera": item.camera,
            "captured_at": item.captured_at.isoformat() if item.captured_at else None,
            "media_content_id": media_content_id(entry_id, item),
        }
    )
    return True
