"""Topic names and JSON payloads of the MQTT contract (README.md, "MQTT topics").

Pure functions of the domain events: no client, no clock. The topic patterns and names are
the tables of ``contract``; this module fills them in and writes the payloads.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .. import contract as c
from ..events import (
    Camera,
    CameraStateChanged,
    MediaCompleted,
    Position,
    SosTriggered,
    TransferProgress,
)
from ..http.links import MediaUrls

ONLINE = c.ONLINE.encode()
OFFLINE = c.OFFLINE.encode()


def as_utc(moment: datetime) -> datetime:
    """The same instant as an aware UTC datetime."""
    # A naive datetime from a device clock is UTC by the protocols' definition.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` and milliseconds, e.g. ``2024-05-01T12:00:00.000Z``."""
    return as_utc(moment).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_json(obj: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON, one object per message."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True, slots=True)
class Topics:
    """Every topic of the contract under one prefix (``mqtt.topic_prefix``)."""

    prefix: str = c.DEFAULT_TOPIC_PREFIX

    @property
    def bridge_status(self) -> str:
        """``P/bridge/status``: online/offline, also the Last Will."""
        return c.topic(self.prefix, c.TOPIC_BRIDGE_STATUS)

    @property
    def bridge_health(self) -> str:
        """``P/bridge/health``."""
        return c.topic(self.prefix, c.TOPIC_BRIDGE_HEALTH)

    @property
    def bridge_info(self) -> str:
        """``P/bridge/info``."""
        return c.topic(self.prefix, c.TOPIC_BRIDGE_INFO)

    @property
    def command_filter(self) -> str:
        """The subscription for commands to any tracker: ``P/+/command``."""
        return c.topic(self.prefix, c.TOPIC_COMMAND)

    def availability(self, imei: str) -> str:
        """``P/<imei>/availability``."""
        return c.topic(self.prefix, c.TOPIC_AVAILABILITY, imei)

    def device_info(self, imei: str) -> str:
        """``P/<imei>/info``."""
        return c.topic(self.prefix, c.TOPIC_DEVICE_INFO, imei)

    def camera_state(self, imei: str, camera: Camera) -> str:
        """``P/<imei>/camera/<cam>/state``."""
        return c.topic(self.prefix, c.TOPIC_CAMERA_STATE, imei, camera)

    def photo(self, imei: str, camera: Camera) -> str:
        """``P/<imei>/camera/<cam>/photo``."""
        return c.topic(self.prefix, c.TOPIC_PHOTO, imei, camera)

    def video(self, imei: str, camera: Camera) -> str:
        """``P/<imei>/camera/<cam>/video``."""
        return c.topic(self.prefix, c.TOPIC_VIDEO, imei, camera)

    def media(self, imei: str) -> str:
        """``P/<imei>/media``."""
        return c.topic(self.prefix, c.TOPIC_MEDIA, imei)

    def transfer(self, imei: str) -> str:
        """``P/<imei>/transfer``."""
        return c.topic(self.prefix, c.TOPIC_TRANSFER, imei)

    def sos(self, imei: str) -> str:
        """``P/<imei>/sos``."""
        return c.topic(self.prefix, c.TOPIC_SOS, imei)

    def position(self, imei: str) -> str:
        """``P/<imei>/position``."""
        return c.topic(self.prefix, c.TOPIC_POSITION, imei)

    def command(self, imei: str) -> str:
        """``P/<imei>/command``."""
        return c.topic(self.prefix, c.TOPIC_COMMAND, imei)

    def command_result(self, imei: str) -> str:
        """``P/<imei>/command/result``."""
        return c.topic(self.prefix, c.TOPIC_COMMAND_RESULT, imei)

    def command_target(self, topic: str) -> str | None:
        """The ``<imei>`` level of a ``P/<imei>/command`` topic (unvalidated), else None."""
        head, sep, rest = topic.partition(f"{self.prefix}/")
        if head or not sep or not rest.endswith("/command"):
            return None
        target = rest.removesuffix("/command")
        return None if "/" in target else target


def availability_payload(online: bool) -> bytes:
    """``online`` / ``offline``."""
    return ONLINE if online else OFFLINE


def bridge_info_payload(
    version: str,
    started_at: datetime,
    camera_port: int | None,
    avl_port: int | None,
    devices: Iterable[str],
) -> bytes:
    """``P/bridge/info``."""
    return to_json(
        {
            "version": version,
            "started_at": iso_utc(started_at),
            "camera_port": camera_port,
            "avl_port": avl_port,
            "devices": sorted(devices),
        }
    )


def bridge_health_payload(
    disk_full: bool, free_mb: float | None, min_free_mb: float, when: datetime
) -> bytes:
    """``P/bridge/health``: the bridge's own condition (the disk of ``data_dir``)."""
    return to_json(
        {
            "status": "disk_full" if disk_full else "ok",
            "disk_full": disk_full,
            "free_mb": free_mb,
            "min_free_mb": min_free_mb,
            "timestamp": iso_utc(when),
        }
    )


def device_info_payload(
    imei: str,
    name: str | None,
    first_seen: datetime,
    last_seen: datetime,
    protocol_id: int | None,
) -> bytes:
    """``P/<imei>/info``."""
    return to_json(
        {
            "imei": imei,
            "name": name,
            "first_seen": iso_utc(first_seen),
            "last_seen": iso_utc(last_seen),
            "protocol_id": protocol_id,
        }
    )


def camera_state_payload(event: CameraStateChanged) -> bytes:
    """``P/<imei>/camera/<cam>/state``."""
    return to_json(
        {"value": event.value, "state": event.state, "timestamp": iso_utc(event.timestamp)}
    )


def media_payload(
    event: MediaCompleted, urls: MediaUrls | None = None, variant: str = "original"
) -> bytes:
    """``P/<imei>/media``; ``path`` is the file ``url`` serves (matches ``mime``, ``size``).

    ``variant``: ``original`` when the file is stored; ``browser`` in the second event of a
    clip, once its H.264 MP4 (``browser_url``) exists. Links are None with HTTP off.
    """
    urls = urls or MediaUrls()
    return to_json(
        {
            "id": event.id,
            "imei": event.imei,
            "camera": event.camera,
            "kind": event.kind,
            "variant": variant,
            "mime": event.mime,
            "size": event.payload_size,
            "sha256": event.payload_sha256,
            "captured_at": iso_utc(event.captured_at) if event.captured_at else None,
            "received_at": iso_utc(event.received_at),
            "path": str(event.payload_path),
            "url": urls.url,
            "poster_url": urls.poster_url,
            "thumbnail_url": urls.thumbnail_url,
            "browser_url": urls.browser_url,
            "duration_s": event.duration_s,
            "trigger": event.trigger,
            "latitude": event.latitude,
            "longitude": event.longitude,
        }
    )


def transfer_payload(event: TransferProgress) -> bytes:
    """``P/<imei>/transfer``."""
    return to_json(
        {
            "file": event.file,
            "camera": event.camera,
            "kind": event.kind,
            "packets_done": event.packets_done,
            "packets_total": event.packets_total,
            "bytes_per_s": round(event.bytes_per_s, 1),
            "state": event.state,
        }
    )


def position_dict(position: Position) -> dict[str, Any]:
    """A position as the contract's JSON object (shared by ``position`` and ``sos``)."""
    return {
        "latitude": position.latitude,
        "longitude": position.longitude,
        "altitude": position.altitude,
        "angle": position.angle,
        "speed": position.speed,
        "satellites": position.satellites,
        "timestamp": iso_utc(position.timestamp),
    }


def position_payload(position: Position) -> bytes:
    """``P/<imei>/position``."""
    return to_json(position_dict(position))


def sos_payload(event: SosTriggered) -> bytes:
    """``P/<imei>/sos``."""
    return to_json(
        {
            "value": event.value,
            "trigger": event.trigger,
            "timestamp": iso_utc(event.timestamp),
            "position": position_dict(event.position) if event.position else None,
        }
    )
