"""The option "Save photos and clips in Home Assistant": copies downloaded from the bridge.

Each new file is downloaded over HTTP from its media event's link, in the background, one at
a time, streamed to a temporary file (never whole in memory) that is renamed into place under
the media folder when complete:
- a photo: its JPEG (`file`), checked against the event's size and SHA-256;
- a clip: the original MP4 at once (so Home Assistant has the clip even if the bridge never
  makes a browser MP4), replaced by the H.264 `browser` MP4 when the bridge announces it, so
  the saved copy plays in every browser. When the browser event is already known before the
  original's download starts, only the browser MP4 is downloaded.
A failed download logs one line; the item stays playable through the proxy view.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Final

import aiohttp
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.util import dt as dt_util

from .media_index import MediaIndex, MediaItem
from .media_store import PartialFile, relative_path, remove_file

if TYPE_CHECKING:  # bridge.py imports this module
    from .bridge import DualCamConfigEntry

_LOGGER = logging.getLogger(__name__)

CHUNK: Final = 256 * 1024
MAX_QUEUED: Final = 200
# After a restart, files of this last stretch that have no saved copy yet are fetched again
# (a download cut by the restart, or the option just turned on).
RESUME_WINDOW: Final = timedelta(hours=24)
DOWNLOAD_TIMEOUT: Final = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=60)

Saved = Callable[[MediaItem], None]


class DownloadError(Exception):
    """The bridge answered, but not with the file."""


def variant_to_save(item: MediaItem) -> str | None:
    """Which copy of an item to keep: the browser MP4 of a clip when there is one."""
    if item.kind == "video" and "browser" in item.links:
        return "browser"
    return "file" if "file" in item.links else None


class MediaSaver:
    """Downloads saved copies for one bridge, one file at a time."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: DualCamConfigEntry,
        index: MediaIndex,
        root: Path,
        enabled: bool,
        vehicle_name: Callable[[str], str],
        on_saved: Saved,
    ) -> None:
        """Save into root when enabled; on_saved runs after each completed copy."""
        self._hass = hass
        self._entry = entry
        self._index = index
        self.root = root
        self.enabled = enabled
        self._vehicle_name = vehicle_name
        self._on_saved = on_saved
        self._queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue(MAX_QUEUED)
        self._task: asyncio.Task[None] | None = None

    @callback
    def async_start(self) -> None:
        """Start the worker and queue what a restart interrupted."""
        if not self.enabled:
            return
        self._task = self._entry.async_create_background_task(
            self._hass, self._async_run(), f"dualcam media saver {self._entry.entry_id}"
        )
        since = dt_util.utcnow() - RESUME_WINDOW
        for item in sorted(self._index.playable(), key=lambda i: i.received_at):
            if item.received_at > since and item.local_variant != variant_to_save(item):
                self.async_request(item)

    @callback
    def async_stop(self) -> None:
        """Stop downloading (a partial file is removed by the download itself)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    @callback
    def async_request(self, item: MediaItem) -> None:
        """Queue the copy this item should have (nothing when saving is off)."""
        if not self.enabled or (variant := variant_to_save(item)) is None:
            return
        try:
            self._queue.put_nowait((item.id, variant))
        except asyncio.QueueFull:
            _LOGGER.warning(
                "Not saving %s %s of %s: %d downloads are already waiting; it stays "
                "playable from the bridge",
                item.kind,
                item.id,
                self._vehicle_name(item.imei),
                MAX_QUEUED,
            )

    async def _async_run(self) -> None:
        while True:
            media_id, variant = await self._queue.get()
            item = self._index.get(media_id)
            # A browser MP4 announced meanwhile replaces the original: fetch only that.
            if item is None or variant_to_save(item) != variant or item.local_variant == variant:
                continue
            try:
                await self._async_download(item, variant)
            except (aiohttp.ClientError, TimeoutError, OSError, DownloadError) as err:
                _LOGGER.warning(
                    "Could not save %s %s of %s from the bridge (%s): %s; it stays playable "
                    "from the bridge",
                    item.kind,
                    item.id,
                    self._vehicle_name(item.imei),
                    variant,
                    err or type(err).__name__,
                )
            except Exception:  # one bad file must not end saving for good
                _LOGGER.exception(
                    "Could not save %s %s of %s", item.kind, item.id, self._vehicle_name(item.imei)
                )

    async def _async_download(self, item: MediaItem, variant: str) -> None:
        link = item.link(variant)
        if link is None or not item.link_valid(variant, dt_util.utcnow()):
            raise DownloadError("the link has expired")
        relative = relative_path(item, variant)
        session = async_get_clientsession(self._hass)
        run = self._hass.async_add_executor_job
        async with session.get(
            link, timeout=DOWNLOAD_TIMEOUT, allow_redirects=False, auto_decompress=False
        ) as response:
            if response.status != 200:
                raise DownloadError(f"HTTP {response.status}")
            partial = await run(PartialFile, self.root, relative)
            try:
                async for chunk in response.content.iter_chunked(CHUNK):
                    await run(partial.write, chunk)
                if variant == "file" and (
                    partial.size != item.size or partial.sha256.hexdigest() != item.sha256
                ):
                    raise DownloadError(
                        f"got {partial.size} bytes that do not match the media event "
                        f"({item.size} bytes, SHA-256 {item.sha256[:12]}…)"
                    )
                await run(partial.commit)
            except BaseException:
                await run(partial.discard)
                raise
        previous = item.local_path
        self._index.async_set_local(item.id, relative, variant)
        if previous and previous != relative:
            await run(remove_file, self.root, previous)
        self._on_saved(item)
