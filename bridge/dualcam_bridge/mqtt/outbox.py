"""The durable MQTT outbox: SQLite (WAL) rows written before a send, deleted after the PUBACK.

One database file holds the MQTT layer's state so a restart (or a SIGKILL) loses nothing:

- ``outbox``: messages not yet acknowledged, in order, one lane per device;
- ``retained``: the newest payload of every retained topic, republished on every connect;
- ``published_media``: media ids already accepted, so a file is published once per id;
- ``devices``: first/last seen of every device (owned by :mod:`.devices`).

Photo and video bytes are not copied in: a row references the media store's file.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import time
from collections import Counter, deque
from collections.abc import Container, Iterable
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

log = logging.getLogger(__name__)

# Rough bytes a row costs beyond its payload (SQLite record, index entries).
ROW_OVERHEAD = 100
PUBLISHED_MEDIA_KEEP_S = 180 * 86400
DROP_REPORT_INTERVAL_S = 60.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    device TEXT NOT NULL,
    topic TEXT NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    payload BLOB,
    path TEXT,
    priority INTEGER NOT NULL,
    size INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_by_priority ON outbox (priority, seq);
CREATE TABLE IF NOT EXISTS retained (
    topic TEXT PRIMARY KEY,
    qos INTEGER NOT NULL,
    payload BLOB,
    path TEXT,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS published_media (
    id TEXT PRIMARY KEY,
    published_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS devices (
    imei TEXT PRIMARY KEY,
    name TEXT,
    protocol_id INTEGER,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL
);
"""


class Priority(IntEnum):
    """What the size bound drops first: the lowest priority, oldest first."""

    STATE = 0  # retained state (position, photo, camera state…): the snapshot keeps the newest
    BULK = 1  # video bytes: the file stays in the media store, the media event points to it
    EVENT = 2  # media events, SOS, command results: history nobody can rebuild


@dataclass(frozen=True, slots=True)
class OutMessage:
    """A message to queue: inline ``payload`` or a ``path`` whose bytes are read at send time."""

    device: str
    topic: str
    payload: bytes | None = None
    path: Path | None = None
    qos: int = 1
    retain: bool = False
    priority: Priority = Priority.EVENT

    @property
    def size(self) -> int:
        """Bytes this message costs in the outbox (a referenced file is not counted)."""
        return len(self.payload or b"") + len(self.topic) + len(str(self.path or "")) + ROW_OVERHEAD


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A queued message as read back from the outbox."""

    seq: int
    device: str
    topic: str
    qos: int
    retain: bool
    payload: bytes | None
    path: Path | None


def open_db(path: Path) -> sqlite3.Connection:
    """Open (and create) the MQTT state database in WAL mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    # WAL + synchronous=NORMAL: a commit is durable against a process crash or SIGKILL (the
    # WAL is in the OS) at a fraction of a full fsync per message; only a power cut can undo
    # the last commits, and the media files themselves are fsynced by the store.
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.executescript(SCHEMA)
    return conn


