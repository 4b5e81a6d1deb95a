"""The AVL database ``<data_dir>/avl.sqlite3``: records, last known state, SOS and their clips.

A file of its own beside the media index (not tables in ``index.sqlite3``) so the AVL side
and the media side never wait on each other's write lock. Times are stored as Unix
milliseconds so range queries compare numbers, not ISO strings. Everything but the one row
of state per tracker/camera is bounded by ``prune(before)``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

_SCHEMA = """
-- Every record handled, keyed by its identity so a resent record is recognised.
-- handled = 0 means its events were computed but not yet all delivered: they are kept in
-- `events` and delivered again when the tracker resends the (then un-ACKed) record.
CREATE TABLE IF NOT EXISTS records (
    imei TEXT NOT NULL,
    key BLOB NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    priority INTEGER NOT NULL,
    latitude REAL NOT NULL,
    longitude REAL NOT NULL,
    altitude INTEGER NOT NULL,
    angle INTEGER NOT NULL,
    satellites INTEGER NOT NULL,
    speed INTEGER NOT NULL,
    event_io_id INTEGER NOT NULL,
    io TEXT NOT NULL,
    events TEXT,
    handled INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (imei, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS records_received ON records (received_ms);
CREATE INDEX IF NOT EXISTS records_imei_time ON records (imei, timestamp_ms);
-- The last known value of AVL 498 (front) / 497 (rear), so a restart emits no false change.
CREATE TABLE IF NOT EXISTS camera_state (
    imei TEXT NOT NULL,
    camera TEXT NOT NULL,
    value INTEGER NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    PRIMARY KEY (imei, camera)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS last_position (
    imei TEXT PRIMARY KEY,
    timestamp_ms INTEGER NOT NULL,
    latitude REAL NOT NULL,
    longitude REAL NOT NULL,
    altitude INTEGER NOT NULL,
    angle INTEGER NOT NULL,
    speed INTEGER NOT NULL,
    satellites INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sos (
    id TEXT PRIMARY KEY,
    imei TEXT NOT NULL,
    value INTEGER NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    latitude REAL,
    longitude REAL
);
CREATE INDEX IF NOT EXISTS sos_imei_time ON sos (imei, value, timestamp_ms);
-- Videos that could belong to an SOS, kept so a clip that arrives before its SOS record
-- (a tracker that was offline longer than its camera) is still linked.
CREATE TABLE IF NOT EXISTS clip_candidates (
    media_id TEXT PRIMARY KEY,
    imei TEXT NOT NULL,
    value INTEGER NOT NULL,
    camera TEXT NOT NULL,
    path TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    captured INTEGER NOT NULL,
    received_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS clip_candidates_imei ON clip_candidates (imei, value, at_ms);
CREATE TABLE IF NOT EXISTS sos_clips (
    sos_id TEXT NOT NULL,
    media_id TEXT NOT NULL UNIQUE,
    camera TEXT NOT NULL,
    path TEXT NOT NULL,
    linked_ms INTEGER NOT NULL,
    PRIMARY KEY (sos_id, camera)
);
"""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_ms(when: datetime) -> int:
    """Unix milliseconds of an aware datetime."""
    return (when - _EPOCH) // timedelta(milliseconds=1)


def from_ms(ms: int) -> datetime:
    """The aware UTC datetime of Unix milliseconds."""
    return _EPOCH + timedelta(milliseconds=ms)


PRUNE_BATCH = 2000
# What retention deletes, in an order that never leaves a link without its SOS. Unhandled
# records still owe events: they stay until delivered.
_PRUNE_ORDER = (  # table, its key (``records`` has no rowid), which rows go
    ("records", "imei, key", "received_ms < ? AND handled = 1"),
    ("sos_clips", "rowid", "sos_id IN (SELECT id FROM sos WHERE received_ms < ?)"),
    ("sos", "rowid", "received_ms < ?"),
    ("clip_candidates", "rowid", "received_ms < ?"),
)


class AvlDatabase:
    """One SQLite connection to ``avl.sqlite3``; the domain modules run their queries on it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(_SCHEMA)
        self._depth = 0

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All-or-nothing writes; nested use joins the outer transaction."""
        if self._depth:
            self._depth += 1
            try:
                yield self.conn
            finally:
                self._depth -= 1
            return
        self.conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")
        finally:
            self._depth = 0

    def prune(self, before: datetime, batch: int = PRUNE_BATCH) -> int:
        """Drop records, SOS, links and candidates received before ``before``; rows removed.

        Thread-safe and meant for a worker thread: it uses a connection of its own and
        deletes ``batch`` rows per transaction, so the event loop's record writes wait for
        one short batch at most (WAL; the loop's connection has a busy timeout), never for
        a whole day of records.
        """
        cutoff = to_ms(before)
        removed = 0
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        try:
            for table, key, where in _PRUNE_ORDER:
                while True:
                    conn.execute("BEGIN IMMEDIATE")
                    n = conn.execute(
                        f"DELETE FROM {table} WHERE ({key}) IN "
                        f"(SELECT {key} FROM {table} WHERE {where} LIMIT ?)",
                        (cutoff, batch),
                    ).rowcount
                    conn.execute("COMMIT")
                    removed += n
                    if n < batch:
                        break
        finally:
            conn.close()
        return removed

    def count(self, table: str) -> int:
        """Rows in one of this database's tables (tests, diagnostics)."""
        if table not in ("records", "camera_state", "last_position", "sos", "sos_clips"):
            raise ValueError(f"unknown table {table!r}")
        return int(self.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
