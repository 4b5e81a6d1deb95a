"""Retention: drop media older than ``max_age_days`` and the oldest beyond ``max_total_gb``."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

from ..clock import now_utc
from .ffmpeg_jobs import derivative_files
from .store import MediaStore

log = logging.getLogger(__name__)


def apply_retention(
    store: MediaStore,
    max_age_days: float,
    max_total_gb: float,
    now: datetime | None = None,
) -> int:
    """Delete what the limits exclude (0 = no limit); returns how many files went."""
    now = now or now_utc()
    cutoff = now - timedelta(days=max_age_days) if max_age_days > 0 else None
    budget = int(max_total_gb * 1024**3) if max_total_gb > 0 else None
    total = store.index.total_size()
    removed = 0
    for media_id, paths, size, received in list(store.index.oldest_first()):
        too_old = cutoff is not None and datetime.fromisoformat(received) < cutoff
        too_big = budget is not None and total > budget
        if not (too_old or too_big):
            break  # oldest first: nothing newer is excluded either
        # The file, its MP4 and derivatives; also those made but never recorded (a crash).
        for p in {*map(Path, paths), *derivative_files(Path(paths[0]))}:
            p.unlink(missing_ok=True)
        store.index.delete(media_id)
        total -= size
        removed += 1
    # A device re-offers a file only within minutes; a week of identities is plenty.
    store.index.prune_completed_transfers(now - timedelta(days=7))
    if cutoff is not None:
        removed += _drop_stale(store.failed_dir, cutoff)
        removed += _drop_stale(store.spool_dir, cutoff)
    if removed:
        log.info("retention removed %d files", removed)
    return removed


def _drop_stale(root: Path, cutoff: datetime) -> int:
    limit = cutoff.timestamp()
    removed = 0
    for path in root.glob("*/*"):
        try:
            if path.is_file() and path.stat().st_mtime < limit:
                path.unlink()
                removed += 1
        except OSError:
            continue
    return removed
