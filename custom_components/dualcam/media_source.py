"""Media browser: DualCam → vehicle → day → photo/clip, played from the media view.

Identifiers are `<entry_id>/<imei>/<day>/<file>` (each level a prefix of the next).
"""

from __future__ import annotations

from pathlib import Path

from homeassistant.components.media_player import BrowseMedia, MediaClass, MediaType
from homeassistant.components.media_source import (
    BrowseMediaSource,
    MediaSource,
    MediaSourceItem,
    PlayMedia,
    Unresolvable,
)
from homeassistant.core import HomeAssistant

from .bridge import DualCamConfigEntry
from .const import DOMAIN, MEDIA_VIEW_URL
from .media_store import list_days, list_files, list_vehicles, mime_for, safe_file
from .media_view import async_register_media_view, media_root
from .registry import async_entry_device


async def async_get_media_source(hass: HomeAssistant) -> DualCamMediaSource:
    """Set up the media source (and the view its URLs point at)."""
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


class DualCamMediaSource(MediaSource):
    """Photos and clips the integration saved, per vehicle and day."""

    name = "DualCam"

    def __init__(self, hass: HomeAssistant) -> None:
        """Browse every loaded bridge's media folder."""
        super().__init__(DOMAIN)
        self.hass = hass

    async def async_resolve_media(self, item: MediaSourceItem) -> PlayMedia:
        """URL of a stored file (media_source signs it for the player)."""
        parts = item.identifier.split("/")
        if len(parts) != 4 or (root := media_root(self.hass, parts[0])) is None:
            raise Unresolvable(f"Unknown DualCam media {item.identifier}")
        _, imei, day, name = parts
        if await self.hass.async_add_executor_job(safe_file, root, imei, day, name) is None:
            raise Unresolvable(f"Unknown DualCam media {item.identifier}")
        return PlayMedia(f"{MEDIA_VIEW_URL}/{item.identifier}", mime_for(name))

    async def async_browse_media(self, item: MediaSourceItem) -> BrowseMediaSource:
        """List vehicles, days or files, depending on the depth of the identifier."""
        parts = item.identifier.split("/") if item.identifier else []
        if not parts:
            return await self._async_browse_vehicles(
                self.hass.config_entries.async_loaded_entries(DOMAIN), None
            )
        entry = self.hass.config_entries.async_get_entry(parts[0])
        root = media_root(self.hass, parts[0])
        if entry is None or root is None or len(parts) > 3:
            raise Unresolvable(f"Unknown DualCam folder {item.identifier}")
        if len(parts) == 1:
            return await self._async_browse_vehicles([entry], entry.entry_id)
        if len(parts) == 2:
            return await self._async_browse_days(entry, root, parts[1])
        return await self._async_browse_files(entry, root, parts[1], parts[2])

    def _vehicle_title(self, entry: DualCamConfigEntry, imei: str) -> str:
        vehicle = entry.runtime_data.vehicles.get(imei)
        if vehicle and vehicle.name:
            return vehicle.name
        device = async_entry_device(self.hass, entry.entry_id, (DOMAIN, imei))
        return (device.name_by_user or device.name or imei) if device else imei

    async def _async_browse_vehicles(
        self, entries: list[DualCamConfigEntry], identifier: str | None
    ) -> BrowseMediaSource:
        title = entries[0].title if identifier and entries else self.name
        children: list[BrowseMedia] = []
        for entry in entries:
            root: Path = entry.runtime_data.media.root
            for imei in await self.hass.async_add_executor_job(list_vehicles, root):
                child = _directory(
                    f"{entry.entry_id}/{imei}",
                    self._vehicle_title(entry, imei),
                    MediaClass.DIRECTORY,
                )
                children.append(child)
        children.sort(key=lambda child: child.title)
        return _directory(identifier, title, MediaClass.DIRECTORY, children)

    async def _async_browse_days(
        self, entry: DualCamConfigEntry, root: Path, imei: str
    ) -> BrowseMediaSource:
        children: list[BrowseMedia] = [
            _directory(f"{entry.entry_id}/{imei}/{day}", day, MediaClass.VIDEO)
            for day in await self.hass.async_add_executor_job(list_days, root, imei)
        ]
        return _directory(
            f"{entry.entry_id}/{imei}",
            self._vehicle_title(entry, imei),
            MediaClass.DIRECTORY,
            children,
        )

    async def _async_browse_files(
        self, entry: DualCamConfigEntry, root: Path, imei: str, day: str
    ) -> BrowseMediaSource:
        children: list[BrowseMedia] = []
        for stored in await self.hass.async_add_executor_job(list_files, root, imei, day):
            video = stored.kind == "video"
            children.append(
                BrowseMediaSource(
                    domain=DOMAIN,
                    identifier=f"{entry.entry_id}/{imei}/{day}/{stored.name}",
                    media_class=MediaClass.VIDEO if video else MediaClass.IMAGE,
                    media_content_type=stored.mime,
                    title=f"{stored.time} {stored.camera} {stored.kind}",
                    can_play=True,
                    can_expand=False,
                )
            )
        return _directory(f"{entry.entry_id}/{imei}/{day}", day, MediaClass.VIDEO, children)
