"""DualCam file-transfer frames: constants, encoders and the metadata record.

Every frame after the 16-byte init packet is ``cmd u16 | len u16 | payload[len]``, big-endian,
except the server's repeat-init which is the bare command ``0009`` (as devices and traccar use
it). DATA payloads end with the packet's CRC-16 (0x8408), so ``len`` = data + 2.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, datetime

from .errors import DeviceProtocolError

# Command IDs.
CMD_CLOSE = 0x0000
CMD_START = 0x0001
CMD_RESUME = 0x0002
CMD_SYNC = 0x0003
CMD_DATA = 0x0004
CMD_STATUS = 0x0005
CMD_FILE_REQ = 0x0008
CMD_REPEAT_INIT = 0x0009
CMD_META_REQ = 0x000A
CMD_META = 0x000B
CMD_PATH_REQ = 0x000C
CMD_PATH = 0x000D

INIT_SIZE = 16
PACKET_DATA_MAX = 1024
DATA_LEN_MAX = PACKET_DATA_MAX + 2

# Settings byte (the init packet's most significant settings byte) → file identifier.
# Served in this order: photos first, they are small and what a dashboard shows.
FILE_BITS: tuple[tuple[int, str], ...] = (
    (0x04, "%photof"),
    (0x08, "%photor"),
    (0x10, "%videof"),
    (0x20, "%videor"),
)
ADAS_BIT = 0x02
KNOWN_BITS = ADAS_BIT | 0x04 | 0x08 | 0x10 | 0x20

FILE_IDS = tuple(name for _, name in FILE_BITS)
FILE_TYPE_CODES = {"%photof": 4, "%photor": 8, "%videof": 16, "%videor": 32}

STATUS_NAMES: dict[int, str] = {
    0x00: "file transfer completed",
    0x02: "failed to close GPRS",
    0x03: "failed to close socket",
    0x05: "invalid response from server to init packet",
    0x11: "file unavailable or camera not configured (device disconnects)",
}
STATUS_UNAVAILABLE = 0x11


def status_name(code: int) -> str:
    """The camera's status ``code`` in words, for logs and events.

    Teltonika's protocol page documents only the codes of ``STATUS_NAMES``; their server
    tools are said to name 1-26, but those names are not published with the protocol, so
    any other code is called what it is rather than guessed.
    """
    if (name := STATUS_NAMES.get(code)) is not None:
        return name
    return f"status {code} (0x{code:02x}), not in Teltonika's published protocol"


_HDR = struct.Struct(">HH")
_U32 = struct.Struct(">I")
_INIT = struct.Struct(">HHQI")
_START = struct.Struct(">IH")
_META = struct.Struct(">BBQBHBhdd")
_META_TRIGGER_TS = struct.Struct(">Q")


def file_camera(file_id: str) -> str:
    """``front`` or ``rear`` for a file identifier such as ``%videor``."""
    return "front" if file_id.endswith("f") else "rear"


def file_kind(file_id: str) -> str:
    """``photo`` or ``video`` for a file identifier such as ``%videor``."""
    return "photo" if file_id.startswith("%photo") else "video"


def files_in_settings(settings: int) -> tuple[str, ...]:
    """The file identifiers announced by an init packet's settings field."""
    flags = settings >> 24
    return tuple(name for bit, name in FILE_BITS if flags & bit)


# Commands whose payload has one size; DATA, metadata and path answers are checked apart.
_FIXED_LENGTHS = {CMD_START: 6, CMD_SYNC: 4, CMD_STATUS: 4}


@dataclass(frozen=True, slots=True)
class InitPacket:
    """The 16-byte packet a camera opens with: ``0000 | protocol u16 | IMEI u64 | settings``."""

    protocol_id: int
    imei: str
    settings: int

    @classmethod
    def parse(cls, buf: bytes | bytearray, pos: int = 0) -> InitPacket:
        header, protocol_id, imei_int, settings = _INIT.unpack_from(buf, pos)
        if header != 0:
            raise DeviceProtocolError(f"init packet header 0x{header:04x}, expected 0x0000")
        imei = str(imei_int)
        if len(imei) != 15:
            raise DeviceProtocolError(f"IMEI {imei} is not 15 digits")
        return cls(protocol_id, imei, settings)

    @property
    def files(self) -> tuple[str, ...]:
        """The files the camera has, in the order the server asks for them."""
        return files_in_settings(self.settings)

    @property
    def adas(self) -> bool:
        """It also announces an ADAS/DSM file (which this server does not fetch)."""
        return bool((self.settings >> 24) & ADAS_BIT)

    @property
    def unknown_bits(self) -> int:
        return (self.settings >> 24) & ~KNOWN_BITS


