"""Both halves of an AVL link: login, framing, every bad input, ACKs, commands, end-of-stream,
local misuse, re-chunking and fuzzing. Vectors come from ``test_codec8``.
"""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dualcam_bridge.protocol import codec12, envelope
from dualcam_bridge.protocol.avl_connection import (
    AvlServerConnection,
    AvlState,
    encode_login,
)
from dualcam_bridge.protocol.avl_events import (
    BadCrc,
    CommandReceived,
    CommandResponse,
    ConnectionClosed,
    LoginAnswer,
    LoginRequest,
    RecordsAcked,
    RecordsReceived,
    UnsolicitedResponse,
)
from dualcam_bridge.protocol.avl_tracker import AvlTrackerConnection
from dualcam_bridge.protocol.codec8 import (
    CODEC_8,
    CODEC_8E,
    AvlRecord,
    decode_avl_packet,
    encode_avl_packet,
)
from dualcam_bridge.protocol.errors import DeviceProtocolError, LocalProtocolError

from .test_codec8 import (
    CODEC8_ONE,
    CODEC8_TWO_RECORDS,
    CODEC8E_HAND,
    CODEC8E_ONE,
    CODEC16_TWO,
    GETINFO_RESPONSE,
    GPS_ZERO,
    IMEI,
    LOGIN,
    frame,
    packets,
)


def online() -> AvlServerConnection:
    conn = AvlServerConnection()
    assert conn.receive_data(LOGIN) == [LoginRequest(IMEI)]
    conn.accept_login()
    assert conn.data_to_send() == b"\x01"
    return conn


def feed(conn: AvlServerConnection, chunks: list[bytes]) -> tuple[list[object], bytes]:
    """Feed chunks the way a server does: accept the login, ACK every packet; then close.

    Returns the events (the last is ``ConnectionClosed``) and every byte the connection queued
    for the tracker. Empty chunks are skipped: ``b""`` is the end-of-stream fed at the end.
    """
    events: list[object] = []
    sent = bytearray()
    for chunk in [*filter(None, chunks), b""]:
        batch: list[object] = list(conn.receive_data(chunk))
        while batch:
            for event in batch:
                events.append(event)
                if isinstance(event, LoginRequest):
                    conn.accept_login()
                elif isinstance(event, RecordsReceived):
                    conn.ack()
            sent += conn.data_to_send()
            batch = list(conn.next_events())  # bytes held behind the login decision
    return events, bytes(sent)


def test_encode_login_matches_wiki() -> None:
    assert encode_login(IMEI) == LOGIN


# ---- login -----------------------------------------------------------------------------------


def test_login_accept_then_records_and_ack() -> None:
    conn = AvlServerConnection()
    assert conn.state is AvlState.AWAITING_LOGIN
    assert conn.receive_data(LOGIN) == [LoginRequest(IMEI)]
    assert conn.state is AvlState.LOGIN_PENDING and conn.imei == IMEI
    conn.accept_login()
    assert conn.data_to_send() == b"\x01"
    events = conn.receive_data(CODEC8E_ONE)
    assert events == [RecordsReceived(CODEC_8E, decode_avl_packet(CODEC8E_ONE).records)]
    assert conn.awaiting_ack == 1
    conn.ack()
    assert conn.data_to_send() == b"\x00\x00\x00\x01"
    assert conn.awaiting_ack == 0


def test_login_reject_closes_and_ignores_further_bytes() -> None:
    conn = AvlServerConnection()
    conn.receive_data(LOGIN)
    conn.reject_login()
    assert conn.data_to_send() == b"\x00"
    assert conn.state is AvlState.CLOSED
    assert conn.receive_data(CODEC8E_ONE) == []
    assert conn.next_events() == []
    with pytest.raises(LocalProtocolError, match="connection is closed, not login_pending"):
        conn.accept_login()
    assert conn.data_to_send() == b""


def test_bytes_pipelined_behind_login_wait_for_the_decision() -> None:
    conn = AvlServerConnection()
    assert conn.receive_data(LOGIN + CODEC8_ONE) == [LoginRequest(IMEI)]
    assert conn.next_events() == []  # still undecided: the records wait
    conn.accept_login()
    (event,) = conn.next_events()
    assert isinstance(event, RecordsReceived)
    assert conn.data_to_send() == b"\x01"


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
    conn.ack()  # the good frame's records can still be ACKed
    assert conn.data_to_send() == b"\x00\x00\x00\x01"
    with pytest.raises(DeviceProtocolError, match="preamble"):
        conn.next_events()
    with pytest.raises(DeviceProtocolError, match="preamble"):
        conn.receive_data(b"")  # end-of-stream does not hide it either
    with pytest.raises(DeviceProtocolError):
        conn.receive_data(CODEC8_ONE)


