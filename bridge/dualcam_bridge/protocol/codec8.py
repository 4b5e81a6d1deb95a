"""AVL side of a Teltonika tracker link, sans-IO: IMEI login, Codec 8 / 8E / 16 records, ACKs.

Server side, h11-style (no sockets, no clock)::

    conn = AvlServerConnection()
    for event in conn.receive_data(chunk):          # any fragmentation
        match event:
            case LoginRequest(imei):
                write(conn.accept_login() if allowed(imei) else conn.reject_login())
            case RecordsReceived():
                handle(event.records)
                write(conn.ack())                   # only after handling
            case BadCrc():
                pass                                # no ACK: the tracker resends
            case CommandResponse(text):
                ...                                 # answer to conn.send_command(...)

Bad input raises ``DeviceProtocolError``; the connection is then dead (close the socket).
When bad bytes follow good frames in one chunk, the good frames' events are returned first and
``state`` becomes ``AvlState.ERROR``: the next ``receive_data`` call (``b""`` will do) raises.
After ``accept_login()`` call ``receive_data(b"")`` once in case the tracker pipelined data.
``AvlTrackerConnection`` is the tracker's half, for the simulator and tests.
"""

from __future__ import annotations

import enum
import struct
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Generic, TypeVar

from ..events import Position
from . import codec12
from .codec12 import CODEC_12, CRC_SIZE, HEADER_SIZE, TYPE_COMMAND, TYPE_RESPONSE
from .crc import crc16_ibm
from .errors import DeviceProtocolError

CODEC_8 = 0x08
CODEC_8E = 0x8E
CODEC_16 = 0x10
AVL_CODECS = frozenset({CODEC_8, CODEC_8E, CODEC_16})

IMEI_LENGTH = 15
# Teltonika documents 1280 bytes as the largest AVL packet; 64 KiB leaves ample room for
# odd firmware while bounding what one connection can make us buffer.
DEFAULT_MAX_FRAME_SIZE = 64 * 1024
KEEPALIVE = 0xFF  # FMB trackers send a lone 0xFF between frames to keep NAT state alive

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_MAX_TIMESTAMP_MS = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // _MS

_HEADER = struct.Struct(">II")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_NX = struct.Struct(">HH")
_GPS = ">QBiihHBH"  # timestamp, priority, longitude, latitude, altitude, angle, satellites, speed
_RECORD_HEAD = {
    CODEC_8: struct.Struct(_GPS + "BB"),  # event IO ID, total IO count
    CODEC_8E: struct.Struct(_GPS + "HH"),
    CODEC_16: struct.Struct(_GPS + "HBB"),  # event IO ID, generation type, total IO count
}
_ID_FORMAT = {CODEC_8: "B", CODEC_8E: "H", CODEC_16: "H"}
_WIDTHS = ((1, "B"), (2, "H"), (4, "I"), (8, "Q"))
_MAX_CACHED_GROUP = 48  # bigger groups go through iter_unpack instead of a cached Struct


@dataclass(frozen=True, slots=True)
class AvlRecord:
    """One AVL record; IO values are unsigned ints, NX (Codec 8E variable-length) values bytes."""

    timestamp: datetime  # UTC, millisecond precision
    priority: int  # 0 low, 1 high, 2 panic
    longitude: float  # degrees
    latitude: float
    altitude: int  # metres
    angle: int  # degrees from north
    satellites: int
    speed: int  # km/h
    event_io_id: int  # the IO that triggered the record, 0 for periodic records
    io: dict[int, int | bytes]
    generation_type: int | None = None  # Codec 16 only

    @property
    def position(self) -> Position:
        """The record's GNSS fix as the domain type."""
        return Position(
            latitude=self.latitude,
            longitude=self.longitude,
            altitude=self.altitude,
            angle=self.angle,
            speed=self.speed,
            satellites=self.satellites,
            timestamp=self.timestamp,
        )

    @property
    def dedup_key(self) -> tuple[object, ...]:
        """A hashable identity: a resent record yields the same key."""
        return (self.timestamp, self.priority, self.event_io_id, tuple(sorted(self.io.items())))


@dataclass(frozen=True, slots=True)
class AvlPacket:
    """A decoded AVL data packet."""

    codec_id: int
    records: tuple[AvlRecord, ...]


