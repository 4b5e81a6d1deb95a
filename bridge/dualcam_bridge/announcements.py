"""Media announcements rebuilt from the media index: a stored file is never left unannounced.

The index row of each file says whether the MQTT outbox accepted its ``MediaCompleted``
(``announced``) and, once the file has an H.264 browser MP4, its ``MediaVariantReady``
(``browser_announced``). The publisher reports the once-key of every accepted media event
(``accepted``: the media id, or ``<id>:browser``); this loop writes those flags and emits
again, on the bus, the events of rows stored but never accepted: at start, periodically, soon
after an outbox failure and when disk space returns (``wake``). A browser event is emitted
only after its original was accepted. The outbox's once-key dedup makes a repeat harmless,
so each event is published once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from .camera.store import MediaStore
from .clock import now_utc
from .events import EventSink, MediaCompleted, MediaVariantReady
from .mqtt.messages import variant_once_key

log = logging.getLogger(__name__)

# A pass at most this often while all is well, and this soon after events stayed unannounced.
INTERVAL_S = 60.0
RETRY_S = 2.0
# A file committed this recently may still be on its way through the bus: not yet again.
IN_FLIGHT_S = 30.0
BATCH = 100
_BROWSER_SUFFIX = variant_once_key("", "browser")  # ":browser"

MediaEvent = MediaCompleted | MediaVariantReady


def once_key(event: MediaEvent) -> str:
    """What the publisher reports for this event when the outbox took it."""
    if isinstance(event, MediaVariantReady):
        return variant_once_key(event.media.id, event.variant)
    return event.id


class Announcements:
    """Keeps the index's announced flags and announces what the outbox never took."""

    def __init__(self, store: MediaStore, emit: EventSink) -> None:
        self._store = store
        self._emit = emit
        self._accepted: set[str] = set()
        self._refused: set[str] = set()  # went past the publisher without being queued
        self._wake = asyncio.Event()
        self._first = True

    def accepted(self, key: str) -> None:
        """The outbox took this media event (a publisher's ``on_media_accepted``): a media
        id, or ``variant_once_key(id, "browser")``."""
        self._accepted.add(key)

    async def on_media(self, event: MediaEvent) -> None:
        """Subscribed after the publisher: a media event it did not take is retried soon."""
        if (key := once_key(event)) not in self._accepted:
            self._refused.add(key)
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
        before = now_utc() - since
        self._first = False
        index = self._store.index
        # Originals first (and flushed), so a browser event follows its original.
        originals = await self._announce(index.unannounced, before, lambda rec: rec)
        variants = await self._announce(
            index.unannounced_browser, before, lambda rec: MediaVariantReady(rec, "browser")
        )
        due = originals[0] + variants[0]
        if not due:
            self._refused.clear()
            return False
        taken = originals[1] + variants[1]
        if taken:
            log.info("announced %d stored media events that were never queued", taken)
        return taken < due or BATCH in (originals[2], variants[2])

    async def _announce(
        self,
        query: Callable[[datetime, int], list[MediaCompleted]],
        before: datetime,
        event: Callable[[MediaCompleted], MediaEvent],
    ) -> tuple[int, int, int]:
        """Emit the events of ``query``'s rows not yet accepted: (due, taken, rows)."""
        rows = await self._store.in_worker(query, before, BATCH)
        due = [e for e in map(event, rows) if once_key(e) not in self._accepted]
        for e in due:
            await self._emit(e)
        taken = sum(once_key(e) in self._accepted for e in due)
        self._refused -= self._accepted
        await self.flush()
        return len(due), taken, len(rows)

    async def flush(self) -> None:
        """Write the flags of the accepted events into the index."""
        if not self._accepted:
            return
        keys, self._accepted = self._accepted, set()
        try:
            await self._store.in_worker(self._mark, keys)
        except BaseException:
            self._accepted |= keys
            raise

    def _mark(self, keys: Iterable[str]) -> None:
        """(In the store's worker) set the flags of accepted once-keys."""
        originals, browser = [], []
        for key in keys:
            if key.endswith(_BROWSER_SUFFIX):
                browser.append(key.removesuffix(_BROWSER_SUFFIX))
            else:
                originals.append(key)
        self._store.index.mark_announced(originals)
        self._store.index.mark_browser_announced(browser)
