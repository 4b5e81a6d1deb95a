"""The SQLite index of completed media: ``<data_dir>/index.sqlite3``.

It is also the source of truth for announcements: a row's ``announced`` flag says whether
its media event reached the MQTT outbox (which dedups by media id, so announcing twice is
harmless and announcing never is not).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ..clock import now_utc
from ..events import MediaCompleted

_SCHEMA = """
CREATE TABLE IF NOT EXISTS media (
    id TEXT PRIMARY KEY,
    imei TEXT NOT NULL,
    camera TEXT NOT NULL,
    kind TEXT NOT NULL,
    path TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    captured_at TEXT,
    received_at TEXT NOT NULL,
    trigger TEXT,
    latitude REAL,
    longitude REAL,
    duration_s REAL,
    framerate INTEGER,
    mp4_path TEXT,
    crc_ok INTEGER,
    mp4_size INTEGER,
    mp4_sha256 TEXT,
    -- 1 once the MQTT outbox accepted the file's media event: the rows at 0 are announced
    -- again (at start, periodically), so an event the outbox could not take is only delayed.
    announced INTEGER NOT NULL DEFAULT 0,
    -- Derivatives (media workers): NULL until made.
    poster_path TEXT,
    thumbnail_path TEXT,
    browser_path TEXT,
    browser_size INTEGER,
    -- 1 once the outbox accepted the browser variant's media event.
    browser_announced INTEGER NOT NULL DEFAULT 0,
    -- Sizes of the stills (retention counts them) and when the browser MP4 was recorded
    -- (its media event is "in flight" for a while after, as a new file's is).
    poster_size INTEGER,
    thumbnail_size INTEGER,
    browser_made_at TEXT
);
CREATE INDEX IF NOT EXISTS media_imei_received ON media (imei, received_at);
CREATE INDEX IF NOT EXISTS media_received ON media (received_at);
-- What identified each completed transfer, so a device that offers the same file again
-- (it lost our answer to its last packet) is not stored twice.
CREATE TABLE IF NOT EXISTS completed_transfers (
    imei TEXT NOT NULL,
    file TEXT NOT NULL,
    packets INTEGER NOT NULL,
    file_crc INTEGER NOT NULL,
    captured_at TEXT NOT NULL,
    media_id TEXT NOT NULL,
    completed_at TEXT NOT NULL,
    PRIMARY KEY (imei, file, packets, file_crc, captured_at)
);
"""

# An index from before the ``announced`` column: its recent rows are announced again (the
# outbox's media-id dedup drops those it already took); older ones count as announced.
_MIGRATION_RECENT = timedelta(days=7)

_COLUMNS = (
    "id, imei, camera, kind, path, size, sha256, captured_at, received_at, trigger, "
    "latitude, longitude, duration_s, framerate, mp4_path, mp4_size, mp4_sha256, "
    "poster_path, thumbnail_path, browser_path, browser_size"
)
# Columns added after the first release: (name, declaration), added by ``_migrate``.
_ADDED_COLUMNS = (
    ("announced", "INTEGER NOT NULL DEFAULT 0"),
    ("poster_path", "TEXT"),
    ("thumbnail_path", "TEXT"),
    ("browser_path", "TEXT"),
    ("browser_size", "INTEGER"),
    ("browser_announced", "INTEGER NOT NULL DEFAULT 0"),
    ("poster_size", "INTEGER"),
    ("thumbnail_size", "INTEGER"),
    ("browser_made_at", "TEXT"),
)
# The index row's column of each derivative variant.
DERIVATIVE_COLUMNS = {
    "poster": "poster_path",
    "thumbnail": "thumbnail_path",
    "browser": "browser_path",
}
# Bytes a row holds on disk: the file, its MP4 and its derivatives (what retention counts).
_ROW_BYTES = (
    "size + COALESCE(mp4_size, 0) + COALESCE(poster_size, 0) + COALESCE(thumbnail_size, 0)"
    " + COALESCE(browser_size, 0)"
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _str(path: Path | None) -> str | None:
    return str(path) if path else None


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


class MediaIndex:
    """Completed files, one row each; the data dir's source of truth for retention."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(media)")}
        missing = [(name, decl) for name, decl in _ADDED_COLUMNS if name not in columns]
        if missing:
            self._db.execute("BEGIN IMMEDIATE")
            for name, decl in missing:
                self._db.execute(f"ALTER TABLE media ADD COLUMN {name} {decl}")
            if "announced" not in columns:
                cutoff = (now_utc() - _MIGRATION_RECENT).isoformat()
                self._db.execute("UPDATE media SET announced = 1 WHERE received_at < ?", (cutoff,))
            self._db.execute("COMMIT")
        self._db.execute(
            "CREATE INDEX IF NOT EXISTS media_unannounced ON media (received_at) "
            "WHERE announced = 0"
        )
        self._db.execute(
            "CREATE INDEX IF NOT EXISTS media_browser_unannounced ON media (browser_made_at) "
            "WHERE browser_announced = 0 AND browser_path IS NOT NULL"
        )

    def close(self) -> None:
        self._db.close()

    def add(self, rec: MediaCompleted, crc_ok: bool | None) -> None:
        """Insert a completed file."""
        self._db.execute(
            f"INSERT INTO media ({_COLUMNS}, crc_ok) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                rec.id,
                rec.imei,
                rec.camera,
                rec.kind,
                str(rec.path),
                rec.size,
                rec.sha256,
                _iso(rec.captured_at),
                _iso(rec.received_at),
                rec.trigger,
                rec.latitude,
                rec.longitude,
                rec.duration_s,
                rec.framerate,
                str(rec.mp4_path) if rec.mp4_path else None,
                rec.mp4_size,
                rec.mp4_sha256,
                _str(rec.poster_path),
                _str(rec.thumbnail_path),
                _str(rec.browser_path),
                rec.browser_size,
                None if crc_ok is None else int(crc_ok),
            ),
        )

    def add_completed_transfer(
        self, key: tuple[str, str, int, int, str], media_id: str, when: datetime
    ) -> None:
        """Remember the identity of a completed transfer (imei, file, packets, crc, capture)."""
        self._db.execute(
            "INSERT OR REPLACE INTO completed_transfers VALUES (?, ?, ?, ?, ?, ?, ?)",
            (*key, media_id, when.isoformat()),
        )

    def find_completed_transfer(self, key: tuple[str, str, int, int, str]) -> str | None:
        """The media id of an already completed transfer with this identity."""
        row = self._db.execute(
            "SELECT media_id FROM completed_transfers WHERE imei = ? AND file = ? AND "
            "packets = ? AND file_crc = ? AND captured_at = ?",
            key,
        ).fetchone()
        return row[0] if row else None

    def prune_completed_transfers(self, before: datetime) -> None:
        self._db.execute(
            "DELETE FROM completed_transfers WHERE completed_at < ?", (before.isoformat(),)
        )

    def set_mp4(self, media_id: str, mp4_path: Path, size: int, sha256: str) -> None:
        """Record the MP4 remux of a video."""
        self._db.execute(
            "UPDATE media SET mp4_path = ?, mp4_size = ?, mp4_sha256 = ? WHERE id = ?",
            (str(mp4_path), size, sha256, media_id),
        )

    def set_derivative(
        self, media_id: str, variant: str, path: Path, size: int | None = None
    ) -> None:
        """Record a derivative (``poster``, ``thumbnail``, ``browser``) of a stored file."""
        column = DERIVATIVE_COLUMNS[variant]
        sets = f"{column} = ?, {variant}_size = ?"
        values: tuple[object, ...] = (str(path), size)
        if variant == "browser":
            sets += ", browser_made_at = ?"
            values += (now_utc().isoformat(),)
        self._db.execute(f"UPDATE media SET {sets} WHERE id = ?", (*values, media_id))

    def set_duration(self, media_id: str, seconds: float) -> None:
        """The clip's length as probed from its stream."""
        self._db.execute("UPDATE media SET duration_s = ? WHERE id = ?", (seconds, media_id))

    def mark_announced(self, media_ids: Iterable[str]) -> None:
        """The outbox accepted these files' media events."""
        self._db.executemany(
            "UPDATE media SET announced = 1 WHERE id = ?", [(mid,) for mid in media_ids]
        )

    def unannounced(self, received_before: datetime, limit: int) -> list[MediaCompleted]:
        """Files received before ``received_before`` whose media event was never accepted."""
        cur = self._db.execute(
            f"SELECT {_COLUMNS} FROM media WHERE announced = 0 AND received_at < ? "
            "ORDER BY received_at LIMIT ?",
            (received_before.isoformat(), limit),
        )
        return [_record(row) for row in cur]

    def mark_browser_announced(self, media_ids: Iterable[str]) -> None:
        """The outbox accepted these files' browser-variant media events."""
        self._db.executemany(
            "UPDATE media SET browser_announced = 1 WHERE id = ?", [(mid,) for mid in media_ids]
        )

    def unannounced_browser(self, made_before: datetime, limit: int) -> list[MediaCompleted]:
        """Files whose browser MP4 (recorded before ``made_before``) was never announced.

        Only those whose original event was accepted: the browser event comes second.
        """
        cur = self._db.execute(
            f"SELECT {_COLUMNS} FROM media WHERE browser_announced = 0 "
            "AND browser_path IS NOT NULL AND announced = 1 "
            "AND COALESCE(browser_made_at, received_at) < ? "
            "ORDER BY browser_made_at LIMIT ?",
            (made_before.isoformat(), limit),
        )
        return [_record(row) for row in cur]

    def missing_derivatives(self, browser: bool, limit: int) -> list[MediaCompleted]:
        """Newest first: photos without a thumbnail; clips without a poster or thumbnail
        (or, with ``browser``, without their browser MP4)."""
        cur = self._db.execute(
            f"SELECT {_COLUMNS} FROM media WHERE thumbnail_path IS NULL OR (kind = 'video' "
            "AND (poster_path IS NULL OR (? AND browser_path IS NULL))) "
            "ORDER BY received_at DESC LIMIT ?",
            (int(browser), limit),
        )
        return [_record(row) for row in cur]

    def has_path(self, path: Path) -> bool:
        row = self._db.execute("SELECT 1 FROM media WHERE path = ?", (str(path),)).fetchone()
        return row is not None

    def get(self, media_id: str) -> MediaCompleted | None:
        """One file by id."""
        row = self._db.execute(f"SELECT {_COLUMNS} FROM media WHERE id = ?", (media_id,))
        found = row.fetchone()
        return _record(found) if found else None

    def all(self, imei: str | None = None) -> list[MediaCompleted]:
        """Every file, oldest first (optionally of one IMEI)."""
        if imei is None:
            cur = self._db.execute(f"SELECT {_COLUMNS} FROM media ORDER BY received_at")
        else:
            cur = self._db.execute(
                f"SELECT {_COLUMNS} FROM media WHERE imei = ? ORDER BY received_at", (imei,)
            )
        return [_record(row) for row in cur]

    def oldest_first(self) -> Iterator[tuple[str, list[str], int, str]]:
        """(id, [path, its MP4 and derivatives], bytes of them all, received_at), oldest first."""
        cur = self._db.execute(
            f"SELECT id, path, mp4_path, poster_path, thumbnail_path, browser_path, {_ROW_BYTES},"
            " received_at FROM media ORDER BY received_at"
        )
        for mid, path, mp4, poster, thumbnail, browser, size, received in cur:
            yield mid, [p for p in (path, mp4, poster, thumbnail, browser) if p], size, received

    def total_size(self) -> int:
        """Bytes of every file, MP4 and derivative the index holds."""
        row = self._db.execute(f"SELECT COALESCE(SUM({_ROW_BYTES}), 0) FROM media").fetchone()
        return int(row[0])

    def delete(self, media_id: str) -> None:
        self._db.execute("DELETE FROM media WHERE id = ?", (media_id,))
        self._db.execute("DELETE FROM completed_transfers WHERE media_id = ?", (media_id,))


def _record(row: tuple[Any, ...]) -> MediaCompleted:
    (mid, imei, camera, kind, path, size, sha, captured, received, trigger, lat, lon, dur, fps,
     mp4, mp4_size, mp4_sha, poster, thumbnail, browser, browser_size) = row  # fmt: skip
    return MediaCompleted(
        id=mid,
        imei=imei,
        camera=camera,
        kind=kind,
        path=Path(path),
        size=size,
        sha256=sha,
        received_at=datetime.fromisoformat(received),
        captured_at=datetime.fromisoformat(captured) if captured else None,
        trigger=trigger,
        latitude=lat,
        longitude=lon,
        duration_s=dur,
        framerate=fps,
        mp4_path=_path(mp4),
        mp4_size=mp4_size,
        mp4_sha256=mp4_sha,
        poster_path=_path(poster),
        thumbnail_path=_path(thumbnail),
        browser_path=_path(browser),
        browser_size=browser_size,
    )
