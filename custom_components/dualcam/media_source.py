"""Media browser: DualCam → vehicle → day → photo/clip, from what the bridge reported.

Items are the media index's (media_index.py): titled by capture time in Home Assistant's
time zone (receive time when the file had no metadata), with camera and kind, crash files
marked; the thumbnail is the poster (clips) or thumbnail (photos) through the proxy view,
signed because the frontend loads it with an img tag. Playing prefers, in order: a saved
copy of the browser MP4 (or of a photo), the bridge's browser MP4, a saved original, the
bridge's original. Only items that can still be played are listed (a saved copy, or a bridge
link that has not expired).

Identifiers are `<entry_id>/<imei>/<day>/<media_id>` (each level a prefix of the next).
"""

from __future__ import annotations

from datetime import timedelta

from homeassistant.components.http.auth import async_sign_path
from homeassistant.components.media_player import BrowseMedia, MediaClass, MediaType
from homeassistant.components.media_source import (
    BrowseMediaSource,
    MediaSource,
    MediaSourceItem,
    PlayMedia,
    Unresolvable,
)
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from .bridge import DualCamBridge, DualCamConfigEntry
from .const import DOMAIN, MEDIA_VIEW_URL, THUMBNAIL_URL_TTL
from .media_events import poster_variant
from .media_index import MediaItem, proxy_path
from .media_proxy import loaded_bridge
from .media_store import mime_for, saved_file
from .media_view import async_register_media_view
from .registry import async_entry_device


async def async_get_media_source(hass: HomeAssistant) -> DualCamMediaSource:
    """Set up the media source (and the views its URLs point at)."""
    async_register_media_view(hass)
    return DualCamMediaSource(hass)


def _directory(
    identifier: str | None,
    title: str,
    children_class: MediaClass,
    children: list[BrowseMedia] | None = None,
) -> BrowseMediaSource:
    return BrowseMediaSource(
        domain=DOMAIN,
        identifier=identifier,
        media_class=MediaClass.DIRECTORY,
        media_content_type=MediaType.VIDEO,
        title=title,
        can_play=False,
        can_expand=True,
        children_media_class=children_class,
        children=children if children is not None else [],
    )


def item_title(item: MediaItem) -> str:
    """`10:00:52 · Rear clip · crash`: capture time (local), camera, kind, crash marked."""
    local = dt_util.as_local(item.taken_at)
    kind = "clip" if item.kind == "video" else "photo"
    title = f"{local:%H:%M:%S} · {item.camera.capitalize()} {kind}"
    return f"{title} · crash" if item.crash else title


