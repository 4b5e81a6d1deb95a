"""AVL records → domain events, once per record, persisted in ``avl.sqlite3``.

* Camera state (AVL 498 front, 497 rear): an event when a camera is first seen and whenever
  its value changes. The last value is persisted, so a bridge restart emits nothing for a
  camera whose state did not change. A record older than the known state is history and does
  not override it (trackers send buffered records late).
* SOS (AVL 499): a record carrying 499 whose event IO is 499 (or 0, for firmware that leaves
  the event ID unset) is an SOS, with the record's time and position. Its id is derived from
  the record identity, so a resend — or another bridge — names it the same.
* Position: one ``PositionUpdated`` per packet, for its newest record, only when newer than
  the last known position. Coordinates 0/0 mean "no fix" and are not a position. A position
  lost to a crash is not delivered again: the next record brings a newer one.

Exactly once: a record is identified by (IMEI, timestamp, priority, event IO, IO set). Its
row and the events it caused are written in one transaction *before* the events go out; the
row is marked handled after they went out, and only then is the packet ACKed. A resent record
whose row is handled produces nothing; one whose row is not (the bridge died between storing
and delivering) delivers its stored events then. So a crash can repeat an event, never lose it.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..clock import now_utc
from ..events import (
    Camera,
    CameraStateChanged,
    DomainEvent,
    Position,
    PositionUpdated,
    SosClipLinked,
    SosTriggered,
)
from ..protocol.codec8 import AvlRecord
from .database import AvlDatabase, from_ms, to_ms
from .sos_clips import SosClipLinker

IO_REAR_STATE = 497
IO_FRONT_STATE = 498
IO_SOS = 499
CAMERA_IOS: tuple[tuple[int, Camera], ...] = ((IO_FRONT_STATE, "front"), (IO_REAR_STATE, "rear"))

_HEAD = struct.Struct(">qBH")
_INT_IO = struct.Struct(">HBQ")
_NX_IO = struct.Struct(">HBI")


def record_key(imei: str, record: AvlRecord) -> bytes:
    """A 16-byte identity of a record from one tracker; a resent record has the same key."""
    digest = hashlib.blake2b(imei.encode("ascii"), digest_size=16)
    digest.update(_HEAD.pack(to_ms(record.timestamp), record.priority, record.event_io_id))
    for io_id, value in sorted(record.io.items()):
        if isinstance(value, int):
            digest.update(_INT_IO.pack(io_id, 0, value))
        else:
            digest.update(_NX_IO.pack(io_id, 1, len(value)))
            digest.update(value)
    return digest.digest()


def record_position(record: AvlRecord) -> Position | None:
    """The record's fix, or None for 0/0 (Teltonika's "no fix yet")."""
    if record.latitude == 0 and record.longitude == 0:
        return None
    return Position(
        latitude=record.latitude,
        longitude=record.longitude,
        altitude=record.altitude,
        angle=record.angle,
        speed=record.speed,
        satellites=record.satellites,
        timestamp=record.timestamp,
    )


@dataclass(slots=True)
class HandledRecords:
    """What one packet produced: events to deliver, then ``TrackerState.delivered``."""

    imei: str
    events: list[DomainEvent] = field(default_factory=list)
    keys: list[bytes] = field(default_factory=list)  # rows to mark handled after delivery
    new: int = 0
    duplicates: int = 0


@dataclass(slots=True)
class _Pending:
    record: AvlRecord
    key: bytes
    events: list[DomainEvent]


class TrackerState:
    """Turns each tracker's records into events, idempotently, and remembers its state."""

    def __init__(self, db: AvlDatabase, linker: SosClipLinker | None = None) -> None:
        self.db = db
        self.linker = linker
        # Records whose events are being delivered right now. A tracker that gave up waiting
        # for its ACK resends them on a new link meanwhile: that resend must not deliver them
        # a second time (the first delivery finishes and marks them).
        self._delivering: set[tuple[str, bytes]] = set()

    def handle(
        self, imei: str, records: Sequence[AvlRecord], received_at: datetime | None = None
    ) -> HandledRecords:
        """Store a packet's records and compute their events (nothing is delivered here)."""
        received_at = received_at or now_utc()
        out = HandledRecords(imei)
        pending: list[_Pending] = []
        keys = [record_key(imei, record) for record in records]
        seen: set[bytes] = set()
        with self.db.transaction():
            # One query per packet for what is known, not one per record: a packet holds
            # up to 255 records and this runs for every packet of every tracker.
            known = self._known(imei, keys)
            cameras = self._camera_rows(imei)
            changed: set[Camera] = set()
            newest_ms = self._last_position_ms(imei)
            newest: _Pending | None = None
            for record, key in zip(records, keys, strict=True):
                if key in seen or key in known:
                    out.duplicates += 1
                    owed = key not in seen and not known[key][0]
                    if owed and (imei, key) not in self._delivering:
                        # Stored, but its events may not have gone out: deliver them again.
                        out.events.extend(_events_from_json(imei, known[key][1]))
                        out.keys.append(key)
                    seen.add(key)
                    continue
                seen.add(key)
                item = _Pending(record, key, self._camera_events(imei, record, cameras, changed))
                item.events.extend(self._sos_events(imei, record, key, received_at))
                pending.append(item)
                ts = to_ms(record.timestamp)
                if record_position(record) is not None and (newest_ms is None or ts > newest_ms):
                    newest_ms, newest = ts, item
            if newest is not None:
                position = record_position(newest.record)
                assert position is not None
                self._set_position(imei, position)
                newest.events.append(PositionUpdated(imei, position))
            self._save_cameras(imei, cameras, changed)
            self._insert(imei, pending, received_at)
            for item in pending:
                out.events.extend(item.events)
                if _owed(item.events):
                    out.keys.append(item.key)
            out.new = len(pending)
        self._delivering.update((imei, key) for key in out.keys)
        return out

    def delivered(self, handled: HandledRecords) -> None:
        """The events of ``handled`` went out: its records need nothing more."""
        if not handled.keys:
            return
        with self.db.transaction() as db:
            db.executemany(
                "UPDATE records SET handled = 1, events = NULL WHERE imei = ? AND key = ?",
                [(handled.imei, key) for key in handled.keys],
            )

    def release(self, handled: HandledRecords) -> None:
        """Delivery of ``handled`` ended (done or failed): a later resend may deliver again."""
        self._delivering.difference_update((handled.imei, key) for key in handled.keys)

    # ---- state -------------------------------------------------------------------------------

    def camera_state(self, imei: str, camera: Camera) -> int | None:
        """The last known AVL 498/497 value of a camera."""
        row = self.db.conn.execute(
            "SELECT value FROM camera_state WHERE imei = ? AND camera = ?", (imei, camera)
        ).fetchone()
        return row[0] if row else None

    def last_position(self, imei: str) -> Position | None:
        """The newest known position of a tracker."""
        row = self.db.conn.execute(
            "SELECT timestamp_ms, latitude, longitude, altitude, angle, speed, satellites "
            "FROM last_position WHERE imei = ?",
            (imei,),
        ).fetchone()
        if row is None:
            return None
        ts, lat, lon, alt, angle, speed, sats = row
        return Position(lat, lon, alt, angle, speed, sats, from_ms(ts))

    def _known(self, imei: str, keys: list[bytes]) -> dict[bytes, tuple[int, str | None]]:
        marks = ",".join("?" * len(keys))
        rows = self.db.conn.execute(
            f"SELECT key, handled, events FROM records WHERE imei = ? AND key IN ({marks})",
            (imei, *keys),
        )
        return {key: (handled, events) for key, handled, events in rows}

    def _camera_rows(self, imei: str) -> dict[Camera, tuple[int, int]]:
        rows = self.db.conn.execute(
            "SELECT camera, value, timestamp_ms FROM camera_state WHERE imei = ?", (imei,)
        )
        return {camera: (value, ts) for camera, value, ts in rows}

    def _camera_events(
        self,
        imei: str,
        record: AvlRecord,
        cameras: dict[Camera, tuple[int, int]],
        changed: set[Camera],
    ) -> list[DomainEvent]:
        events: list[DomainEvent] = []
        ts = to_ms(record.timestamp)
        for io_id, camera in CAMERA_IOS:
            value = record.io.get(io_id)
            if not isinstance(value, int):
                continue
            last = cameras.get(camera)
            if last is not None and (last[0] == value or ts < last[1]):
                continue
            cameras[camera] = (value, ts)
            changed.add(camera)
            events.append(CameraStateChanged(imei, camera, value, record.timestamp))
        return events

    def _save_cameras(
        self, imei: str, cameras: dict[Camera, tuple[int, int]], changed: set[Camera]
    ) -> None:
        self.db.conn.executemany(
            "INSERT OR REPLACE INTO camera_state VALUES (?, ?, ?, ?)",
            [(imei, camera, *cameras[camera]) for camera in changed],
        )

    def _sos_events(
        self, imei: str, record: AvlRecord, key: bytes, received_at: datetime
    ) -> list[DomainEvent]:
        value = record.io.get(IO_SOS)
        if not isinstance(value, int) or record.event_io_id not in (0, IO_SOS):
            return []
        sos = SosTriggered(imei, value, record.timestamp, record_position(record), key.hex())
        events: list[DomainEvent] = [sos]
        if self.linker is not None:
            events.extend(self.linker.sos_recorded(sos, received_at))
        return events

    def _last_position_ms(self, imei: str) -> int | None:
        row = self.db.conn.execute(
            "SELECT timestamp_ms FROM last_position WHERE imei = ?", (imei,)
        ).fetchone()
        return row[0] if row else None

    def _set_position(self, imei: str, p: Position) -> None:
        self.db.conn.execute(
            "INSERT OR REPLACE INTO last_position VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (imei, to_ms(p.timestamp), p.latitude, p.longitude, p.altitude, p.angle, p.speed,
             p.satellites),
        )  # fmt: skip

    def _insert(self, imei: str, pending: list[_Pending], received_at: datetime) -> None:
        received_ms = to_ms(received_at)
        rows = []
        for item in pending:
            r = item.record
            io = {str(k): v if isinstance(v, int) else v.hex() for k, v in r.io.items()}
            rows.append(
                (imei, item.key, to_ms(r.timestamp), received_ms, r.priority, r.latitude,
                 r.longitude, r.altitude, r.angle, r.satellites, r.speed, r.event_io_id,
                 json.dumps(io, separators=(",", ":")), *_owed_events(item.events))
            )  # fmt: skip
        self.db.conn.executemany(
            "INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
        )


