"""Codec 12: exact command and response frames, every malformed frame, round trip, fuzzing."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dualcam_bridge.protocol.codec12 import (
    TYPE_COMMAND,
    Codec12Message,
    decode_body,
    decode_command,
    decode_response,
    encode_command,
    encode_response,
)
from dualcam_bridge.protocol.envelope import CrcMismatch, unwrap, wrap
from dualcam_bridge.protocol.errors import DeviceProtocolError, LocalProtocolError

GETINFO = bytes.fromhex("000000000000000F0C010500000007676574696E666F0100004312")
GETIO = bytes.fromhex("000000000000000D0C010500000005676574696F01000000CB")
# Teltonika wiki "Codec" page: the tracker's answer to getinfo.
GETINFO_RESPONSE = bytes.fromhex(
    "00000000000000900C010600000088494E493A323031392F372F323220373A3232205254433A323031392F372F3232"
    "20373A3533205253543A32204552523A312053523A302042523A302043463A302046473A3020464C3A302054553A30"
    "2F302055543A3020534D533A30204E4F4750533A303A3330204750533A31205341543A302052533A332052463A3635"
    "2053463A31204D443A30010000C78F"
)
GETINFO_TEXT = (
    "INI:2019/7/22 7:22 RTC:2019/7/22 7:53 RST:2 ERR:1 SR:0 BR:0 CF:0 FG:0 FL:0 TU:0/0 UT:0 "
    "SMS:0 NOGPS:0:30 GPS:1 SAT:0 RS:3 RF:65 SF:1 MD:0"
)


def test_getinfo_command_bytes() -> None:
    assert encode_command("getinfo") == GETINFO


def test_getio_command_bytes() -> None:
    assert encode_command("getio") == GETIO


def test_commands_decode_back() -> None:
    assert decode_command(GETINFO) == "getinfo"
    assert decode_command(GETIO) == "getio"


def test_getinfo_response_vector() -> None:
    assert GETINFO_RESPONSE.startswith(bytes.fromhex("00000000000000900C010600000088494E493A"))
    assert GETINFO_RESPONSE.endswith(bytes.fromhex("010000C78F"))
    assert decode_response(GETINFO_RESPONSE) == GETINFO_TEXT
    assert encode_response(GETINFO_TEXT) == GETINFO_RESPONSE


def test_camreq_command_bytes_are_the_text_verbatim() -> None:
    frame = encode_command("camreq:0,3,1795694400,10")
    assert frame[15:-5] == b"camreq:0,3,1795694400,10"
    assert decode_body(unwrap(frame)) == Codec12Message(TYPE_COMMAND, "camreq:0,3,1795694400,10")


def test_bad_crc() -> None:
    with pytest.raises(CrcMismatch, match="CRC mismatch") as info:
        decode_command(GETINFO[:-1] + b"\x13")
    assert (info.value.received, info.value.computed) == (0x4313, 0x4312)


def test_wrong_type_for_the_direction() -> None:
    with pytest.raises(DeviceProtocolError, match="expected Codec 12 type 0x06, got 0x05"):
        decode_response(GETINFO)
    with pytest.raises(DeviceProtocolError, match="expected Codec 12 type 0x05, got 0x06"):
        decode_command(GETINFO_RESPONSE)


def test_unknown_type() -> None:
    with pytest.raises(DeviceProtocolError, match="unknown Codec 12 type 0x11"):
        decode_body(bytes.fromhex("0C0111000000014101"))


def test_quantity_other_than_one() -> None:
    with pytest.raises(DeviceProtocolError, match="quantities 2 and 2"):
        decode_body(bytes.fromhex("0C020600000001" + "41" + "02"))


def test_size_not_matching_the_body() -> None:
    with pytest.raises(DeviceProtocolError, match="text size 5"):
        decode_body(bytes.fromhex("0C010600000005" + "41" + "01"))


def test_short_body() -> None:
    with pytest.raises(DeviceProtocolError, match="too short"):
        decode_body(b"\x0c\x01\x06")


def test_wrong_codec_in_body() -> None:
    with pytest.raises(DeviceProtocolError, match="expected codec 0x0C"):
        decode_body(bytes.fromhex("0D010600000001" + "41" + "01"))


def test_non_ascii_command_text_is_refused_locally() -> None:
    with pytest.raises(LocalProtocolError, match="Codec 12 text must be ASCII"):
        encode_command("camreq:1,1 ✓")


def test_non_utf8_reply_bytes_are_replaced_not_fatal() -> None:
    frame = wrap(bytes.fromhex("0C010600000002FF41" + "01"))
    assert decode_response(frame) == "\ufffdA"


@given(st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=127), max_size=300))
@settings(max_examples=200, deadline=None)
def test_round_trip(text: str) -> None:
    assert decode_command(encode_command(text)) == text
    assert decode_response(encode_response(text)) == text


@given(st.binary(max_size=300))
@settings(max_examples=1500, deadline=None)
def test_fuzz_only_device_protocol_error(data: bytes) -> None:
    for decode in (decode_command, decode_response):
        for candidate in (data, wrap(data), wrap(b"\x0c" + data)):
            with contextlib.suppress(DeviceProtocolError):
                decode(candidate)
