"""Codec 8 / 8E / 16 records: wiki vectors, encoder refusals, round trips, decoder fuzzing.

The vectors here are shared with ``test_avl_connection`` (login, framing, ACKs, commands).
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dualcam_bridge.protocol import envelope
from dualcam_bridge.protocol.codec8 import (
    CODEC_8,
    CODEC_8E,
    CODEC_16,
    AvlRecord,
    decode_avl_packet,
    decode_records,
    encode_avl_packet,
    encode_record,
)
from dualcam_bridge.protocol.errors import DeviceProtocolError, LocalProtocolError

IMEI = "356307042441013"
LOGIN = bytes.fromhex("000F333536333037303432343431303133")

# Teltonika wiki "Codec" page examples.
CODEC8_ONE = bytes.fromhex(
    "000000000000003608010000016B40D8EA30010000000000000000000000000000000105021503010101425E0F01"
    "F10000601A014E0000000000000000010000C7CF"
)
CODEC8_SECOND = bytes.fromhex(
    "000000000000002808010000016B40D9AD80010000000000000000000000000000000103021503010101425E1000"
    "00010000F22A"
)
CODEC8_TWO_RECORDS = bytes.fromhex(
    "000000000000004308020000016B40D57B480100000000000000000000000000000001010101000000000000016B"
    "40D5C198010000000000000000000000000000000101010101000000020000252C"
)
CODEC8E_ONE = bytes.fromhex(
    "000000000000004A8E010000016B412CEE000100000000000000000000000000000000010005000100010100010011"
    "001D00010010015E2C880002000B000000003544C87A000E000000001DD7E06A00000100002994"
)
CODEC16_TWO = bytes.fromhex(
    "000000000000005F10020000016BDBC7833000000000000000000000000000000000000B0504020001000003000200"
    "0B00270042563A00000000016BDBC7871800000000000000000000000000000000000B05040200010000030002000B"
    "00260042563A00000200005FB3"
)
# Hand-assembled Codec 8E record: negative longitude and altitude, AVL 499/498, one NX element.
CODEC8E_HAND = bytes.fromhex(
    "00000000000000368E010000018BCFE5680001D3E6AEFC1849B7F5FEAE00B40C005001F30003000201F30301F201"
    "000000000000000101010003AABBCC010000B1DC"
)
GETINFO_RESPONSE = bytes.fromhex(
    "00000000000000900C010600000088494E493A323031392F372F323220373A3232205254433A323031392F372F3232"
    "20373A3533205253543A32204552523A312053523A302042523A302043463A302046473A3020464C3A302054553A30"
    "2F302055543A3020534D533A30204E4F4750533A303A3330204750533A31205341543A302052533A332052463A3635"
    "2053463A31204D443A30010000C78F"
)


def ms(value: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=value)


def frame(body_hex: str) -> bytes:
    """A frame with a correct envelope and CRC around a hand-written body."""
    return envelope.wrap(bytes.fromhex(body_hex))


GPS_ZERO = "00" * 15


# ---- wiki vectors ----------------------------------------------------------------------------


def test_codec8_wiki_vector_decodes_to_documented_values() -> None:
    packet = decode_avl_packet(CODEC8_ONE)
    assert packet.codec_id == CODEC_8
    (record,) = packet.records
    assert record == AvlRecord(
        timestamp=ms(1560161086000),  # 2019-06-10 10:04:46 UTC
        priority=1,
        longitude=0.0,
        latitude=0.0,
        altitude=0,
        angle=0,
        satellites=0,
        speed=0,
        event_io_id=1,
        io={21: 3, 1: 1, 66: 24079, 241: 24602, 78: 0},
    )
    assert record.timestamp == datetime(2019, 6, 10, 10, 4, 46, tzinfo=UTC)


def test_codec8_wiki_second_and_two_record_vectors() -> None:
    (record,) = decode_avl_packet(CODEC8_SECOND).records
    assert (record.timestamp, record.io) == (ms(1560161136000), {21: 3, 1: 1, 66: 24080})
    first, second = decode_avl_packet(CODEC8_TWO_RECORDS).records
    assert (first.timestamp, first.io, first.priority) == (ms(1560160861000), {1: 0}, 1)
    assert (second.timestamp, second.io) == (ms(1560160879000), {1: 1})


def test_codec8e_wiki_vector_decodes_to_documented_values() -> None:
    packet = decode_avl_packet(CODEC8E_ONE)
    assert packet.codec_id == CODEC_8E
    (record,) = packet.records
    assert record.timestamp == ms(1560166592000)
    assert (record.priority, record.event_io_id, record.generation_type) == (1, 1, None)
    assert record.io == {1: 1, 17: 0x1D, 16: 0x015E2C88, 11: 0x3544C87A, 14: 0x1DD7E06A}
    assert list(record.io) == [1, 17, 16, 11, 14]  # wire order is kept


def test_codec16_wiki_vector_decodes_to_documented_values() -> None:
    packet = decode_avl_packet(CODEC16_TWO)
    assert packet.codec_id == CODEC_16
    first, second = packet.records
    assert first.timestamp == ms(1562760414000)
    assert second.timestamp == ms(1562760415000)
    for record, io11 in ((first, 39), (second, 38)):
        assert (record.event_io_id, record.generation_type, record.priority) == (11, 5, 0)
        assert record.io == {1: 0, 3: 0, 11: io11, 66: 22074}


def test_hand_assembled_8e_record_signed_fields_and_nx() -> None:
    (record,) = decode_avl_packet(CODEC8E_HAND).records
    assert record.timestamp == ms(1700000000000)
    assert record.longitude == pytest.approx(-73.9856644, abs=1e-9)
    assert record.latitude == pytest.approx(40.7484405, abs=1e-9)
    assert (record.altitude, record.angle, record.satellites, record.speed) == (-338, 180, 12, 80)
    assert record.event_io_id == 499
    assert record.io == {499: 3, 498: 1, 257: b"\xaa\xbb\xcc"}


@pytest.mark.parametrize(
    ("vector", "codec", "widths"),
    [
        (CODEC8_ONE, CODEC_8, {241: 4, 78: 8}),
        (CODEC8_TWO_RECORDS, CODEC_8, None),
        (CODEC8E_ONE, CODEC_8E, {17: 2, 11: 8, 14: 8}),
        (CODEC16_TWO, CODEC_16, {66: 2, 11: 2}),
        (CODEC8E_HAND, CODEC_8E, None),
    ],
)
def test_encoder_reproduces_wiki_bytes(vector: bytes, codec: int, widths: dict | None) -> None:
    records = decode_avl_packet(vector).records
    assert encode_avl_packet(records, codec, widths) == vector


# ---- encoder refusals ------------------------------------------------------------------------


def _record(**changes: object) -> AvlRecord:
    base = dict(
        timestamp=ms(1700000000000),
        priority=0,
        longitude=25.0,
        latitude=54.0,
        altitude=100,
        angle=0,
        satellites=9,
        speed=0,
        event_io_id=0,
        io={},
    )
    return AvlRecord(**{**base, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("record", "codec", "match"),
    [
        (_record(), CODEC_16, "generation_type"),
        (_record(generation_type=5), CODEC_8, "generation_type"),
        (_record(io={300: 1}), CODEC_8, "does not fit"),
        (_record(event_io_id=499), CODEC_8, "does not fit"),
        (_record(io={1: b"x"}), CODEC_8, "need Codec 8E"),
        (_record(io={1: -1}), CODEC_8E, "unsigned"),
        (_record(io={1: 2**64}), CODEC_8E, "8 bytes"),
        (_record(timestamp=datetime(2024, 1, 1)), CODEC_8E, "timezone-aware"),
        (_record(longitude=400.0), CODEC_8E, "does not fit"),
        (_record(), 0x0D, "unknown AVL codec"),
    ],
)
def test_encoder_refuses(record: AvlRecord, codec: int, match: str) -> None:
    with pytest.raises(LocalProtocolError, match=match):
        encode_record(record, codec)


def test_encoder_refuses_empty_packets_and_bad_widths() -> None:
    with pytest.raises(LocalProtocolError, match="1-255"):
        encode_avl_packet([])
    with pytest.raises(LocalProtocolError, match="fit in 1 bytes"):
        encode_record(_record(io={1: 300}), CODEC_8E, {1: 1})


@pytest.mark.parametrize("codec", [CODEC_8, CODEC_8E, CODEC_16])
def test_large_io_groups_round_trip(codec: int) -> None:
    io: dict[int, int | bytes] = {i: i % 200 for i in range(1, 201)}  # past the cached Structs
    io |= {201 + i: 70000 + i for i in range(50)}
    record = _record(io=io, generation_type=3 if codec == CODEC_16 else None)
    assert decode_avl_packet(encode_avl_packet([record], codec)).records == (record,)


# ---- properties ------------------------------------------------------------------------------

_MS_MAX = 253402300799999  # 9999-12-31T23:59:59.999Z


@st.composite
def avl_records(draw: st.DrawFn, codec: int) -> AvlRecord:
    id_max = 255 if codec == CODEC_8 else 65535
    value = st.integers(0, 2**64 - 1)
    if codec == CODEC_8E:
        value = st.one_of(value, st.binary(max_size=24))
    return AvlRecord(
        timestamp=ms(draw(st.integers(0, _MS_MAX))),
        priority=draw(st.integers(0, 255)),
        longitude=draw(st.integers(-(2**31), 2**31 - 1)) / 1e7,
        latitude=draw(st.integers(-(2**31), 2**31 - 1)) / 1e7,
        altitude=draw(st.integers(-(2**15), 2**15 - 1)),
        angle=draw(st.integers(0, 65535)),
        satellites=draw(st.integers(0, 255)),
        speed=draw(st.integers(0, 65535)),
        event_io_id=draw(st.integers(0, id_max)),
        io=draw(st.dictionaries(st.integers(0, id_max), value, max_size=10)),
        generation_type=draw(st.integers(0, 255)) if codec == CODEC_16 else None,
    )


@st.composite
def packets(draw: st.DrawFn) -> tuple[int, list[AvlRecord]]:
    codec = draw(st.sampled_from([CODEC_8, CODEC_8E, CODEC_16]))
    return codec, draw(st.lists(avl_records(codec), min_size=1, max_size=4))


@given(packets())
@settings(max_examples=300, deadline=None)
def test_round_trip_all_codecs(packet: tuple[int, list[AvlRecord]]) -> None:
    codec, records = packet
    decoded = decode_avl_packet(encode_avl_packet(records, codec))
    assert decoded.codec_id == codec
    assert decoded.records == tuple(records)


# ---- fuzzing: only DeviceProtocolError may escape from the decoder -------------------------


_FUZZ = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@given(st.sampled_from([CODEC_8, CODEC_8E, CODEC_16, 0x0C]), st.binary(max_size=400))
@_FUZZ
def test_fuzz_record_decoder_with_valid_crc(codec: int, rest: bytes) -> None:
    body = bytes([codec]) + rest
    with contextlib.suppress(DeviceProtocolError):
        decode_records(body, 0, len(body))
    with contextlib.suppress(DeviceProtocolError):
        decode_avl_packet(envelope.wrap(body))


def test_every_truncation_of_a_frame_is_a_device_protocol_error() -> None:
    for cut in range(len(CODEC8E_HAND)):
        with pytest.raises(DeviceProtocolError):
            decode_avl_packet(CODEC8E_HAND[:cut])
