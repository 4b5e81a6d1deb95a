"""Codec 8 / 8E / 16: AVL records to and from bytes, sans-IO and stateless.

An AVL data frame is the common envelope (``envelope.py``) around this body::

    codec ID | record count | record … | record count

and each record is::

    timestamp u64 ms | priority u8 | longitude i32 | latitude i32 (1e-7 degrees) |
    altitude i16 | angle u16 | satellites u8 | speed u16 |
    event IO ID | [generation type u8, Codec 16] | total IO count |
    1-, 2-, 4- and 8-byte IO groups (count, then id/value pairs) | [NX group, Codec 8E]

IDs and counts are 1 byte in Codec 8, 2 bytes in 8E; Codec 16 has 2-byte IDs and 1-byte
counts. ``AvlRecord`` is this module's own type: the domain (``avl/tracker_state.py``) turns
it into positions and events. The connection that carries these frames (login, ACKs,
commands) is ``avl_connection.py``.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from .envelope import Bytes, unwrap, wrap
from .errors import DeviceProtocolError, LocalProtocolError

CODEC_8 = 0x08
CODEC_8E = 0x8E
CODEC_16 = 0x10
AVL_CODECS = frozenset({CODEC_8, CODEC_8E, CODEC_16})

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_MAX_TIMESTAMP_MS = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // _MS

_U16 = struct.Struct(">H")
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


@dataclass(frozen=True, slots=True)
class AvlPacket:
    """A decoded AVL data packet."""

    codec_id: int
    records: tuple[AvlRecord, ...]


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


def decode_avl_packet(packet: Bytes) -> AvlPacket:
    """Decode one whole AVL packet (preamble … CRC); a bad CRC raises ``CrcMismatch``."""
    body = bytes(unwrap(packet))
    return decode_records(body, 0, len(body))


def _fit_width(value: int) -> int:
    for width in (1, 2, 4, 8):
        if value < 1 << (8 * width):
            return width
    raise LocalProtocolError(f"IO value {value} does not fit in 8 bytes")


def _encode_io(
    record: AvlRecord, codec: int, widths: Mapping[int, int]
) -> tuple[dict[int, list[tuple[int, int]]], list[tuple[int, bytes]]]:
    groups: dict[int, list[tuple[int, int]]] = {1: [], 2: [], 4: [], 8: []}
    nx: list[tuple[int, bytes]] = []
    for io_id, value in record.io.items():
        if isinstance(value, bytes | bytearray):
            if codec != CODEC_8E:
                raise LocalProtocolError(f"IO {io_id}: variable-length values need Codec 8E")
            nx.append((io_id, bytes(value)))
            continue
        if value < 0:
            raise LocalProtocolError(f"IO {io_id}: values are unsigned, got {value}")
        width = widths.get(io_id) or _fit_width(value)
        if width not in groups or value >= 1 << (8 * width):
            raise LocalProtocolError(f"IO {io_id}: {value} does not fit in {width} bytes")
        groups[width].append((io_id, value))
    return groups, nx


def encode_record(record: AvlRecord, codec: int, widths: Mapping[int, int] | None = None) -> bytes:
    """Encode one record for ``codec``; IO ints take the smallest width unless ``widths`` says."""
    if codec not in AVL_CODECS:
        raise LocalProtocolError(f"unknown AVL codec {codec:#04x}")
    if (record.generation_type is None) == (codec == CODEC_16):
        raise LocalProtocolError(
            "generation_type is required by Codec 16 and carried by no other codec"
        )
    try:
        ms = (record.timestamp - _EPOCH) // _MS
    except TypeError as exc:
        raise LocalProtocolError("timestamp must be timezone-aware") from exc
    groups, nx = _encode_io(record, codec, widths or {})
    total = sum(map(len, groups.values())) + len(nx)
    head = [ms, record.priority, round(record.longitude * 1e7), round(record.latitude * 1e7)]
    head += [record.altitude, record.angle, record.satellites, record.speed, record.event_io_id]
    if record.generation_type is not None:  # set exactly when codec is CODEC_16 (see above)
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
        raise LocalProtocolError(f"record does not fit codec {codec:#04x}: {exc}") from exc
    return b"".join(out)


def encode_avl_packet(
    records: Sequence[AvlRecord], codec: int = CODEC_8E, widths: Mapping[int, int] | None = None
) -> bytes:
    """Encode a whole AVL data packet (preamble … CRC) of 1-255 records."""
    if not 1 <= len(records) <= 255:
        raise LocalProtocolError(f"an AVL packet holds 1-255 records, got {len(records)}")
    body = [bytes((codec, len(records)))]
    body.extend(encode_record(record, codec, widths) for record in records)
    body.append(bytes((len(records),)))
    return wrap(b"".join(body))
