"""Media announcements rebuilt from the media index: a stored file is never left unannounced.

The index row of each file says whether the MQTT outbox accepted its ``MediaCompleted``
(``announced``). The publisher reports every accepted media id (``accepted``); this loop
writes those flags and emits again, on the bus, the events of rows stored but never accepted:
at start, periodically, soon after an outbox failure and when disk space returns (``wake``).
The outbox's media-id dedup makes a repeat harmless, so each file is published once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from .camera.store import MediaStore
from .clock import now_utc
from .events import EventSink, MediaCompleted

log = logging.getLogger(__name__)

# A pass at most this often while all is well, and this soon after events stayed unannounced.
INTERVAL_S = 60.0
RETRY_S = 2.0
# A file committed this recently may still be on its way through the bus: not yet again.
IN_FLIGHT_S = 30.0
BATCH = 100


class Announcements:
    """Keeps the index's ``announced`` flags and announces what the outbox never took."""

    def __init__(self, store: MediaStore, emit: EventSink) -> None:
        self._store = store
        self._emit = emit
        self._accepted: set[str] = set()
        self._refused: set[str] = set()  # went past the publisher without being queued
        self._wake = asyncio.Event()
        self._first = True

    def accepted(self, media_id: str) -> None:
        """The outbox took this file's media event (a publisher's ``on_media_accepted``)."""
        self._accepted.add(media_id)

    async def on_media(self, media: MediaCompleted) -> None:
        """Subscribed after the publisher: a media event it did not take is retried soon."""
        if media.id not in self._accepted:
            self._refused.add(media.id)
            self._wake.set()

    def wake(self) -> None:
        """Run a pass now (disk space returned)."""
        self._wake.set()

    async def run(self) -> None:
        """Passes until cancelled; a failing pass is retried (its cause logged once)."""
        failing = False
        while True:
            self._wake.clear()
            try:
                left = await self.run_once()
                failing = False
            except Exception as exc:  # the index on a full disk: the next pass retries
                if not failing:
                    log.warning("announcing stored media failed: %s; retrying", exc)
                failing, left = True, True
            # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancel that meets a
            # wake-up at the same time, and Bridge.stop would wait for this task forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RETRY_S if left else INTERVAL_S):
                    await self._wake.wait()

    async def run_once(self) -> bool:
        """One pass; True when stored files remain unannounced (the outbox refused them)."""
        await self.flush()
        # At start nothing is in flight, and after a refusal the in-flight ones were refused.
        recent = self._first or self._refused
        since = timedelta(0) if recent else timedelta(seconds=IN_FLIGHT_S)
        due = await self._store.in_worker(self._store.index.unannounced, now_utc() - since, BATCH)
        self._first = False
        due = [rec for rec in due if rec.id not in self._accepted]
        if not due:
            self._refused.clear()
            return False
        for rec in due:
            await self._emit(rec)
        taken = sum(rec.id in self._accepted for rec in due)
        if taken:
            log.info("announced %d stored media files whose events were never queued", taken)
        self._refused -= self._accepted
        await self.flush()
        return taken < len(due) or len(due) == BATCH

    async def flush(self) -> None:
        """Write the flags of the accepted events into the index."""
        if not self._accepted:
            return
        ids, self._accepted = self._accepted, set()
        try:
            await self._store.in_worker(self._store.index.mark_announced, ids)
        except BaseException:
            self._accepted |= ids
            raise
