"""Devices the MQTT layer has seen (for ``P/<imei>/info`` and ``P/bridge/info``), persisted."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from datetime import datetime

from .topics import as_utc


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """What ``P/<imei>/info`` says about a device."""

    imei: str
    name: str | None
    protocol_id: int | None
    first_seen: datetime
    last_seen: datetime


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

    def get(self, imei: str) -> DeviceRecord | None:
        """The record of one device, if seen."""
        return self._devices.get(imei)

    def touch(self, imei: str, when: datetime) -> bool:
        """Register a device on its first event of any kind; True when it is new."""
        if imei in self._devices:
            return False
        when = as_utc(when)
        self._save(DeviceRecord(imei, None, None, when, when))
        return True

    def seen(
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