def check_frame_length(cmd: int, length: int, largest: int) -> None:
    """Refuse a frame header whose length its command cannot have (or over ``largest``)."""
    expected = _FIXED_LENGTHS.get(cmd)
    if expected is not None and length != expected:
        raise DeviceProtocolError(f"command 0x{cmd:04x} with length {length}, expected {expected}")
    if cmd == CMD_DATA and not 3 <= length <= DATA_LEN_MAX:
        raise DeviceProtocolError(f"DATA length {length} outside 3..{DATA_LEN_MAX}")
    if cmd in (CMD_META, CMD_PATH) and not 1 <= length <= 255:
        raise DeviceProtocolError(f"command 0x{cmd:04x} with length {length}")
    if length > largest:
        raise DeviceProtocolError(f"command 0x{cmd:04x} with length {length}")


@dataclass(frozen=True, slots=True)
class FileMetadata:
    """The 0x000B answer to a metadata request (firmware 03.27.04 and newer)."""

    version: int
    file_type: int
    timestamp: datetime
    trigger: int
    length_s: int
    framerate: int
    timezone_min: int
    latitude: float
    longitude: float
    trigger_timestamp: datetime | None = None

    @classmethod
    def parse(cls, payload: bytes) -> FileMetadata:
        """Decode a metadata payload (32 bytes, or 40 with the trigger timestamp)."""
        if len(payload) < _META.size:
            raise DeviceProtocolError(f"metadata is {len(payload)} bytes, expected >= 32")
        ver, ftype, ts, trig, length, fps, tz, lat, lon = _META.unpack_from(payload)
        trigger_ts = None
        if len(payload) >= _META.size + 8:
            (tts,) = _META_TRIGGER_TS.unpack_from(payload, _META.size)
            trigger_ts = _ms_to_datetime(tts)
        return cls(ver, ftype, _ms_to_datetime(ts), trig, length, fps, tz, lat, lon, trigger_ts)

    def encode(self) -> bytes:
        """The metadata payload as a device sends it."""
        out = _META.pack(
            self.version,
            self.file_type,
            _datetime_to_ms(self.timestamp),
            self.trigger,
            self.length_s,
            self.framerate,
            self.timezone_min,
            self.latitude,
            self.longitude,
        )
        if self.trigger_timestamp is not None:
            out += _META_TRIGGER_TS.pack(_datetime_to_ms(self.trigger_timestamp))
        return out


def _ms_to_datetime(ms: int) -> datetime:
    try:
        return datetime.fromtimestamp(ms / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise DeviceProtocolError(f"timestamp {ms} ms is out of range") from exc


def _datetime_to_ms(value: datetime) -> int:
    return round(value.timestamp() * 1000)


# --- encoders: server → device -------------------------------------------------------------


def frame(cmd: int, payload: bytes = b"") -> bytes:
    """A ``cmd | len | payload`` frame."""
    return _HDR.pack(cmd, len(payload)) + payload


def encode_close() -> bytes:
    """CLOSE: end the session."""
    return frame(CMD_CLOSE)


def encode_file_request(file_id: str) -> bytes:
    """FILE REQ for ``%photof`` and friends."""
    return frame(CMD_FILE_REQ, file_id.encode("ascii"))


def encode_metadata_request(file_id: str) -> bytes:
    """Metadata request for a file identifier."""
    return frame(CMD_META_REQ, file_id.encode("ascii"))


def encode_resume(offset: int) -> bytes:
    """RESUME at a 1-based packet number."""
    return frame(CMD_RESUME, _U32.pack(offset))


def encode_repeat_init() -> bytes:
    """Ask the device to send its init packet again (bare command, no length)."""
    return CMD_REPEAT_INIT.to_bytes(2, "big")


# --- encoders: device → server (the simulator and tests use these) --------------------------


def encode_init(imei: int | str, settings: int, protocol_id: int = 5) -> bytes:
    """The 16-byte init packet."""
    return _INIT.pack(0, protocol_id, int(imei), settings)


def encode_start(packets: int, file_crc: int) -> bytes:
    """START: the number of packets and the file's CRC (0 = not given)."""
    return frame(CMD_START, _START.pack(packets, file_crc))


def encode_sync(offset: int) -> bytes:
    """SYNC: the next DATA carries this 1-based packet."""
    return frame(CMD_SYNC, _U32.pack(offset))


def encode_data(data: bytes, crc: int) -> bytes:
    """DATA: up to 1024 bytes and their CRC."""
    return _HDR.pack(CMD_DATA, len(data) + 2) + data + crc.to_bytes(2, "big")


def encode_status(code: int) -> bytes:
    """A status frame (0x11 = file unavailable)."""
    return frame(CMD_STATUS, _U32.pack(code))


def encode_metadata(meta: FileMetadata) -> bytes:
    """The 0x000B metadata answer."""
    return frame(CMD_META, meta.encode())