# ---- events kept for redelivery ------------------------------------------------------------


def _owed(events: list[DomainEvent]) -> bool:
    # A position is superseded by the next record anyway: it is not worth a second write
    # per packet. Camera states, SOS and clip links are owed until delivered.
    return any(not isinstance(e, PositionUpdated) for e in events)


def _owed_events(events: list[DomainEvent]) -> tuple[str | None, int]:
    """(events JSON, handled flag) of a new record's row."""
    return (_events_to_json(events), 0) if _owed(events) else (None, 1)


def _position_json(p: Position | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {
        "lat": p.latitude,
        "lon": p.longitude,
        "alt": p.altitude,
        "angle": p.angle,
        "speed": p.speed,
        "sats": p.satellites,
        "ts": to_ms(p.timestamp),
    }


def _position_from(d: dict[str, Any] | None) -> Position | None:
    if d is None:
        return None
    return Position(
        d["lat"], d["lon"], d["alt"], d["angle"], d["speed"], d["sats"], from_ms(d["ts"])
    )


def _events_to_json(events: list[DomainEvent]) -> str | None:
    out: list[dict[str, Any]] = []
    for ev in events:
        match ev:
            case CameraStateChanged():
                out.append(
                    dict(t="camera", camera=ev.camera, value=ev.value, ts=to_ms(ev.timestamp))
                )
            case SosTriggered():
                pos = _position_json(ev.position)
                out.append(dict(t="sos", value=ev.value, ts=to_ms(ev.timestamp), pos=pos, id=ev.id))
            case SosClipLinked():
                path, trigger = str(ev.path), ev.trigger
                out.append(
                    dict(t="clip", sos=ev.sos_id, media=ev.media_id, camera=ev.camera, path=path,
                         trigger=trigger)
                )  # fmt: skip
            case PositionUpdated():
                out.append(dict(t="pos", pos=_position_json(ev.position)))
    return json.dumps(out, separators=(",", ":")) if out else None


def _events_from_json(imei: str, text: str | None) -> list[DomainEvent]:
    return [_event_from(imei, d) for d in json.loads(text)] if text else []


def _event_from(imei: str, d: dict[str, Any]) -> DomainEvent:
    match d["t"]:
        case "camera":
            return CameraStateChanged(imei, d["camera"], d["value"], from_ms(d["ts"]))
        case "sos":
            return SosTriggered(
                imei, d["value"], from_ms(d["ts"]), _position_from(d["pos"]), d["id"]
            )
        case "clip":
            return SosClipLinked(
                imei, d["sos"], d["media"], d["camera"], Path(d["path"]), d["trigger"]
            )
        case _:
            position = _position_from(d["pos"])
            assert position is not None
            return PositionUpdated(imei, position)
