"""At most one transfer-progress message per transfer per interval, without losing the last."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class Throttle(Generic[T]):
    """Passes the first update of a key at once, then at most one per ``interval``.

    Updates in between are coalesced: the newest is sent when the interval ends (trailing
    edge), so a transfer's final ``done``/``failed`` state is never swallowed.
    """

    def __init__(
        self,
        interval: float,
        send: Callable[[T], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._interval = interval
        self._send = send
        self._clock = clock
        self._last: dict[Hashable, float] = {}
        self._pending: dict[Hashable, tuple[T, bool]] = {}
        self._timers: dict[Hashable, asyncio.TimerHandle] = {}

    def offer(self, key: Hashable, item: T, final: bool = False) -> None:
        """Send ``item`` now if the key's interval has passed, else hold it as the newest."""
        now = self._clock()
        last = self._last.get(key)
        if last is None or now - last >= self._interval:
            self._emit(key, item, final, now)
            return
        self._pending[key] = (item, final)
        if key not in self._timers:
            loop = asyncio.get_running_loop()
            self._timers[key] = loop.call_later(self._interval - (now - last), self._flush, key)

    def close(self) -> None:
        """Drop the held updates (nothing is sent after close)."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._pending.clear()

    def _flush(self, key: Hashable) -> None:
        self._timers.pop(key, None)
        if key in self._pending:
            item, final = self._pending.pop(key)
            self._emit(key, item, final, self._clock())

    def _emit(self, key: Hashable, item: T, final: bool, now: float) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        self._pending.pop(key, None)
        if final:
            # A finished transfer frees its key: the table does not grow with every file.
            self._last.pop(key, None)
        else:
            self._last[key] = now
        self._send(item)