class Outbox:
    """Ordered per device, durable, bounded queue of messages awaiting a PUBACK."""

    def __init__(self, conn: sqlite3.Connection, max_bytes: int) -> None:
        self._conn = conn
        self._max_bytes = max_bytes
        self._lanes: dict[str, deque[int]] = {}
        self._unacked: set[tuple[str, int]] = set()  # acknowledged, row not yet deleted
        self._bytes = 0
        self._dropped: Counter[str] = Counter()
        self._dropped_reported_at = -math.inf
        self._reload()
        # Ids are only needed while the store may still announce the file again.
        conn.execute(
            "DELETE FROM published_media WHERE published_at < ?",
            (time.time() - PUBLISHED_MEDIA_KEEP_S,),
        )

    def __len__(self) -> int:
        return sum(len(lane) for lane in self._lanes.values())

    def enqueue(self, messages: Iterable[OutMessage], media_id: str | None = None) -> bool:
        """Queue messages in one transaction; False (and nothing queued) for a known media id."""
        now = time.time()
        conn = self._conn
        added: list[tuple[str, int, int]] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            if media_id is not None:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO published_media (id, published_at) VALUES (?, ?)",
                    (media_id, now),
                )
                if cur.rowcount == 0:
                    conn.execute("ROLLBACK")
                    return False
            for msg in messages:
                path = str(msg.path) if msg.path is not None else None
                cur = conn.execute(
                    "INSERT INTO outbox (device, topic, qos, retain, payload, path, priority,"
                    " size, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (msg.device, msg.topic, msg.qos, int(msg.retain), msg.payload, path,
                     int(msg.priority), msg.size, now),
                )  # fmt: skip
                assert cur.lastrowid is not None
                added.append((msg.device, cur.lastrowid, msg.size))
                if msg.retain:
                    # The snapshot always equals the newest queued value of its topic.
                    conn.execute(
                        "INSERT OR REPLACE INTO retained (topic, qos, payload, path, updated_at)"
                        " VALUES (?, ?, ?, ?, ?)",
                        (msg.topic, msg.qos, msg.payload, path, now),
                    )
            for device, seq, size in added:
                self._lanes.setdefault(device, deque()).append(seq)
                self._bytes += size
            self._enforce_bound()
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # SQLite may have rolled back itself (SQLITE_FULL)
                conn.execute("ROLLBACK")
            self._reload()
            raise
        return True

    def ready(self, busy: Container[str], limit: int) -> list[OutboxItem]:
        """The oldest message of each device not in ``busy`` (at most ``limit``)."""
        items: list[OutboxItem] = []
        for device, lane in list(self._lanes.items()):
            if len(items) >= limit:
                break
            if device not in busy:
                items.append(self._load(lane[0]))
                # Round robin: a device with a long backlog must not starve the others.
                self._lanes[device] = self._lanes.pop(device)
        return items

    def ack(self, item: OutboxItem) -> None:
        """Forget a message the broker acknowledged (or one that can never be sent).

        Raises ``sqlite3.OperationalError`` when the database refuses the delete (disk full,
        read-only): the message leaves the queue anyway, and its row goes with the next ack
        that can write (after a restart before that it is sent again: at least once).
        """
        self._unacked.add((item.device, item.seq))
        self._remove_from_lane(item.device, item.seq)
        for device, seq in list(self._unacked):
            cur = self._conn.execute("DELETE FROM outbox WHERE seq = ? RETURNING size", (seq,))
            row = cur.fetchone()
            if row is not None:  # else the size bound dropped it while it was in flight
                self._bytes -= row[0]
            self._unacked.discard((device, seq))

    def retained_snapshot(self) -> list[OutboxItem]:
        """Retained state to republish on connect, except topics the outbox will still send."""
        # A topic with a queued row gets its newest value when the queue drains; sending the
        # snapshot first would only repeat it, and sending it after would reorder history.
        rows = self._conn.execute(
            "SELECT topic, qos, payload, path FROM retained WHERE topic NOT IN"
            " (SELECT topic FROM outbox WHERE retain = 1) ORDER BY topic"
        ).fetchall()
        return [
            OutboxItem(0, "", topic, qos, True, payload, Path(path) if path else None)
            for topic, qos, payload, path in rows
        ]

    def _load(self, seq: int) -> OutboxItem:
        row = self._conn.execute(
            "SELECT device, topic, qos, retain, payload, path FROM outbox WHERE seq = ?", (seq,)
        ).fetchone()
        device, topic, qos, retain, payload, path = row
        return OutboxItem(
            seq, device, topic, qos, bool(retain), payload, Path(path) if path else None
        )

    def _remove_from_lane(self, device: str, seq: int) -> None:
        lane = self._lanes.get(device)
        if not lane or seq not in lane:
            return
        if lane[0] == seq:
            lane.popleft()
        else:
            lane.remove(seq)
        if not lane:
            del self._lanes[device]

    def _enforce_bound(self) -> None:
        if self._bytes <= self._max_bytes:
            return
        dropped: Counter[str] = Counter()
        while self._bytes > self._max_bytes:
            rows = self._conn.execute(
                "SELECT seq, device, topic, size FROM outbox ORDER BY priority, seq LIMIT 256"
            ).fetchall()
            if not rows:
                break
            for seq, device, topic, size in rows:
                if self._bytes <= self._max_bytes:
                    break
                self._conn.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
                self._bytes -= size
                self._remove_from_lane(device, seq)
                dropped[topic.rsplit("/", 1)[-1]] += 1
        self._dropped.update(dropped)
        now = time.monotonic()
        # A long outage with a full outbox drops on every event: report once a minute.
        if now - self._dropped_reported_at >= DROP_REPORT_INTERVAL_S:
            log.warning(
                "MQTT outbox is over mqtt.outbox_max_mb (%.1f MB): dropped the %d oldest"
                " least important messages (%s)",
                self._max_bytes / 1e6,
                self._dropped.total(),
                ", ".join(f"{n} {kind}" for kind, n in self._dropped.most_common()),
            )
            self._dropped.clear()
            self._dropped_reported_at = now

    def _reload(self) -> None:
        self._lanes.clear()
        self._bytes = 0
        for seq, device, size in self._conn.execute(
            "SELECT seq, device, size FROM outbox ORDER BY seq"
        ):
            self._bytes += size
            if (device, seq) not in self._unacked:  # sent already: never again
                self._lanes.setdefault(device, deque()).append(seq)
