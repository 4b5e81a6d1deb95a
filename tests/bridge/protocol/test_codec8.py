"""AVL side: wiki vectors, login, framing, every bad input, round trips, re-chunking, fuzzing."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dualcam_bridge.events import Position
from dualcam_bridge.protocol import codec12
from dualcam_bridge.protocol.codec8 import (
    CODEC_8,
    CODEC_8E,
    CODEC_16,
    AvlRecord,
    AvlServerConnection,
    AvlState,
    AvlTrackerConnection,
    BadCrc,
    CommandReceived,
    CommandResponse,
    ConnectionStateError,
    LoginAnswer,
    LoginRequest,
    RecordsAcked,
    RecordsReceived,
    UnsolicitedResponse,
    decode_avl_packet,
    decode_records,
    encode_avl_packet,
    encode_login,
    encode_record,
)
from dualcam_bridge.protocol.errors import DeviceProtocolError

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


def online() -> AvlServerConnection:
    conn = AvlServerConnection()
    assert conn.receive_data(LOGIN) == [LoginRequest(IMEI)]
    assert conn.accept_login() == b"\x01"
    return conn


def feed(conn: AvlServerConnection, chunks: list[bytes]) -> list[object]:
    """Feed chunks the way a server does: accept the login, ACK every packet."""
    events: list[object] = []

    def handle(batch: list[object]) -> None:
        for event in batch:
            events.append(event)
            if isinstance(event, LoginRequest):
                conn.accept_login()
                handle(conn.receive_data(b""))  # bytes pipelined behind the login
            elif isinstance(event, RecordsReceived):
                conn.ack()

    for chunk in chunks:
        handle(conn.receive_data(chunk))
    return events


def frame(body_hex: str) -> bytes:
    """A frame with a correct envelope and CRC around a hand-written body."""
    return codec12.wrap(bytes.fromhex(body_hex))


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
    assert record.position == Position(
        40.7484405, -73.9856644, -338, 180, 80, 12, ms(1700000000000)
    )


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


def test_encode_login_matches_wiki() -> None:
    assert encode_login(IMEI) == LOGIN


# ---- login -----------------------------------------------------------------------------------


def test_login_accept_then_records_and_ack() -> None:
    conn = AvlServerConnection()
    assert conn.state is AvlState.AWAITING_LOGIN
    assert conn.receive_data(LOGIN) == [LoginRequest(IMEI)]
    assert conn.state is AvlState.LOGIN_PENDING and conn.imei == IMEI
    assert conn.accept_login() == b"\x01"
    events = conn.receive_data(CODEC8E_ONE)
    assert events == [RecordsReceived(CODEC_8E, decode_avl_packet(CODEC8E_ONE).records)]
    assert conn.awaiting_ack == 1
    assert conn.ack() == b"\x00\x00\x00\x01"
    assert conn.awaiting_ack == 0


def test_login_reject_closes_and_ignores_further_bytes() -> None:
    conn = AvlServerConnection()
    conn.receive_data(LOGIN)
    assert conn.reject_login() == b"\x00"
    assert conn.state is AvlState.CLOSED
    assert conn.receive_data(CODEC8E_ONE) == []
    with pytest.raises(ConnectionStateError):
        conn.accept_login()


def test_bytes_pipelined_behind_login_wait_for_the_decision() -> None:
    conn = AvlServerConnection()
    assert conn.receive_data(LOGIN + CODEC8_ONE) == [LoginRequest(IMEI)]
    conn.accept_login()
    (event,) = conn.receive_data(b"")
    assert isinstance(event, RecordsReceived)


def test_login_non_numeric_imei() -> None:
    with pytest.raises(DeviceProtocolError, match="15 decimal digits"):
        AvlServerConnection().receive_data(b"\x00\x0f35630704244101A")


def test_login_over_long_imei_rejected_from_the_length_alone() -> None:
    with pytest.raises(DeviceProtocolError, match="IMEI length 16"):
        AvlServerConnection().receive_data(b"\x00\x10")


def test_login_huge_imei_length() -> None:
    # (A leading 0xFF would be a keepalive, so the biggest length a tracker can claim is 0xFEFF.)
    with pytest.raises(DeviceProtocolError, match="IMEI length 65279"):
        AvlServerConnection().receive_data(b"\xfe\xff" + b"1" * 20)


def test_login_short_imei() -> None:
    with pytest.raises(DeviceProtocolError, match="IMEI length 14"):
        AvlServerConnection().receive_data(b"\x00\x0e" + b"1" * 14)


def test_login_padded_imei() -> None:
    with pytest.raises(DeviceProtocolError, match="15 decimal digits"):
        AvlServerConnection().receive_data(b"\x00\x0f 35630704244101")


def test_keepalive_bytes_are_skipped() -> None:
    conn = AvlServerConnection()
    assert conn.receive_data(b"\xff" + LOGIN) == [LoginRequest(IMEI)]
    conn.accept_login()
    assert conn.receive_data(b"\xff\xff") == []
    assert len(conn.receive_data(CODEC8_ONE + b"\xff")) == 1


# ---- framing errors --------------------------------------------------------------------------


def test_data_length_of_4_gb_is_refused_before_buffering() -> None:
    conn = online()
    with pytest.raises(DeviceProtocolError, match="4294967295 exceeds"):
        conn.receive_data(b"\x00\x00\x00\x00\xff\xff\xff\xff")
    assert conn.state is AvlState.ERROR


def test_frame_size_limit_is_configurable() -> None:
    conn = AvlServerConnection(max_frame_size=32)
    conn.receive_data(LOGIN)
    conn.accept_login()
    with pytest.raises(DeviceProtocolError, match="exceeds the 32-byte limit"):
        conn.receive_data(CODEC8_ONE)


def test_bad_preamble() -> None:
    with pytest.raises(DeviceProtocolError, match="preamble"):
        online().receive_data(b"\x00\x01")


def test_data_length_too_short() -> None:
    with pytest.raises(DeviceProtocolError, match="too short"):
        online().receive_data(b"\x00" * 7 + b"\x02")


def test_unknown_codec_id_is_refused_at_its_byte() -> None:
    with pytest.raises(DeviceProtocolError, match="unknown codec ID 0x0d"):
        online().receive_data(bytes.fromhex("00000000000000360D"))


def test_record_count_mismatch() -> None:
    bad = frame("0801" + "0000016B40D8EA30" + "01" + GPS_ZERO + "0100" + "00000000" + "02")
    with pytest.raises(DeviceProtocolError, match=r"record count 1 does not match .* 2"):
        online().receive_data(bad)


def test_zero_records() -> None:
    with pytest.raises(DeviceProtocolError, match="no records"):
        online().receive_data(frame("080000"))


def test_truncated_io_elements() -> None:
    # N1 claims two one-byte elements but only one follows.
    body = "0801" + "0000016B40D8EA30" + "01" + GPS_ZERO + "0102" + "02" + "0101" + "01"
    with pytest.raises(DeviceProtocolError, match="record 1: 2 IO elements of 1 bytes"):
        online().receive_data(frame(body))


def test_truncated_record_header() -> None:
    with pytest.raises(DeviceProtocolError, match="record header"):
        online().receive_data(frame("0801" + "0000016B40D8EA30" + "01"))


def test_missing_io_group_count() -> None:
    body = "0801" + "0000016B40D8EA30" + "01" + GPS_ZERO + "0100" + "000000" + "01"
    with pytest.raises(DeviceProtocolError, match="8-byte IO count"):
        online().receive_data(frame(body))


def test_nx_length_running_past_the_frame() -> None:
    head = "8E01" + "0000016B412CEE00" + "01" + GPS_ZERO + "0001" + "0001"
    body = head + "0000" * 4 + "0001" + "0101" + "0010" + "AABB" + "01"  # claims 16, has 2
    with pytest.raises(DeviceProtocolError, match="NX element 257 claims 16 bytes, 2 left"):
        online().receive_data(frame(body))


def test_nx_header_truncated() -> None:
    head = "8E01" + "0000016B412CEE00" + "01" + GPS_ZERO + "0001" + "0001"
    with pytest.raises(DeviceProtocolError, match="NX element header"):
        online().receive_data(frame(head + "0000" * 4 + "0001" + "01" + "01"))


def test_stray_bytes_after_records() -> None:
    body = "0801" + "0000016B40D8EA30" + "01" + GPS_ZERO + "0100" + "00000000" + "EEEE" + "01"
    with pytest.raises(DeviceProtocolError, match="2 stray bytes"):
        online().receive_data(frame(body))


def test_timestamp_beyond_year_9999() -> None:
    body = "0801" + "FFFFFFFFFFFFFFFF" + "01" + GPS_ZERO + "0100" + "00000000" + "01"
    with pytest.raises(DeviceProtocolError, match="out of range"):
        online().receive_data(frame(body))


def test_bad_crc_is_an_event_without_ack_and_the_stream_goes_on() -> None:
    conn = online()
    corrupt = CODEC8_ONE[:-1] + b"\x00"
    events = conn.receive_data(corrupt + CODEC8_ONE)
    assert events[0] == BadCrc(CODEC_8, 0xC700, 0xC7CF)
    assert isinstance(events[1], RecordsReceived)
    assert conn.awaiting_ack == 1  # only the good frame is owed an ACK


def test_error_after_good_frames_in_one_chunk_is_raised_on_the_next_call() -> None:
    conn = online()
    events = conn.receive_data(CODEC8_ONE + b"\x00\x00\x00\x01")
    assert [type(e) for e in events] == [RecordsReceived]
    assert conn.state is AvlState.ERROR
    with pytest.raises(DeviceProtocolError, match="preamble"):
        conn.receive_data(b"")
    with pytest.raises(DeviceProtocolError):
        conn.receive_data(CODEC8_ONE)


# ---- ACKs and commands -----------------------------------------------------------------------


def test_ack_rules() -> None:
    conn = online()
    with pytest.raises(ConnectionStateError):
        conn.ack()
    conn.receive_data(CODEC8_TWO_RECORDS + CODEC8_ONE)
    assert conn.awaiting_ack == 2
    with pytest.raises(ValueError, match="1-2"):
        conn.ack(0)
    with pytest.raises(ValueError, match="1-2"):
        conn.ack(3)
    assert conn.ack(1) == b"\x00\x00\x00\x01"  # partial ACK of the two-record packet
    assert conn.ack() == b"\x00\x00\x00\x01"


def test_command_and_response_on_the_same_stream() -> None:
    conn = online()
    assert conn.send_command("getinfo") == bytes.fromhex(
        "000000000000000F0C010500000007676574696E666F0100004312"
    )
    assert conn.commands_outstanding == 1
    events = conn.receive_data(CODEC8_ONE + GETINFO_RESPONSE)
    assert isinstance(events[0], RecordsReceived)
    assert events[1] == CommandResponse(
        "INI:2019/7/22 7:22 RTC:2019/7/22 7:53 RST:2 ERR:1 SR:0 BR:0 CF:0 FG:0 FL:0 TU:0/0 "
        "UT:0 SMS:0 NOGPS:0:30 GPS:1 SAT:0 RS:3 RF:65 SF:1 MD:0"
    )
    assert conn.commands_outstanding == 0


def test_response_with_no_command_outstanding_is_reported_as_unsolicited() -> None:
    conn = online()
    (event,) = conn.receive_data(GETINFO_RESPONSE)
    assert isinstance(event, UnsolicitedResponse) and event.text.startswith("INI:")
    conn.send_command("getinfo")
    conn.forget_command()  # the app timed it out
    assert isinstance(conn.receive_data(GETINFO_RESPONSE)[0], UnsolicitedResponse)


def test_codec12_command_from_the_tracker_is_refused() -> None:
    with pytest.raises(DeviceProtocolError, match="only responses"):
        online().receive_data(codec12.encode_command("getinfo"))


def test_send_command_needs_a_logged_in_tracker() -> None:
    with pytest.raises(ConnectionStateError):
        AvlServerConnection().send_command("getinfo")


# ---- tracker side ----------------------------------------------------------------------------


def test_tracker_side_dialogue() -> None:
    tracker = AvlTrackerConnection(IMEI)
    assert tracker.login() == LOGIN
    assert tracker.receive_data(b"\x01") == [LoginAnswer(True)]
    records = decode_avl_packet(CODEC8E_ONE).records
    assert tracker.send_records(records, CODEC_8E, {17: 2, 11: 8, 14: 8}) == CODEC8E_ONE
    command = codec12.encode_command("camreq:1,1")
    events = tracker.receive_data(b"\x00\x00\x00\x01" + command)
    assert events == [RecordsAcked(1), CommandReceived("camreq:1,1")]
    reply = tracker.send_response("Request for photo from source 1 received")
    assert codec12.decode_response(reply) == "Request for photo from source 1 received"


def test_tracker_side_rejected_login() -> None:
    tracker = AvlTrackerConnection(IMEI)
    tracker.login()
    assert tracker.receive_data(b"\x00") == [LoginAnswer(False)]
    assert tracker.state is AvlState.CLOSED
    with pytest.raises(ConnectionStateError):
        tracker.send_records(decode_avl_packet(CODEC8_ONE).records)


@pytest.mark.parametrize(
    ("setup", "data", "match"),
    [
        ("none", b"\x01", "before the login"),
        ("login", b"\x02", "neither 00 nor 01"),
        ("online", b"\x00\x00\x00\x01", "no packet outstanding"),
        ("sent", b"\x00\x00\x00\x05", "ACK of 5 for a packet of 1"),
        ("online", GETINFO_RESPONSE, "only commands go down"),
        ("online", CODEC8_ONE, "only Codec 12 goes down"),
    ],
)
def test_tracker_side_bad_server_input(setup: str, data: bytes, match: str) -> None:
    tracker = AvlTrackerConnection(IMEI)
    if setup != "none":
        tracker.login()
    if setup in ("online", "sent"):
        tracker.receive_data(b"\x01")
    if setup == "sent":
        tracker.send_records(decode_avl_packet(CODEC8_ONE).records)
    with pytest.raises(DeviceProtocolError, match=match):
        tracker.receive_data(data)


def test_tracker_rejects_a_bad_imei() -> None:
    with pytest.raises(ValueError, match="15 decimal digits"):
        AvlTrackerConnection("12345")


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
    with pytest.raises(ValueError, match=match):
        encode_record(record, codec)


def test_encoder_refuses_empty_packets_and_bad_widths() -> None:
    with pytest.raises(ValueError, match="1-255"):
        encode_avl_packet([])
    with pytest.raises(ValueError, match="fit in 1 bytes"):
        encode_record(_record(io={1: 300}), CODEC_8E, {1: 1})


@pytest.mark.parametrize("codec", [CODEC_8, CODEC_8E, CODEC_16])
def test_large_io_groups_round_trip(codec: int) -> None:
    io: dict[int, int | bytes] = {i: i % 200 for i in range(1, 201)}  # past the cached Structs
    io |= {201 + i: 70000 + i for i in range(50)}
    record = _record(io=io, generation_type=3 if codec == CODEC_16 else None)
    assert decode_avl_packet(encode_avl_packet([record], codec)).records == (record,)


def test_dedup_key_is_stable_for_a_resent_record() -> None:
    (first,) = decode_avl_packet(CODEC8E_HAND).records
    (again,) = decode_avl_packet(CODEC8E_HAND).records
    assert hash(first.dedup_key) == hash(again.dedup_key)


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


@given(st.lists(packets(), min_size=1, max_size=4), st.lists(st.integers(1, 64), max_size=80))
@settings(max_examples=150, deadline=None)
def test_any_rechunking_yields_the_same_events(
    stream_packets: list[tuple[int, list[AvlRecord]]], cuts: list[int]
) -> None:
    stream = b"\xff" + LOGIN
    for index, (codec, records) in enumerate(stream_packets):
        stream += encode_avl_packet(records, codec)
        if index == 0:
            stream += GETINFO_RESPONSE + b"\xff"
    whole = feed(AvlServerConnection(), [stream])
    pieces, pos = [], 0
    for cut in cuts:
        pieces.append(stream[pos : pos + cut])
        pos += cut
    pieces.append(stream[pos:])
    assert feed(AvlServerConnection(), pieces) == whole
    assert feed(AvlServerConnection(), [bytes([b]) for b in stream]) == whole
    assert sum(isinstance(e, RecordsReceived) for e in whole) == len(stream_packets)


def test_one_byte_at_a_time_for_every_wiki_vector() -> None:
    stream = LOGIN + CODEC8_ONE + CODEC8E_ONE + CODEC16_TWO + CODEC8E_HAND + GETINFO_RESPONSE
    events = feed(AvlServerConnection(), [bytes([b]) for b in stream])
    assert events == feed(AvlServerConnection(), [stream])
    assert [type(e).__name__ for e in events] == [
        "LoginRequest",
        *["RecordsReceived"] * 4,
        "UnsolicitedResponse",
    ]


# ---- fuzzing: only DeviceProtocolError may escape --------------------------------------------


def _mutate(data: bytes, flips: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for pos, value in flips:
        out[pos % len(out)] = value
    return bytes(out)


_FUZZ = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_VALID = [CODEC8_ONE, CODEC8_TWO_RECORDS, CODEC8E_ONE, CODEC16_TWO, CODEC8E_HAND, GETINFO_RESPONSE]


def _feed_fuzz(conn: AvlServerConnection, data: bytes, step: int) -> None:
    with contextlib.suppress(DeviceProtocolError):
        feed(conn, [data[i : i + step] for i in range(0, len(data), step)])
        conn.receive_data(b"")  # raises an error deferred behind good events


@given(st.binary(max_size=600), st.integers(1, 64))
@_FUZZ
def test_fuzz_server_connection_random_bytes(data: bytes, step: int) -> None:
    _feed_fuzz(AvlServerConnection(), data, step)
    _feed_fuzz(AvlServerConnection(), LOGIN + data, step)


@given(
    st.sampled_from(_VALID),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=6),
    st.booleans(),
)
@_FUZZ
def test_fuzz_server_connection_mutated_frames(
    valid: bytes, flips: list[tuple[int, int]], fix_crc: bool
) -> None:
    body = _mutate(valid[8:-4], flips)
    data = codec12.wrap(body) if fix_crc else _mutate(valid, flips)
    _feed_fuzz(AvlServerConnection(), LOGIN + data, 7)


@given(st.sampled_from([CODEC_8, CODEC_8E, CODEC_16, 0x0C]), st.binary(max_size=400))
@_FUZZ
def test_fuzz_record_decoder_with_valid_crc(codec: int, rest: bytes) -> None:
    body = bytes([codec]) + rest
    with contextlib.suppress(DeviceProtocolError):
        decode_records(body, 0, len(body))
    with contextlib.suppress(DeviceProtocolError):
        decode_avl_packet(codec12.wrap(body))


@given(st.binary(max_size=300))
@_FUZZ
def test_fuzz_tracker_connection(data: bytes) -> None:
    for prefix in (b"", b"\x01"):
        tracker = AvlTrackerConnection(IMEI)
        tracker.login()
        with contextlib.suppress(DeviceProtocolError):
            tracker.receive_data(prefix + data)
            tracker.receive_data(b"")  # raises an error deferred behind good events


def test_every_truncation_of_a_frame_is_a_device_protocol_error() -> None:
    for cut in range(len(CODEC8E_HAND)):
        with pytest.raises(DeviceProtocolError):
            decode_avl_packet(CODEC8E_HAND[:cut])