class DualCamMediaSource(MediaSource):
    """Photos and clips of every loaded bridge, per vehicle and capture day."""

    name = "DualCam"

    def __init__(self, hass: HomeAssistant) -> None:
        """Browse every loaded bridge's media index."""
        super().__init__(DOMAIN)
        self.hass = hass

    async def async_resolve_media(self, item: MediaSourceItem) -> PlayMedia:
        """A path of ours; media_source signs it for the player."""
        parts = item.identifier.split("/")
        bridge = loaded_bridge(self.hass, parts[0]) if len(parts) == 4 else None
        media = bridge.media_index.get(parts[3]) if bridge else None
        if bridge is None or media is None or media.imei != parts[1]:
            raise Unresolvable(f"Unknown DualCam media {item.identifier}")
        entry_id, now = parts[0], dt_util.utcnow()
        local = media.local_path
        if local and not await self.hass.async_add_executor_job(
            saved_file, bridge.saver.root, local
        ):
            local = None  # deleted by the user: the bridge may still have it
        browser_saved = media.local_variant == "browser" or media.kind == "photo"
        if local and (browser_saved or not media.link_valid("browser", now)):
            return PlayMedia(f"{MEDIA_VIEW_URL}/{entry_id}/{local}", mime_for(local))
        for variant in ("browser", "file"):
            if media.link_valid(variant, now):
                return PlayMedia(proxy_path(entry_id, media.id, variant), media.mime_of(variant))
        raise Unresolvable(
            f"DualCam media {media.id} of {bridge.vehicle_name(media.imei)} has no saved copy "
            "and its bridge links have expired"
        )

    async def async_browse_media(self, item: MediaSourceItem) -> BrowseMediaSource:
        """List vehicles, days or files, depending on the depth of the identifier."""
        parts = item.identifier.split("/") if item.identifier else []
        if not parts:
            return self._browse_vehicles(
                self.hass.config_entries.async_loaded_entries(DOMAIN), None
            )
        entry = self.hass.config_entries.async_get_entry(parts[0])
        if entry is None or loaded_bridge(self.hass, parts[0]) is None or len(parts) > 3:
            raise Unresolvable(f"Unknown DualCam folder {item.identifier}")
        if len(parts) == 1:
            return self._browse_vehicles([entry], entry.entry_id)
        if len(parts) == 2:
            return self._browse_days(entry, parts[1])
        return self._browse_items(entry, parts[1], parts[2])

    def _vehicle_title(self, entry: DualCamConfigEntry, imei: str) -> str:
        vehicle = entry.runtime_data.vehicles.get(imei)
        if vehicle and vehicle.name:
            return vehicle.name
        device = async_entry_device(self.hass, entry.entry_id, (DOMAIN, imei))
        return (device.name_by_user or device.name or imei) if device else imei

    def _browse_vehicles(
        self, entries: list[DualCamConfigEntry], identifier: str | None
    ) -> BrowseMediaSource:
        title = entries[0].title if identifier and entries else self.name
        children: list[BrowseMedia] = []
        for entry in entries:
            imeis = {media.imei for media in entry.runtime_data.media_index.playable()}
            children.extend(
                _directory(
                    f"{entry.entry_id}/{imei}",
                    self._vehicle_title(entry, imei),
                    MediaClass.DIRECTORY,
                )
                for imei in imeis
            )
        children.sort(key=lambda child: child.title)
        return _directory(identifier, title, MediaClass.DIRECTORY, children)

    def _browse_days(self, entry: DualCamConfigEntry, imei: str) -> BrowseMediaSource:
        index = entry.runtime_data.media_index
        days = sorted({m.day for m in index.playable() if m.imei == imei}, reverse=True)
        children: list[BrowseMedia] = [
            _directory(f"{entry.entry_id}/{imei}/{day}", day, MediaClass.VIDEO) for day in days
        ]
        return _directory(
            f"{entry.entry_id}/{imei}",
            self._vehicle_title(entry, imei),
            MediaClass.DIRECTORY,
            children,
        )

    def _browse_items(self, entry: DualCamConfigEntry, imei: str, day: str) -> BrowseMediaSource:
        bridge = entry.runtime_data
        items = sorted(
            (m for m in bridge.media_index.playable() if m.imei == imei and m.day == day),
            key=lambda m: m.taken_at,
            reverse=True,
        )
        children: list[BrowseMedia] = [
            BrowseMediaSource(
                domain=DOMAIN,
                identifier=f"{entry.entry_id}/{imei}/{day}/{media.id}",
                media_class=MediaClass.VIDEO if media.kind == "video" else MediaClass.IMAGE,
                media_content_type=media.mime_of("best"),
                title=item_title(media),
                can_play=True,
                can_expand=False,
                thumbnail=self._thumbnail(bridge, entry.entry_id, media),
            )
            for media in items
        ]
        return _directory(f"{entry.entry_id}/{imei}/{day}", day, MediaClass.VIDEO, children)

    def _thumbnail(self, bridge: DualCamBridge, entry_id: str, media: MediaItem) -> str | None:
        """The signed proxy path of the item's poster/thumbnail (a photo: itself)."""
        now = dt_util.utcnow()
        path = None
        if (variant := poster_variant(media)) and media.link_valid(variant, now):
            path = proxy_path(entry_id, media.id, variant)
        elif media.kind == "photo" and media.local_path:
            path = f"{MEDIA_VIEW_URL}/{entry_id}/{media.local_path}"
        elif media.kind == "photo" and media.link_valid("file", now):
            path = proxy_path(entry_id, media.id, "file")
        if path is None:
            return None
        return async_sign_path(self.hass, path, timedelta(seconds=THUMBNAIL_URL_TTL))