# ---- a malformed login is answered 00 ---------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"\x00\x10", b"\x00\x0f35630704244101A", b"\x00\x00\x00\x00\x00\x00\x00\x36\x08"],
)
def test_bad_login_queues_the_rejection(data: bytes) -> None:
    conn = AvlServerConnection()
    with pytest.raises(DeviceProtocolError):
        conn.receive_data(data)
    assert conn.data_to_send() == b"\x00"  # the tracker waits for an answer: tell it no
    assert conn.state is AvlState.ERROR


def test_bad_frame_after_login_queues_nothing() -> None:
    conn = online()
    with pytest.raises(DeviceProtocolError, match="preamble"):
        conn.receive_data(b"\x00\x01")
    assert conn.data_to_send() == b""  # no ACK, no answer: the link is closed


# ---- end-of-stream ---------------------------------------------------------------------------


def test_peer_closing_between_frames() -> None:
    conn = online()
    assert len(conn.receive_data(CODEC8_ONE)) == 1
    conn.ack()
    assert conn.receive_data(b"") == [ConnectionClosed(unparsed=0, awaiting_ack=0)]
    assert conn.state is AvlState.CLOSED
    assert conn.receive_data(b"") == []  # said once
    assert conn.next_events() == []


def test_peer_closing_mid_frame_reports_the_partial_frame_and_the_unacked_packet() -> None:
    conn = online()
    (records,) = conn.receive_data(CODEC8_ONE + CODEC8E_ONE[:20])
    assert isinstance(records, RecordsReceived)  # not ACKed yet
    assert conn.receive_data(b"") == [ConnectionClosed(unparsed=20, awaiting_ack=1)]


def test_peer_closing_while_the_login_is_undecided() -> None:
    conn = AvlServerConnection()
    assert conn.receive_data(LOGIN + CODEC8_ONE) == [LoginRequest(IMEI)]
    assert conn.receive_data(b"") == [ConnectionClosed(unparsed=len(CODEC8_ONE), awaiting_ack=0)]
    with pytest.raises(LocalProtocolError, match="connection is closed, not login_pending"):
        conn.accept_login()


def test_peer_closing_before_sending_anything_and_after_a_rejection() -> None:
    assert AvlServerConnection().receive_data(b"") == [ConnectionClosed(0, 0)]
    conn = AvlServerConnection()
    conn.receive_data(LOGIN)
    conn.reject_login()
    assert conn.receive_data(b"") == [ConnectionClosed(0, 0)]


def test_data_after_end_of_stream_is_a_local_error() -> None:
    conn = online()
    conn.receive_data(b"")
    with pytest.raises(LocalProtocolError, match="data fed after end-of-stream"):
        conn.receive_data(CODEC8_ONE)


def test_tracker_side_end_of_stream() -> None:
    tracker = AvlTrackerConnection(IMEI)
    tracker.login()
    tracker.receive_data(b"\x01")
    tracker.send_records(decode_avl_packet(CODEC8_ONE).records)
    assert tracker.receive_data(b"\x00\x00") == []
    assert tracker.receive_data(b"") == [ConnectionClosed(unparsed=2, awaiting_ack=1)]
    with pytest.raises(LocalProtocolError, match="data fed after end-of-stream"):
        tracker.receive_data(b"\x00\x00\x00\x01")


# ---- ACKs and commands -----------------------------------------------------------------------


def test_ack_rules() -> None:
    conn = online()
    with pytest.raises(LocalProtocolError, match="no records are waiting for an ACK"):
        conn.ack()
    conn.receive_data(CODEC8_TWO_RECORDS + CODEC8_ONE)
    assert conn.awaiting_ack == 2
    with pytest.raises(LocalProtocolError, match="ACK count must be 1-2, got 0"):
        conn.ack(0)
    with pytest.raises(LocalProtocolError, match="ACK count must be 1-2, got 3"):
        conn.ack(3)
    assert conn.data_to_send() == b""  # a refused call queues nothing
    assert conn.awaiting_ack == 2
    conn.ack(1)  # partial ACK of the two-record packet
    conn.ack()
    assert conn.data_to_send() == b"\x00\x00\x00\x01" * 2


