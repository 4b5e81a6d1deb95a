"""The AVL envelope: whole-frame wrap/unwrap and cutting frames out of a byte stream."""

from __future__ import annotations

import pytest

from dualcam_bridge.protocol.envelope import CrcMismatch, frame_crc, take_frame, unwrap, wrap
from dualcam_bridge.protocol.errors import DeviceProtocolError

GETINFO = bytes.fromhex("000000000000000F0C010500000007676574696E666F0100004312")
GETINFO_BODY = bytes.fromhex("0C010500000007676574696E666F01")


def any_codec(codec: int) -> None:
    pass


def only_codec_12(codec: int) -> None:
    if codec != 0x0C:
        raise DeviceProtocolError(f"codec {codec:#04x} refused")


def test_wrap_and_unwrap_are_inverse() -> None:
    assert wrap(GETINFO_BODY) == GETINFO
    assert bytes(unwrap(GETINFO)) == GETINFO_BODY
    assert frame_crc(GETINFO) == (0x4312, 0x4312)


def test_envelope_errors() -> None:
    with pytest.raises(DeviceProtocolError, match="preamble"):
        unwrap(b"\x00\x00\x00\x01" + GETINFO[4:])
    with pytest.raises(DeviceProtocolError, match="does not match"):
        unwrap(GETINFO + b"\x00")
    with pytest.raises(DeviceProtocolError, match="shorter than its envelope"):
        unwrap(GETINFO[:10])
    with pytest.raises(CrcMismatch, match="frame carries 0x00004313, data gives 0x4312"):
        unwrap(GETINFO[:-1] + b"\x13")


def test_take_frame_cuts_whole_frames_and_keeps_the_rest() -> None:
    buf = bytearray(GETINFO + GETINFO[:5])
    assert take_frame(buf, 1024, any_codec) == GETINFO
    assert buf == GETINFO[:5]
    assert take_frame(buf, 1024, any_codec) is None  # incomplete: wait
    buf += GETINFO[5:]
    assert take_frame(buf, 1024, any_codec) == GETINFO and buf == b""
    assert take_frame(buf, 1024, any_codec) is None


@pytest.mark.parametrize(
    ("data", "limit", "match"),
    [
        (b"\x00\x01", 1024, "expected the 00000000 preamble, got 0001"),
        (b"\x00\x00\x00\x00\x00\x00\x04\x01", 1024, "data length 1025 exceeds the 1024-byte limit"),
        (b"\x00\x00\x00\x00\x00\x00\x00\x02", 1024, "data length 2 is too short"),
        (b"\x00\x00\x00\x00\x00\x00\x00\x0f\x08", 1024, "codec 0x08 refused"),
    ],
)
def test_take_frame_refuses_a_bad_header_before_the_frame_is_complete(
    data: bytes, limit: int, match: str
) -> None:
    with pytest.raises(DeviceProtocolError, match=match):
        take_frame(bytearray(data), limit, only_codec_12)
