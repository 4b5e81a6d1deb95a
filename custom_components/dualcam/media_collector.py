"""Pairs each `media` event with its payload (photo/video topic) and saves the file.

The contract publishes the event and the bytes on different topics with no shared id,
and their order is not guaranteed, so they are matched by the SHA-256 the event carries.
Whichever arrives first waits (bounded in time and count) for the other.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later

from .const import MEDIA_PAIRING_TIMEOUT
from .media_store import relative_path, write_file
from .models import MediaInfo

if TYPE_CHECKING:  # bridge.py imports this module
    from .bridge import DualCamConfigEntry

_LOGGER = logging.getLogger(__name__)

# A completed file: (imei, event, path relative to the media folder or None if not saved).
MediaDone = Callable[[str, MediaInfo, str | None], None]

_MAX_WAITING_PAYLOADS = 16
_MAX_REMEMBERED_IDS = 512


@dataclass(slots=True)
class _WaitingPayload:
    data: bytes
    since: float


@dataclass(slots=True)
class _WaitingEvent:
    info: MediaInfo
    cancel_timer: CALLBACK_TYPE


class MediaCollector:
    """Saves completed media under the media folder and reports each file once."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: DualCamConfigEntry,
        root: Path,
        store: bool,
        on_done: MediaDone,
    ) -> None:
        """Collect for one bridge; on_done runs once per media id."""
        self._hass = hass
        self._entry = entry
        self.root = root
        self.store = store
        self._on_done = on_done
        self._payloads: OrderedDict[tuple[str, str], _WaitingPayload] = OrderedDict()
        self._events: dict[tuple[str, str], _WaitingEvent] = {}
        # QoS 1 may deliver an event twice; the contract promises one per file id.
        self._seen_ids: OrderedDict[tuple[str, str], None] = OrderedDict()

    @callback
    def add_payload(self, imei: str, data: bytes) -> None:
        """A photo/video payload arrived live (retained ones are old and never paired)."""
        if not self.store:
            return
        key = (imei, hashlib.sha256(data).hexdigest())
        if waiting := self._events.pop(key, None):
            waiting.cancel_timer()
            self._save(imei, waiting.info, data)
            return
        self._payloads[key] = _WaitingPayload(data, time.monotonic())
        self._prune_payloads()

    @callback
    def add_event(self, imei: str, info: MediaInfo) -> None:
        """A media event arrived."""
        if (imei, info.id) in self._seen_ids:
            return
        self._seen_ids[(imei, info.id)] = None
        while len(self._seen_ids) > _MAX_REMEMBERED_IDS:
            self._seen_ids.popitem(last=False)
        if not self.store:
            self._on_done(imei, info, None)
            return
        self._prune_payloads()
        key = (imei, info.sha256)
        if waiting := self._payloads.pop(key, None):
            self._save(imei, info, waiting.data)
            return

        @callback
        def _give_up(_now: object) -> None:
            # The payload never came (e.g. the bridge has publish_video_payload off):
            # report the file anyway, with the bridge's own path/url only.
            if self._events.pop(key, None):
                _LOGGER.debug("No payload for media %s of %s; not saved locally", info.id, imei)
                self._on_done(imei, info, None)

        self._events[key] = _WaitingEvent(
            info, async_call_later(self._hass, MEDIA_PAIRING_TIMEOUT, _give_up)
        )

    @callback
    def async_stop(self) -> None:
        """Drop everything waiting; called on unload."""
        for waiting in self._events.values():
            waiting.cancel_timer()
        self._events.clear()
        self._payloads.clear()

    def _prune_payloads(self) -> None:
        deadline = time.monotonic() - MEDIA_PAIRING_TIMEOUT
        for key, waiting in list(self._payloads.items()):
            if waiting.since < deadline:
                del self._payloads[key]
        while len(self._payloads) > _MAX_WAITING_PAYLOADS:
            self._payloads.popitem(last=False)

    def _save(self, imei: str, info: MediaInfo, data: bytes) -> None:
        self._entry.async_create_task(
            self._hass, self._async_save(imei, info, data), f"dualcam save {info.id}"
        )

    async def _async_save(self, imei: str, info: MediaInfo, data: bytes) -> None:
        relative = relative_path(imei, info)
        try:
            await self._hass.async_add_executor_job(write_file, self.root, relative, data)
        except OSError as err:
            _LOGGER.error("Could not save %s of %s under %s: %s", info.id, imei, self.root, err)
            self._on_done(imei, info, None)
            return
        self._on_done(imei, info, relative)
