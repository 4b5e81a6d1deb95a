"""Domain events that flow from the receivers (camera, AVL) to the publishers (MQTT, logs).

These are the only types the stages share: the camera server and the AVL server emit them,
the media store announces ``MediaCompleted`` after a file is safely on disk, and the MQTT
publisher turns each into messages of the MQTT contract. They are plain frozen dataclasses so
any stage can be replaced or tested on its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from .contract import (
    CAMERA_STATE_NAMES,
    MEDIA_TRIGGER_NAMES,
    SOS_TRIGGER_NAMES,
    Camera,
    MediaKind,
    TransferState,
)

# The name tables live in the contract; re-exported for the stages that import them from here.
TRIGGER_NAMES = MEDIA_TRIGGER_NAMES

__all__ = [
    "CAMERA_STATE_NAMES",
    "SOS_TRIGGER_NAMES",
    "TRIGGER_NAMES",
    "Camera",
    "CameraStateChanged",
    "DeviceSeen",
    "DomainEvent",
    "EventHandler",
    "MediaCompleted",
    "MediaKind",
    "MediaVariant",
    "MediaVariantReady",
    "Position",
    "PositionUpdated",
    "SosClipLinked",
    "SosTriggered",
    "TrackerAvailability",
    "TransferProgress",
]


@dataclass(frozen=True, slots=True)
class Position:
    """A GNSS fix from an AVL record."""

    latitude: float
    longitude: float
    altitude: int
    angle: int
    speed: int
    satellites: int
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class MediaCompleted:
    """A photo or video that is fully received, CRC-checked, fsynced and indexed."""

    id: str
    imei: str
    camera: Camera
    kind: MediaKind
    path: Path  # the original file (.jpg / .h265)
    size: int
    sha256: str
    received_at: datetime
    captured_at: datetime | None = None
    trigger: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    # Seconds of video: the stream's own length once probed (ffprobe), else the metadata's.
    duration_s: float | None = None
    framerate: int | None = None
    mp4_path: Path | None = None  # the remuxed MP4 of a video, when ffmpeg made one
    mp4_size: int | None = None
    mp4_sha256: str | None = None
    # Derivatives made by the media workers (absent until made): a clip's poster (a JPEG
    # frame about a second in), a small JPEG thumbnail of a photo or of a clip's poster,
    # and a clip's H.264 MP4 that every browser plays.
    poster_path: Path | None = None
    thumbnail_path: Path | None = None
    browser_path: Path | None = None
    browser_size: int | None = None

    @property
    def mime(self) -> str:
        """MIME type of the file a subscriber should receive (MP4 when remuxed)."""
        if self.kind == "photo":
            return "image/jpeg"
        return "video/mp4" if self.mp4_path else "video/hevc"

    @property
    def payload_path(self) -> Path:
        """The file whose bytes are published: the MP4 of a video when there is one."""
        return self.mp4_path or self.path

    @property
    def payload_size(self) -> int:
        """Size of ``payload_path``."""
        return self.mp4_size if self.mp4_path and self.mp4_size is not None else self.size

    @property
    def payload_sha256(self) -> str:
        """sha256 of ``payload_path``, so a subscriber can check the bytes it received."""
        return self.mp4_sha256 if self.mp4_path and self.mp4_sha256 else self.sha256


MediaVariant = Literal["browser"]


@dataclass(frozen=True, slots=True)
class MediaVariantReady:
    """A stored file got a new variant (the H.264 MP4 of a clip): its media event again."""

    media: MediaCompleted  # the record with the variant's path set
    variant: MediaVariant = "browser"

    @property
    def imei(self) -> str:
        return self.media.imei


@dataclass(frozen=True, slots=True)
class TransferProgress:
    """Progress of a file in flight (published at most once a second per transfer)."""

    imei: str
    file: str  # "%photof", "%videor", …
    camera: Camera
    kind: MediaKind
    packets_done: int
    packets_total: int
    bytes_per_s: float
    state: TransferState


@dataclass(frozen=True, slots=True)
class CameraStateChanged:
    """AVL 498 (front) / 497 (rear): emitted when first seen and on every change."""

    imei: str
    camera: Camera
    value: int
    timestamp: datetime

    @property
    def state(self) -> str:
        return CAMERA_STATE_NAMES.get(self.value, f"unknown_{self.value}")


@dataclass(frozen=True, slots=True)
class SosTriggered:
    """AVL 499 record: the DualCam video trigger fired."""

    imei: str
    value: int
    timestamp: datetime
    position: Position | None = None
    id: str | None = None  # stable per record (same on a resend or another bridge)

    @property
    def trigger(self) -> str:
        return SOS_TRIGGER_NAMES.get(self.value, f"unknown_{self.value}")


@dataclass(frozen=True, slots=True)
class SosClipLinked:
    """The video an SOS produced has arrived: same IMEI, matching trigger, within the window."""

    imei: str
    sos_id: str
    media_id: str
    camera: Camera
    path: Path
    trigger: str


@dataclass(frozen=True, slots=True)
class PositionUpdated:
    """The newest position of a tracker."""

    imei: str
    position: Position


@dataclass(frozen=True, slots=True)
class TrackerAvailability:
    """A tracker's AVL link went up or down."""

    imei: str
    online: bool
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class DeviceSeen:
    """A device (camera or tracker link) identified itself."""

    imei: str
    name: str | None
    protocol_id: int | None
    timestamp: datetime
    extra: dict[str, object] = field(default_factory=dict)


DomainEvent = (
    MediaCompleted
    | MediaVariantReady
    | TransferProgress
    | CameraStateChanged
    | SosTriggered
    | SosClipLinked
    | PositionUpdated
    | TrackerAvailability
    | DeviceSeen
)
EventHandler = Callable[[DomainEvent], Awaitable[None]]
# What emitters are given: the bus's ``emit`` (True once every subscriber took the event) or,
# in tests, any handler.
EventSink = Callable[[DomainEvent], Awaitable[object]]


class DeliveryDelayed(Exception):
    """A subscriber cannot take the event now (its storage refuses writes), and nothing else
    will deliver it later: the emitter keeps what caused it and tries again (a tracker's
    records stay un-ACKed, so the tracker sends them again)."""
