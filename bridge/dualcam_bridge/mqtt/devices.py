"""Devices the MQTT layer has seen (for ``P/<imei>/info`` and ``P/bridge/info``), persisted.

:meth:`SeenDevices.track` is the one place the device table is written: the publisher calls
it for every event and turns the :class:`DeviceUpdate` it returns into messages.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from datetime import datetime

from ..events import (
    CameraStateChanged,
    DeviceSeen,
    DomainEvent,
    MediaCompleted,
    PositionUpdated,
    SosTriggered,
    TrackerAvailability,
)
from .topics import as_utc


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """What ``P/<imei>/info`` says about a device."""

    imei: str
    name: str | None
    protocol_id: int | None
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class DeviceUpdate:
    """A device record that changed: ``new`` on first sight, ``renamed`` when its name did."""

    record: DeviceRecord
    new: bool
    renamed: bool = False


def _event_time(event: DomainEvent) -> datetime | None:
    """When an event says its device was there (None: the event does not make it known)."""
    match event:
        case MediaCompleted():
            return event.received_at
        case PositionUpdated():
            return event.position.timestamp
        case CameraStateChanged() | TrackerAvailability() | SosTriggered():
            return event.timestamp
        case _:
            return None


class SeenDevices:
    """Device records in the MQTT state database, cached in memory."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._devices: dict[str, DeviceRecord] = {}
        for imei, name, protocol_id, first, last in conn.execute(
            "SELECT imei, name, protocol_id, first_seen, last_seen FROM devices"
        ):
            self._devices[imei] = DeviceRecord(
                imei, name, protocol_id, datetime.fromisoformat(first), datetime.fromisoformat(last)
            )

    @property
    def imeis(self) -> list[str]:
        """Every known IMEI, sorted."""
        return sorted(self._devices)

    def track(self, event: DomainEvent) -> DeviceUpdate | None:
        """Record the device behind an event; the update when there is one to publish.

        A ``DeviceSeen`` always updates the record (last seen, name); any other event only
        makes an unknown device known.
        """
        if isinstance(event, DeviceSeen):
            old = self._devices.get(event.imei)
            record, new = self._seen(event.imei, event.name, event.protocol_id, event.timestamp)
            return DeviceUpdate(record, new, renamed=old is not None and old.name != record.name)
        when = _event_time(event)
        if when is None or not self._touch(event.imei, when):
            return None
        return DeviceUpdate(self._devices[event.imei], new=True)

    def _touch(self, imei: str, when: datetime) -> bool:
        """Register a device on its first event of any kind; True when it is new."""
        if imei in self._devices:
            return False
        when = as_utc(when)
        self._save(DeviceRecord(imei, None, None, when, when))
        return True

    def _seen(
        self, imei: str, name: str | None, protocol_id: int | None, when: datetime
    ) -> tuple[DeviceRecord, bool]:
        """Record that a device identified itself; returns the record and whether it is new."""
        old = self._devices.get(imei)
        when = as_utc(when)
        if old is None:
            record = DeviceRecord(imei, name, protocol_id, when, when)
        else:
            # A link that does not know the name (the camera) keeps what the tracker said.
            record = replace(
                old,
                name=name if name is not None else old.name,
                protocol_id=protocol_id if protocol_id is not None else old.protocol_id,
                last_seen=max(when, old.last_seen),
            )
        self._save(record)
        return record, old is None

    def _save(self, record: DeviceRecord) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO devices (imei, name, protocol_id, first_seen, last_seen)"
            " VALUES (?, ?, ?, ?, ?)",
            (
                record.imei,
                record.name,
                record.protocol_id,
                record.first_seen.isoformat(),
                record.last_seen.isoformat(),
            ),
        )
        self._devices[record.imei] = record