# ---- server-side events ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoginRequest:
    """The tracker sent its IMEI; answer with ``accept_login()`` or ``reject_login()``."""

    imei: str


@dataclass(frozen=True, slots=True)
class RecordsReceived:
    """A CRC-checked AVL packet; call ``ack()`` once the records are handled."""

    codec_id: int
    records: tuple[AvlRecord, ...]


@dataclass(frozen=True, slots=True)
class BadCrc:
    """A frame failed its CRC; it is dropped unanswered and the tracker resends it."""

    codec_id: int
    received: int
    computed: int


@dataclass(frozen=True, slots=True)
class CommandResponse:
    """The tracker's Codec 12 answer to the oldest command sent with ``send_command``."""

    text: str


@dataclass(frozen=True, slots=True)
class UnsolicitedResponse:
    """A Codec 12 response while no command is outstanding (e.g. one that timed out)."""

    text: str


AvlEvent = LoginRequest | RecordsReceived | BadCrc | CommandResponse | UnsolicitedResponse


# ---- tracker-side events ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoginAnswer:
    """The server accepted (0x01) or rejected (0x00) the IMEI."""

    accepted: bool


@dataclass(frozen=True, slots=True)
class RecordsAcked:
    """The server ACKed the oldest unacknowledged packet with this record count."""

    count: int


@dataclass(frozen=True, slots=True)
class CommandReceived:
    """A Codec 12 command from the server."""

    text: str


TrackerEvent = LoginAnswer | RecordsAcked | CommandReceived | BadCrc


class AvlState(enum.Enum):
    """Where a connection is in its life."""

    AWAITING_LOGIN = "awaiting_login"  # server: IMEI not yet received; tracker: login not sent
    LOGIN_PENDING = "login_pending"  # server: LoginRequest emitted; tracker: awaiting answer
    ONLINE = "online"
    CLOSED = "closed"  # login rejected
    ERROR = "error"  # bad input seen; every further receive_data raises it again


E = TypeVar("E")


class ConnectionStateError(RuntimeError):
    """The application called a method the connection's state does not allow."""


# ---- records ---------------------------------------------------------------------------------


@lru_cache(maxsize=512)
def _group_struct(id_format: str, value_format: str, count: int) -> struct.Struct:
    return struct.Struct(">" + (id_format + value_format) * count)


def _truncated(index: int, what: str) -> DeviceProtocolError:
    return DeviceProtocolError(f"record {index + 1}: {what} runs past the end of the frame")


def decode_records(data: bytes, start: int, end: int) -> AvlPacket:
    """Decode the AVL body ``data[start:end]`` (codec ID … second count) after its CRC check."""
    if end - start < 3:
        raise DeviceProtocolError(f"AVL body of {end - start} bytes is too short")
    codec = data[start]
    head = _RECORD_HEAD.get(codec)
    if head is None:
        raise DeviceProtocolError(f"unknown codec ID {codec:#04x}")
    count, count2 = data[start + 1], data[end - 1]
    if count != count2:
        raise DeviceProtocolError(f"record count {count} does not match the second count {count2}")
    if count == 0:
        raise DeviceProtocolError("AVL packet holds no records")
    end -= 1  # the records stop before the second count
    extended = codec == CODEC_8E
    codec16 = codec == CODEC_16
    id_format = _ID_FORMAT[codec]
    id_size = 1 if codec == CODEC_8 else 2
    count_size = 2 if extended else 1
    head_size = head.size
    unpack_head = head.unpack_from
    epoch, ms = _EPOCH, _MS
    records = []
    off = start + 2
    for index in range(count):
        if off + head_size > end:
            raise _truncated(index, "the record header")
        if codec16:
            ts, pri, lon, lat, alt, angle, sats, speed, event_id, gen, _ = unpack_head(data, off)
        else:
            ts, pri, lon, lat, alt, angle, sats, speed, event_id, _ = unpack_head(data, off)
            gen = None
        # The total IO count is redundant with the group counts and not trusted.
        off += head_size
        io: dict[int, int | bytes] = {}
        for width, value_format in _WIDTHS:
            if off + count_size > end:
                raise _truncated(index, f"the {width}-byte IO count")
            n = data[off] if count_size == 1 else data[off] << 8 | data[off + 1]
            off += count_size
            if n:
                size = n * (id_size + width)
                if off + size > end:
                    raise _truncated(index, f"{n} IO elements of {width} bytes")
                if n <= _MAX_CACHED_GROUP:
                    # zip over one iterator pairs (id, value) without slicing copies.
                    flat = iter(_group_struct(id_format, value_format, n).unpack_from(data, off))
                    io.update(zip(flat, flat, strict=False))
                else:
                    element = _group_struct(id_format, value_format, 1)
                    io.update(element.iter_unpack(memoryview(data)[off : off + size]))
                off += size
        if extended:
            off = _decode_nx(data, off, end, index, io)
        if ts > _MAX_TIMESTAMP_MS:
            raise DeviceProtocolError(f"record {index + 1}: timestamp {ts} ms is out of range")
        position = (lon / 1e7, lat / 1e7, alt, angle, sats, speed)
        records.append(AvlRecord(epoch + ts * ms, pri, *position, event_id, io, gen))
    if off != end:
        raise DeviceProtocolError(f"{end - off} stray bytes after the {count} records")
    return AvlPacket(codec, tuple(records))


