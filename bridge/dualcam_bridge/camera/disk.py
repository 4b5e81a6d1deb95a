"""Disk pressure as a state: ``data_dir`` below its free-space floor, or a write refused.

A full disk is an environmental condition, not a bug: it gets one WARNING when it starts
(naming the free space, the path and ``media.min_free_mb``) and one INFO line when it clears,
never a traceback. While it lasts the camera server refuses new transfers without CLOSE (the
camera keeps its file and retries). The free space is read with ``os.statvfs`` in a thread,
every few seconds and at once after a write failed with ENOSPC or SQLITE_FULL.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

CHECK_INTERVAL_S = 5.0
MIN_FREE_MB = 1.0
# After a refused write the state holds this long even if statvfs shows room (a quota, the
# root reserve, space taken again at once): at most one warning per this many seconds.
FAILED_HOLD_S = 60.0
_MB = 1024 * 1024
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}


def is_disk_full(exc: BaseException) -> bool:
    """True for ENOSPC / EDQUOT and SQLite's SQLITE_FULL: no room, nothing to debug."""
    if isinstance(exc, OSError):
        return exc.errno in _FULL_ERRNOS
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        return code is not None and code & 0xFF == sqlite3.SQLITE_FULL
    return False


def free_mb(path: Path) -> float:
    """Free space for an unprivileged writer at ``path``, in MiB."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize / _MB


class DiskMonitor:
    """Holds the disk state of ``path``; ``full`` is read on the loop, updated on the loop."""

    def __init__(
        self,
        path: Path,
        min_free_mb: float,
        on_clear: Callable[[], None] | None = None,
        interval: float = CHECK_INTERVAL_S,
        on_change: Callable[[], None] | None = None,
        hold: float = FAILED_HOLD_S,
    ) -> None:
        self.path = Path(path)
        self.min_free_mb = min_free_mb  # mutable: the next check applies it
        self.on_clear = on_clear
        self.on_change = on_change  # after the state went full or clear (e.g. publish it)
        self.interval = interval
        self.hold = hold
        self.full = False
        self.free_mb: float | None = None
        self._failed_at: float | None = None  # loop time of the last refused write
        self._wake = asyncio.Event()

    async def check(self) -> bool:
        """Read the free space now (off the loop) and update the state; True when full."""
        try:
            free = await asyncio.to_thread(free_mb, self.path)
        except OSError as exc:  # the path vanished or the filesystem is gone: keep the state
            log.debug("cannot read the free space of %s: %s", self.path, exc)
            return self.full
        self.free_mb = round(free, 1)
        now = asyncio.get_running_loop().time()
        # Under 1 MB nothing fits, whatever the floor (0 = refuse only once a write failed).
        low = free < max(self.min_free_mb, MIN_FREE_MB)
        if self._failed_at is not None and now - self._failed_at < self.hold:
            low = True
        if low and not self.full:
            self._set_full("below the floor")
        elif not low and self.full:
            self.full, self._failed_at = False, None
            log.info(
                "%s has %.0f MB free again (media.min_free_mb: %g): taking transfers",
                self.path,
                free,
                self.min_free_mb,
            )
            if self.on_clear is not None:
                self.on_clear()
            self._changed()
        return self.full

    def write_failed(self, exc: BaseException) -> None:
        """A write under ``path`` failed with ENOSPC / SQLITE_FULL: full until space returns."""
        self._failed_at = asyncio.get_running_loop().time()
        with contextlib.suppress(OSError):  # for the warning; one statvfs, not worth a thread
            self.free_mb = round(free_mb(self.path), 1)
        if not self.full:
            self._set_full(f"a write failed: {exc}")
        self._wake.set()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def _set_full(self, why: str) -> None:
        self.full = True
        free = "unknown" if self.free_mb is None else f"{self.free_mb:.1f} MB"
        log.warning(
            "%s is full (%s; %s free, media.min_free_mb: %g): refusing new transfers until"
            " there is room (cameras keep their files and retry)",
            self.path,
            why,
            free,
            self.min_free_mb,
        )
        self._changed()

    async def run(self) -> None:
        """Check every ``interval`` seconds, and soon after a failed write; until cancelled."""
        while True:
            self._wake.clear()
            await self.check()
            with contextlib.suppress(TimeoutError):  # not wait_for: see Announcements.run
                async with asyncio.timeout(self.interval):
                    await self._wake.wait()
