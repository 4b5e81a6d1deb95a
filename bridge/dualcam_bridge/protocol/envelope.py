"""The TCP envelope every AVL codec (8, 8E, 12, 16) travels in, sans-IO.

After the IMEI login each frame, in both directions, is::

    00000000 | data length u32 | codec ID | count 1 | ... | count 2 | CRC u32
               (data length counts codec ID … count 2)

The CRC field holds CRC-16/IBM of the data bytes in its low 16 bits. The codec modules own
what lies between the counts; this module cuts frames out of a byte stream (``take_frame``),
checks their CRC (``frame_crc``) and wraps/unwraps whole frames.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from .crc import crc16_ibm
from .errors import DeviceProtocolError

HEADER_SIZE = 8  # preamble + data length
CRC_SIZE = 4
MIN_DATA_LENGTH = 3  # codec ID + two counts: the smallest body any codec has

_HEADER = struct.Struct(">II")
_U32 = struct.Struct(">I")

Bytes = bytes | bytearray | memoryview


class CrcMismatch(DeviceProtocolError):
    """A frame whose CRC field does not match its data."""

    def __init__(self, received: int, computed: int) -> None:
        super().__init__(
            f"CRC mismatch: frame carries {received:#010x}, data gives {computed:#06x}"
        )
        self.received = received
        self.computed = computed


def wrap(body: bytes | bytearray) -> bytes:
    """Put a frame body (codec ID … second count) in its preamble, length and CRC envelope."""
    return _HEADER.pack(0, len(body)) + bytes(body) + _U32.pack(crc16_ibm(body))


def unwrap(frame: Bytes) -> memoryview:
    """Check one whole frame's preamble, length and CRC and return its body."""
    view = memoryview(frame)
    if len(view) < HEADER_SIZE + CRC_SIZE:
        raise DeviceProtocolError(f"frame of {len(view)} bytes is shorter than its envelope")
    preamble, length = _HEADER.unpack_from(view, 0)
    if preamble != 0:
        raise DeviceProtocolError(f"expected the 00000000 preamble, got {preamble:08x}")
    if length != len(view) - HEADER_SIZE - CRC_SIZE:
        raise DeviceProtocolError(f"data length {length} does not match the {len(view)}-byte frame")
    body = view[HEADER_SIZE : HEADER_SIZE + length]
    received, computed = frame_crc(view)
    if received != computed:
        raise CrcMismatch(received, computed)
    return body


def frame_crc(frame: Bytes) -> tuple[int, int]:
    """(CRC field, CRC of the data) of one whole frame as cut by ``take_frame``."""
    end = len(frame) - CRC_SIZE
    (received,) = _U32.unpack_from(frame, end)
    return received, crc16_ibm(memoryview(frame)[HEADER_SIZE:end])


def take_frame(
    buf: bytearray, max_frame_size: int, check_codec: Callable[[int], None]
) -> bytes | None:
    """Cut one whole frame off the front of ``buf``, or None while it is incomplete.

    The header is checked as early as its bytes are there, so a peer cannot make us buffer
    a frame we would refuse anyway: a non-zero preamble, a data length over
    ``max_frame_size`` or under ``MIN_DATA_LENGTH``, and (through ``check_codec``, which
    raises ``DeviceProtocolError``) a codec ID this end does not accept.
    """
    have = len(buf)
    if have < HEADER_SIZE:
        if any(buf[:4]):
            raise DeviceProtocolError(f"expected the 00000000 preamble, got {buf[:4].hex()}")
        return None
    preamble, length = _HEADER.unpack_from(buf, 0)
    if preamble:
        raise DeviceProtocolError(f"expected the 00000000 preamble, got {preamble:08x}")
    if length > max_frame_size:
        raise DeviceProtocolError(f"data length {length} exceeds the {max_frame_size}-byte limit")
    if length < MIN_DATA_LENGTH:
        raise DeviceProtocolError(f"data length {length} is too short for any frame")
    if have > HEADER_SIZE:
        check_codec(buf[HEADER_SIZE])
    total = HEADER_SIZE + length + CRC_SIZE
    if have < total:
        return None
    frame = bytes(buf[:total])
    del buf[:total]
    return frame