def _decode_nx(data: bytes, off: int, end: int, index: int, io: dict[int, int | bytes]) -> int:
    if off + 2 > end:
        raise _truncated(index, "the NX IO count")
    (n,) = _U16.unpack_from(data, off)
    off += 2
    for _ in range(n):
        if off + 4 > end:
            raise _truncated(index, "an NX element header")
        io_id, length = _NX.unpack_from(data, off)
        off += 4
        if off + length > end:
            raise DeviceProtocolError(
                f"record {index + 1}: NX element {io_id} claims {length} bytes, "
                f"{end - off} left in the frame"
            )
        io[io_id] = data[off : off + length]
        off += length
    return off


def decode_avl_packet(packet: bytes | bytearray | memoryview) -> AvlPacket:
    """Decode one whole AVL packet (preamble … CRC); a bad CRC raises ``CrcMismatch``."""
    body = bytes(codec12.unwrap(packet))
    return decode_records(body, 0, len(body))


def _fit_width(value: int) -> int:
    for width in (1, 2, 4, 8):
        if value < 1 << (8 * width):
            return width
    raise ValueError(f"IO value {value} does not fit in 8 bytes")


def _encode_io(
    record: AvlRecord, codec: int, widths: Mapping[int, int]
) -> tuple[dict[int, list[tuple[int, int]]], list[tuple[int, bytes]]]:
    groups: dict[int, list[tuple[int, int]]] = {1: [], 2: [], 4: [], 8: []}
    nx: list[tuple[int, bytes]] = []
    for io_id, value in record.io.items():
        if isinstance(value, bytes | bytearray):
            if codec != CODEC_8E:
                raise ValueError(f"IO {io_id}: variable-length values need Codec 8E")
            nx.append((io_id, bytes(value)))
            continue
        if value < 0:
            raise ValueError(f"IO {io_id}: values are unsigned, got {value}")
        width = widths.get(io_id) or _fit_width(value)
        if width not in groups or value >= 1 << (8 * width):
            raise ValueError(f"IO {io_id}: {value} does not fit in {width} bytes")
        groups[width].append((io_id, value))
    return groups, nx


def encode_record(record: AvlRecord, codec: int, widths: Mapping[int, int] | None = None) -> bytes:
    """Encode one record for ``codec``; IO ints take the smallest width unless ``widths`` says."""
    if codec not in AVL_CODECS:
        raise ValueError(f"unknown AVL codec {codec:#04x}")
    if (record.generation_type is None) == (codec == CODEC_16):
        raise ValueError("generation_type is required by Codec 16 and carried by no other codec")
    try:
        ms = (record.timestamp - _EPOCH) // _MS
    except TypeError as exc:
        raise ValueError("timestamp must be timezone-aware") from exc
    groups, nx = _encode_io(record, codec, widths or {})
    total = sum(map(len, groups.values())) + len(nx)
    head = [ms, record.priority, round(record.longitude * 1e7), round(record.latitude * 1e7)]
    head += [record.altitude, record.angle, record.satellites, record.speed, record.event_io_id]
    if codec == CODEC_16:
        head.append(record.generation_type)
    id_format = _ID_FORMAT[codec]
    count_format = ">H" if codec == CODEC_8E else ">B"
    try:
        out = [_RECORD_HEAD[codec].pack(*head, total)]
        for width, value_format in _WIDTHS:
            elements = groups[width]
            out.append(struct.pack(count_format, len(elements)))
            flat = [x for pair in elements for x in pair]
            out.append(_group_struct(id_format, value_format, len(elements)).pack(*flat))
        if codec == CODEC_8E:
            out.append(_U16.pack(len(nx)))
            out.extend(_NX.pack(io_id, len(value)) + value for io_id, value in nx)
    except struct.error as exc:
        raise ValueError(f"record does not fit codec {codec:#04x}: {exc}") from exc
    return b"".join(out)


