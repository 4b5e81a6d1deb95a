"""Events of the DualCam file-transfer session (see ``filetransfer.CameraSession``).

Small frozen dataclasses, one per thing the app must know or decide on, as in h11.
"""

from __future__ import annotations

from dataclasses import dataclass

from .dualcam_frames import FileMetadata


@dataclass(frozen=True, slots=True)
class InitReceived:
    """The camera identified itself and announced what it has."""

    protocol_id: int
    imei: str
    settings: int
    files: tuple[str, ...]
    adas: bool
    unknown_bits: int
    repeat: bool
    protocol_supported: bool


@dataclass(frozen=True, slots=True)
class MetadataReceived:
    file: str
    metadata: FileMetadata


@dataclass(frozen=True, slots=True)
class MetadataUnavailable:
    """The device did not answer the metadata request usably; we go on without."""

    file: str
    reason: str


@dataclass(frozen=True, slots=True)
class FileOffered:
    """START arrived: the app must answer with ``resume()``."""

    file: str
    packets: int
    file_crc: int
    metadata: FileMetadata | None


@dataclass(frozen=True, slots=True)
class SyncReceived:
    file: str
    offset: int
    resumed: bool  # True when the transfer continues beyond packet 1


@dataclass(frozen=True, slots=True)
class PacketReceived:
    """A DATA packet with a good CRC, in order, never delivered twice."""

    file: str
    index: int
    data: bytes


@dataclass(frozen=True, slots=True)
class PacketRejected:
    file: str
    index: int
    reason: str
    consecutive: int


@dataclass(frozen=True, slots=True)
class FileRestarted:
    """Discard what was received of this file; it starts again from packet 1."""

    file: str
    reason: str


@dataclass(frozen=True, slots=True)
class FileCompleted:
    """All packets arrived. ``crc_ok`` is None when the device gave no file CRC."""

    file: str
    packets: int
    crc: int
    crc_ok: bool | None
    metadata: FileMetadata | None


@dataclass(frozen=True, slots=True)
class FileUnavailable:
    file: str | None
    status: int


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    status: int
    name: str


@dataclass(frozen=True, slots=True)
class TransferAborted:
    """We gave up on the file (partial kept) and closed the session."""

    file: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The camera closed its end (``receive_data(b"")``); the session's last event.

    ``file`` is the file in progress (None between files) and ``packets_done`` of
    ``packets_total`` how far it got; ``unparsed`` counts received bytes never turned into an
    event (an incomplete frame, or frames held back while the app had a decision to make);
    it is 0 when the session had already closed.
    """

    file: str | None
    packets_done: int
    packets_total: int
    unparsed: int


@dataclass(frozen=True, slots=True)
class UnknownFrame:
    cmd: int
    length: int


Event = (
    InitReceived
    | MetadataReceived
    | MetadataUnavailable
    | FileOffered
    | SyncReceived
    | PacketReceived
    | PacketRejected
    | FileRestarted
    | FileCompleted
    | FileUnavailable
    | DeviceStatus
    | TransferAborted
    | UnknownFrame
    | ConnectionClosed
)
