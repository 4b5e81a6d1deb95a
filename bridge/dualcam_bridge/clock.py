"""The bridge's one clock: every timestamp it writes is UTC and comes from here."""

from __future__ import annotations

from datetime import UTC, datetime


def now_utc() -> datetime:
    """The current time, UTC (one place, so file names and payloads agree)."""
    return datetime.now(UTC)