def encode_avl_packet(
    records: Sequence[AvlRecord], codec: int = CODEC_8E, widths: Mapping[int, int] | None = None
) -> bytes:
    """Encode a whole AVL data packet (preamble … CRC) of 1-255 records."""
    if not 1 <= len(records) <= 255:
        raise ValueError(f"an AVL packet holds 1-255 records, got {len(records)}")
    body = [bytes((codec, len(records)))]
    body.extend(encode_record(record, codec, widths) for record in records)
    body.append(bytes((len(records),)))
    return codec12.wrap(b"".join(body))


# ---- login -----------------------------------------------------------------------------------


def _check_imei(raw: bytes) -> str:
    # Strict: an IMEI is exactly 15 decimal digits; no IMEISV (16) or padded forms.
    if len(raw) != IMEI_LENGTH or not raw.isdigit():
        raise DeviceProtocolError(f"IMEI {raw[:32]!r} is not 15 decimal digits")
    return raw.decode("ascii")


def encode_login(imei: str) -> bytes:
    """The tracker's first message: u16 length + ASCII IMEI."""
    raw = imei.encode("ascii", errors="replace")
    try:
        _check_imei(raw)
    except DeviceProtocolError as exc:
        raise ValueError(exc.reason) from exc
    return _U16.pack(len(raw)) + raw


# ---- connections -----------------------------------------------------------------------------


class _Connection(Generic[E]):
    """Buffering and error latching shared by both ends."""

    def __init__(self, max_frame_size: int) -> None:
        self._buf = bytearray()
        self._state = AvlState.AWAITING_LOGIN
        self._error: DeviceProtocolError | None = None
        self._max_frame_size = max_frame_size

    @property
    def state(self) -> AvlState:
        """The connection's current state."""
        return self._state

    def receive_data(self, data: bytes | bytearray | memoryview) -> list[E]:
        """Feed received bytes; returns the events they complete (``b""`` re-scans the buffer)."""
        if self._error is not None:
            raise self._error
        if self._state is AvlState.CLOSED:
            return []
        self._buf += data
        events: list[E] = []
        try:
            self._parse(events)
        except DeviceProtocolError as exc:
            self._error, self._state = exc, AvlState.ERROR
            self._buf.clear()
            # Frames decoded before the bad bytes are valid: hand them over and raise on the
            # next call, so their records can still be handled and ACKed.
            if events:
                return events
            raise
        return events

    def _parse(self, events: list[E]) -> None:
        raise NotImplementedError

    def _skip_keepalives(self) -> None:
        buf = self._buf
        if buf and buf[0] == KEEPALIVE:
            del buf[: len(buf) - len(buf.lstrip(b"\xff"))]

    def _take_frame(self) -> bytes | None:
        """Cut one enveloped frame off the buffer, checking the header as early as it can."""
        buf = self._buf
        have = len(buf)
        if have < HEADER_SIZE:
            if any(buf[:4]):
                raise DeviceProtocolError(f"expected the 00000000 preamble, got {buf[:4].hex()}")
            return None
        preamble, length = _HEADER.unpack_from(buf, 0)
        if preamble:
            raise DeviceProtocolError(f"expected the 00000000 preamble, got {preamble:08x}")
        if length > self._max_frame_size:
            raise DeviceProtocolError(
                f"data length {length} exceeds the {self._max_frame_size}-byte limit"
            )
        if length < 3:
            raise DeviceProtocolError(f"data length {length} is too short for any frame")
        if have > HEADER_SIZE:
            self._check_codec(buf[HEADER_SIZE])
        total = HEADER_SIZE + length + CRC_SIZE
        if have < total:
            return None
        frame = bytes(buf[:total])
        del buf[:total]
        return frame

    def _check_codec(self, codec: int) -> None:
        raise NotImplementedError