def test_command_and_response_on_the_same_stream() -> None:
    conn = online()
    conn.send_command("getinfo")
    assert conn.data_to_send() == bytes.fromhex(
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
    conn = AvlServerConnection()
    with pytest.raises(LocalProtocolError, match="connection is awaiting_login, not online"):
        conn.send_command("getinfo")
    assert conn.data_to_send() == b"" and conn.commands_outstanding == 0


# ---- tracker side ----------------------------------------------------------------------------


def test_tracker_side_dialogue() -> None:
    tracker = AvlTrackerConnection(IMEI)
    tracker.login()
    assert tracker.data_to_send() == LOGIN
    assert tracker.receive_data(b"\x01") == [LoginAnswer(True)]
    records = decode_avl_packet(CODEC8E_ONE).records
    tracker.send_records(records, CODEC_8E, {17: 2, 11: 8, 14: 8})
    assert tracker.data_to_send() == CODEC8E_ONE
    command = codec12.encode_command("camreq:1,1")
    events = tracker.receive_data(b"\x00\x00\x00\x01" + command)
    assert events == [RecordsAcked(1), CommandReceived("camreq:1,1")]
    tracker.send_response("Request for photo from source 1 received")
    assert (
        codec12.decode_response(tracker.data_to_send())
        == "Request for photo from source 1 received"
    )


def test_tracker_side_rejected_login() -> None:
    tracker = AvlTrackerConnection(IMEI)
    tracker.login()
    assert tracker.receive_data(b"\x00") == [LoginAnswer(False)]
    assert tracker.state is AvlState.CLOSED
    with pytest.raises(LocalProtocolError, match="connection is closed, not online"):
        tracker.send_records(decode_avl_packet(CODEC8_ONE).records)
    with pytest.raises(LocalProtocolError, match="login was already sent"):
        tracker.login()
    assert tracker.data_to_send() == LOGIN


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
    with pytest.raises(LocalProtocolError, match="15 decimal digits"):
        AvlTrackerConnection("12345")


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
    assert whole[1].startswith(b"\x01")  # login accepted, then one ACK per packet
    pieces, pos = [], 0
    for cut in cuts:
        pieces.append(stream[pos : pos + cut])
        pos += cut
    pieces.append(stream[pos:])
    assert feed(AvlServerConnection(), pieces) == whole
    assert feed(AvlServerConnection(), [bytes([b]) for b in stream]) == whole
    assert sum(isinstance(e, RecordsReceived) for e in whole[0]) == len(stream_packets)
    assert whole[0][-1] == ConnectionClosed(unparsed=0, awaiting_ack=0)


def test_one_byte_at_a_time_for_every_wiki_vector() -> None:
    stream = LOGIN + CODEC8_ONE + CODEC8E_ONE + CODEC16_TWO + CODEC8E_HAND + GETINFO_RESPONSE
    events, sent = feed(AvlServerConnection(), [bytes([b]) for b in stream])
    assert (events, sent) == feed(AvlServerConnection(), [stream])
    ack_1, ack_2 = b"\x00\x00\x00\x01", b"\x00\x00\x00\x02"
    assert sent == b"\x01" + ack_1 + ack_1 + ack_2 + ack_1
    assert [type(e).__name__ for e in events] == [
        "LoginRequest",
        *["RecordsReceived"] * 4,
        "UnsolicitedResponse",
        "ConnectionClosed",
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
        events, _ = feed(conn, [data[i : i + step] for i in range(0, len(data), step)])
        assert isinstance(events[-1], ConnectionClosed) and conn.state is AvlState.CLOSED


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
    data = envelope.wrap(body) if fix_crc else _mutate(valid, flips)
    _feed_fuzz(AvlServerConnection(), LOGIN + data, 7)


@given(st.binary(max_size=300))
@_FUZZ
def test_fuzz_tracker_connection(data: bytes) -> None:
    for prefix in (b"", b"\x01"):
        if not prefix + data:
            continue  # b"" is end-of-stream, tested on its own
        tracker = AvlTrackerConnection(IMEI)
        tracker.login()
        with contextlib.suppress(DeviceProtocolError):
            tracker.receive_data(prefix + data)
            tracker.next_events()  # raises an error deferred behind good events
            (closed,) = tracker.receive_data(b"")
            assert isinstance(closed, ConnectionClosed)