def _check_crc(frame: bytes) -> BadCrc | None:
    end = len(frame) - CRC_SIZE
    (received,) = _U32.unpack_from(frame, end)
    computed = crc16_ibm(memoryview(frame)[HEADER_SIZE:end])
    if received != computed:
        return BadCrc(frame[HEADER_SIZE], received, computed)
    return None


class AvlServerConnection(_Connection[AvlEvent]):
    """The server's half of one tracker connection."""

    def __init__(self, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        super().__init__(max_frame_size)
        self.imei: str | None = None
        self._unacked: deque[int] = deque()
        self._commands_outstanding = 0

    @property
    def awaiting_ack(self) -> int:
        """Number of delivered packets not yet ACKed."""
        return len(self._unacked)

    @property
    def commands_outstanding(self) -> int:
        """Commands sent whose response has not arrived (and were not forgotten)."""
        return self._commands_outstanding

    def accept_login(self) -> bytes:
        """Accept the IMEI; bytes to send."""
        self._require(AvlState.LOGIN_PENDING)
        self._state = AvlState.ONLINE
        return b"\x01"

    def reject_login(self) -> bytes:
        """Reject the IMEI; send the bytes, then close the socket."""
        self._require(AvlState.LOGIN_PENDING)
        self._state = AvlState.CLOSED
        self._buf.clear()
        return b"\x00"

    def ack(self, count: int | None = None) -> bytes:
        """ACK the oldest delivered packet (all its records by default); bytes to send."""
        if not self._unacked:
            raise ConnectionStateError("no records are waiting for an ACK")
        expected = self._unacked[0]
        count = expected if count is None else count
        # To refuse a packet send nothing: the tracker resends. An ACK of 0 is never sent
        # because the tracker could not tell it from a Codec 12 preamble.
        if not 1 <= count <= expected:
            raise ValueError(f"ACK count must be 1-{expected}, got {count}")
        self._unacked.popleft()
        return _U32.pack(count)

    def send_command(self, text: str) -> bytes:
        """Frame a Codec 12 command; its response arrives as ``CommandResponse``."""
        self._require(AvlState.ONLINE)
        frame = codec12.encode_command(text)
        self._commands_outstanding += 1
        return frame

    def forget_command(self) -> None:
        """The app gave up on the oldest command; a late answer becomes ``UnsolicitedResponse``."""
        self._commands_outstanding = max(0, self._commands_outstanding - 1)

    def _require(self, state: AvlState) -> None:
        if self._state is not state:
            raise ConnectionStateError(f"connection is {self._state.value}, not {state.value}")

    def _parse(self, events: list[E]) -> None:
        while self._buf:
            self._skip_keepalives()
            if not self._buf:
                return
            if self._state is AvlState.AWAITING_LOGIN:
                if not self._parse_login(events):
                    return
            elif self._state is AvlState.ONLINE:
                frame = self._take_frame()
                if frame is None:
                    return
                events.append(self._frame_event(frame))
            else:  # LOGIN_PENDING: hold the bytes until the app has decided
                return

    def _parse_login(self, events: list[AvlEvent]) -> bool:
        buf = self._buf
        if len(buf) < 2:
            return False
        (length,) = _U16.unpack_from(buf, 0)
        if length != IMEI_LENGTH:
            raise DeviceProtocolError(f"IMEI length {length}: an IMEI is 15 digits")
        if len(buf) < 2 + length:
            return False
        raw = bytes(buf[2 : 2 + length])
        del buf[: 2 + length]
        self.imei = _check_imei(raw)
        self._state = AvlState.LOGIN_PENDING
        events.append(LoginRequest(self.imei))
        return True

    def _check_codec(self, codec: int) -> None:
        if codec not in AVL_CODECS and codec != CODEC_12:
            raise DeviceProtocolError(f"unknown codec ID {codec:#04x}")

    def _frame_event(self, frame: bytes) -> AvlEvent:
        bad = _check_crc(frame)
        if bad is not None:
            return bad
        end = len(frame) - CRC_SIZE
        if frame[HEADER_SIZE] == CODEC_12:
            message = codec12.decode_body(memoryview(frame)[HEADER_SIZE:end])
            if message.type != TYPE_RESPONSE:
                raise DeviceProtocolError("tracker sent a Codec 12 command; only responses go up")
            if self._commands_outstanding == 0:
                return UnsolicitedResponse(message.text)
            self._commands_outstanding -= 1
            return CommandResponse(message.text)
        packet = decode_records(frame, HEADER_SIZE, end)
        self._unacked.append(len(packet.records))
        return RecordsReceived(packet.codec_id, packet.records)


class AvlTrackerConnection(_Connection[TrackerEvent]):
    """The tracker's half: log in, send records, read ACKs and commands, answer them."""

    def __init__(self, imei: str, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        super().__init__(max_frame_size)
        self._login = encode_login(imei)
        self.imei = imei
        self._sent: deque[int] = deque()

    @property
    def awaiting_ack(self) -> int:
        """Packets sent and not yet ACKed."""
        return len(self._sent)

    def login(self) -> bytes:
        """The login bytes; the answer arrives as ``LoginAnswer``."""
        if self._state is not AvlState.AWAITING_LOGIN:
            raise ConnectionStateError("login was already sent")
        self._state = AvlState.LOGIN_PENDING
        return self._login

    def send_records(
        self,
        records: Sequence[AvlRecord],
        codec: int = CODEC_8E,
        widths: Mapping[int, int] | None = None,
    ) -> bytes:
        """Encode a packet; its ACK arrives as ``RecordsAcked``."""
        if self._state is not AvlState.ONLINE:
            raise ConnectionStateError(f"connection is {self._state.value}, not online")
        packet = encode_avl_packet(records, codec, widths)
        self._sent.append(len(records))
        return packet

    def resend_pending(self) -> None:
        """Forget unACKed packets (after an ACK timeout, before sending them again)."""
        self._sent.clear()

    def send_response(self, text: str) -> bytes:
        """Frame the answer to a ``CommandReceived``."""
        return codec12.encode_response(text)

    def _parse(self, events: list[E]) -> None:
        buf = self._buf
        while buf:
            if self._state is AvlState.LOGIN_PENDING:
                if buf[0] not in (0, 1):
                    raise DeviceProtocolError(f"login answer {buf[0]:#04x} is neither 00 nor 01")
                accepted = buf[0] == 1
                del buf[:1]
                self._state = AvlState.ONLINE if accepted else AvlState.CLOSED
                events.append(LoginAnswer(accepted))
                if not accepted:
                    buf.clear()
            elif self._state is AvlState.ONLINE:
                if len(buf) < 4:
                    return
                if any(buf[:4]):  # a non-zero u32 can only be an ACK
                    events.append(self._take_ack())
                    continue
                frame = self._take_frame()
                if frame is None:
                    return
                events.append(self._command_event(frame))
            else:
                raise DeviceProtocolError("server sent data before the login")

    def _take_ack(self) -> RecordsAcked:
        (count,) = _U32.unpack_from(self._buf, 0)
        if not self._sent:
            raise DeviceProtocolError(f"ACK of {count} with no packet outstanding")
        if count > self._sent[0]:
            raise DeviceProtocolError(f"ACK of {count} for a packet of {self._sent[0]} records")
        self._sent.popleft()
        del self._buf[:4]
        return RecordsAcked(count)

    def _check_codec(self, codec: int) -> None:
        if codec != CODEC_12:
            raise DeviceProtocolError(f"server sent codec {codec:#04x}; only Codec 12 goes down")

    def _command_event(self, frame: bytes) -> CommandReceived | BadCrc:
        bad = _check_crc(frame)
        if bad is not None:
            return bad
        message = codec12.decode_body(memoryview(frame)[HEADER_SIZE : len(frame) - CRC_SIZE])
        if message.type != TYPE_COMMAND:
            raise DeviceProtocolError("server sent a Codec 12 response; only commands go down")
        return CommandReceived(message.text)
