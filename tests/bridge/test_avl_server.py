"""The AVL server over real sockets: login, ACK rules, idle timeout, superseding, bad input."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dualcam_bridge.events import (
    CameraStateChanged,
    DeviceSeen,
    SosTriggered,
    TrackerAvailability,
)
from dualcam_bridge.protocol import codec12, envelope
from dualcam_bridge.protocol.avl_events import CommandReceived, RecordsAcked
from dualcam_bridge.protocol.codec8 import AvlRecord, encode_avl_packet
from dualcam_bridge.simulator.tracker import SimulatedTracker

from .avl_fixtures import RawTracker, running_avl
from .conftest import no_tracebacks

IMEI = "356307042441013"
OTHER = "352094082736917"
T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
GPS_ZERO = "00" * 15


def rec(second: float = 0, io: dict[int, int | bytes] | None = None, event: int = 0) -> AvlRecord:
    when = T0 + timedelta(seconds=second)
    return AvlRecord(when, 0, 25.2797, 54.6872, 112, 90, 11, 54, event, io or {498: 3})


def frame(body_hex: str) -> bytes:
    return envelope.wrap(bytes.fromhex(body_hex))


async def test_records_are_acked_after_their_events_and_link_state_is_announced(
    tmp_path: Path, caplog
) -> None:
    caplog.set_level(logging.INFO)
    async with running_avl(tmp_path) as h:
        t = await RawTracker.connect(h.avl_port, IMEI)
        ack = await t.send([rec(0, {498: 3, 497: 1}), rec(1, {499: 3}, event=499)])
        assert ack == RecordsAcked(2)
        # The ACK came after the events were delivered.
        assert [(e.camera, e.value) for e in h.of(CameraStateChanged)] == [
            ("front", 3),
            ("rear", 1),
        ]
        assert [e.value for e in h.of(SosTriggered)] == [3]
        seen = h.of(DeviceSeen)
        assert seen[0].imei == IMEI and seen[0].extra == {"source": "avl"}
        assert [e.online for e in h.of(TrackerAvailability)] == [True]
        t.close()
        await h.wait_for(lambda: len(h.of(TrackerAvailability)) == 2)
        assert [e.online for e in h.of(TrackerAvailability)] == [True, False]
    assert f"tracker {IMEI} (127.0.0.1:" in caplog.text and "logged in" in caplog.text
    no_tracebacks(caplog)


async def test_partial_frames_one_byte_at_a_time(tmp_path: Path) -> None:
    async with running_avl(tmp_path) as h:
        t = await RawTracker.connect(h.avl_port, IMEI, login=False)
        t.conn.login()
        data = t.conn.data_to_send()
        for byte in data:
            t.writer.write(bytes([byte]))
            await t.writer.drain()
        await t.events()
        t.conn.send_records([rec(0), rec(1)])
        packet = t.conn.data_to_send()
        for byte in packet:
            t.writer.write(bytes([byte]))
            await t.writer.drain()
        assert await t.events() == [RecordsAcked(2)]
        t.close()


async def test_login_and_records_pipelined_in_one_write(tmp_path: Path) -> None:
    async with running_avl(tmp_path) as h:
        t = await RawTracker.connect(h.avl_port, IMEI, login=False)
        t.conn.login()
        t.conn.receive_data(b"\x01")  # our half believes the answer to send right away
        t.conn.send_records([rec(0)])
        t.writer.write(t.conn.data_to_send() + b"\xff")  # login + records + a keepalive
        data = await asyncio.wait_for(t.reader.readexactly(5), 5)
        assert data == b"\x01" + (1).to_bytes(4, "big")
        t.close()


async def test_bad_crc_is_not_acked_and_the_resend_is(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO)
    async with running_avl(tmp_path) as h:
        t = await RawTracker.connect(h.avl_port, IMEI)
        good = encode_avl_packet([rec(0, {499: 3}, event=499)])
        bad = good[:-1] + bytes([good[-1] ^ 0xFF])
        t.writer.write(bad)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(t.reader.read(4), 0.3)
        assert h.of(SosTriggered) == []
        t.writer.write(good)
        assert await asyncio.wait_for(t.reader.readexactly(4), 5) == b"\x00\x00\x00\x01"
        assert len(h.of(SosTriggered)) == 1
        t.close()
    assert (
        f"tracker {IMEI}" in caplog.text and "bad CRC" in caplog.text and "not ACKed" in caplog.text
    )
    no_tracebacks(caplog)


async def test_unknown_imei_is_rejected_when_not_allowed(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO)
    async with running_avl(tmp_path, devices=[{"imei": OTHER}], allow_unknown=False) as h:
        t = await RawTracker.connect(h.avl_port, IMEI, login=False)
        t.conn.login()
        t.writer.write(t.conn.data_to_send())
        assert await t.closed() == b"\x00"
        assert h.of(DeviceSeen) == [] and h.of(TrackerAvailability) == []
        known = await RawTracker.connect(h.avl_port, OTHER)
        assert await known.send([rec(0)]) == RecordsAcked(1)
        known.close()
        reply = await h.avl.router.submit(IMEI, "getinfo")
        assert reply.status == "refused" and "not in the device list" in (reply.error or "")
    assert f"tracker {IMEI} (127.0.0.1:" in caplog.text
    assert "IMEI not in the device list, login rejected" in caplog.text
    assert f"tracker {IMEI}: command refused" in caplog.text
    no_tracebacks(caplog)


async def test_idle_link_is_closed(tmp_path: Path, caplog) -> None:
    async with running_avl(tmp_path, avl={"idle_timeout": 0.3}) as h:
        t = await RawTracker.connect(h.avl_port, IMEI)
        loop = asyncio.get_running_loop()
        start = loop.time()
        # A trickle that never completes a frame is no progress.
        for byte in encode_avl_packet([rec(0)])[:20]:
            if t.writer.is_closing() or not h.avl.server.links:
                break
            t.writer.write(bytes([byte]))
            await asyncio.sleep(0.05)
        assert await t.closed() == b""
        assert 0.25 < loop.time() - start < 1.5
        await h.wait_for(lambda: len(h.of(TrackerAvailability)) == 2)
    assert f"tracker {IMEI}" in caplog.text and "no progress for 0.3 s" in caplog.text


async def test_second_login_supersedes_the_first(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO)
    async with running_avl(tmp_path) as h:
        old = await RawTracker.connect(h.avl_port, IMEI)
        new = await RawTracker.connect(h.avl_port, IMEI)
        assert await old.closed() == b""
        assert await new.send([rec(0)]) == RecordsAcked(1)
        assert [e.online for e in h.of(TrackerAvailability)] == [True, True]  # never offline
        assert h.avl.server.by_imei[IMEI] is not None and len(h.avl.server.links) == 1
        new.close()
        await h.wait_for(lambda: len(h.of(TrackerAvailability)) == 3)
        assert h.of(TrackerAvailability)[-1].online is False
    assert "new connection supersedes" in caplog.text


async def test_connections_beyond_the_limit_are_closed(tmp_path: Path) -> None:
    async with running_avl(tmp_path, avl={"max_connections": 2}) as h:
        held = [await RawTracker.connect(h.avl_port, str(352094082736000 + n)) for n in range(2)]
        extra = await RawTracker.connect(h.avl_port, IMEI, login=False)
        assert await extra.closed() == b""
        for t in held:
            t.close()


async def test_storage_failure_is_not_acked(tmp_path: Path, caplog) -> None:
    async with running_avl(tmp_path) as h:
        t = await RawTracker.connect(h.avl_port, IMEI)
        h.avl.db.conn.close()  # the disk went away
        t.conn.send_records([rec(0)])
        t.writer.write(t.conn.data_to_send())
        assert await t.closed() == b""
    assert "cannot store records" in caplog.text and "not ACKed" in caplog.text


async def test_good_frames_before_bad_bytes_are_acked_then_the_link_closes(tmp_path: Path) -> None:
    async with running_avl(tmp_path) as h:
        t = await RawTracker.connect(h.avl_port, IMEI)
        t.writer.write(encode_avl_packet([rec(0, {499: 1}, event=499)]) + b"GARBAGE!")
        assert await t.closed() == b"\x00\x00\x00\x01"
        assert len(h.of(SosTriggered)) == 1


# ---- the bad-input list ----------------------------------------------------------------

# An 8E record whose one NX element claims 16 bytes and carries 2.
NX_PAST_END = "8E01" + "0000016B412CEE00" + "01" + GPS_ZERO + "00010001" + "0000" * 4
NX_PAST_END += "0001" + "0101" + "0010" + "AABB" + "01"
LOGIN_BAD = {
    "non-numeric IMEI": b"\x00\x0f35630704244101A",
    "over-long IMEI": b"\x00\x10" + b"3" * 16,
    "port scanner": b"GET / HTTP/1.0\r\n\r\n",
}
AFTER_LOGIN_BAD = {
    "data length of 4 GB": b"\x00\x00\x00\x00\xff\xff\xff\xff",
    "record count mismatch": frame(
        "0801" + "0000016B40D8EA30" + "01" + GPS_ZERO + "0100" + "00000000" + "02"
    ),
    "unknown codec ID": bytes.fromhex("00000000000000360D") + bytes(60),
    "truncated IO elements": frame(
        "0801" + "0000016B40D8EA30" + "01" + GPS_ZERO + "0102" + "02" + "0101" + "01"
    ),
    "NX length past the frame": frame(NX_PAST_END),
    "Codec 12 command from the tracker": codec12.encode_command("getinfo"),
}
REASONS = {
    "non-numeric IMEI": "is not 15 decimal digits",
    "over-long IMEI": "IMEI length 16",
    "port scanner": "IMEI length",
    "data length of 4 GB": "data length 4294967295 exceeds",
    "record count mismatch": "record count 1 does not match the second count 2",
    "unknown codec ID": "unknown codec ID 0x0d",
    "truncated IO elements": "2 IO elements of 1 bytes",
    "NX length past the frame": "NX element 257 claims 16 bytes",
    "Codec 12 command from the tracker": "only responses go up",
}


async def _bystander(port: int) -> tuple[SimulatedTracker, asyncio.Task]:
    other = SimulatedTracker("127.0.0.1", port, OTHER, interval=None)
    task = asyncio.create_task(other.run())
    other.record()
    await other.wait_delivered()
    return other, task


@pytest.mark.parametrize("name", [*LOGIN_BAD, *AFTER_LOGIN_BAD])
async def test_bad_input_gets_a_defined_answer_and_a_log_line(
    tmp_path: Path, caplog, name: str
) -> None:
    caplog.set_level(logging.INFO)
    async with running_avl(tmp_path) as h:
        other, task = await _bystander(h.avl_port)
        if name in LOGIN_BAD:
            t = await RawTracker.connect(h.avl_port, IMEI, login=False)
            t.writer.write(LOGIN_BAD[name])
            assert await t.closed() == b"\x00"  # login rejected, then closed
            who = "tracker ? (127.0.0.1:"
        else:
            t = await RawTracker.connect(h.avl_port, IMEI)
            t.writer.write(AFTER_LOGIN_BAD[name])
            assert await t.closed() == b""  # no ACK, closed
            who = f"tracker {IMEI} (127.0.0.1:"
        await h.wait_for(lambda: len(h.avl.server.links) == 1)
        # The other tracker did not notice: same link, still ACKed.
        other.trigger_sos(2)
        await other.wait_delivered()
        assert other.result.connections == 1 and other.result.records_acked == 2
        assert [e.imei for e in h.of(SosTriggered)] == [OTHER]
        other.stop()
        await task
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(who in line and REASONS[name] in line for line in lines), lines
    no_tracebacks(caplog)


async def test_answer_with_no_command_outstanding_is_ignored(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO)
    async with running_avl(tmp_path) as h:
        t = await RawTracker.connect(h.avl_port, IMEI)
        t.writer.write(codec12.encode_response("Request for photo from source 1 received"))
        assert await t.send([rec(0)]) == RecordsAcked(1)  # the link goes on
        t.close()
    assert f"tracker {IMEI} (127.0.0.1:" in caplog.text
    assert "answer with no command outstanding, ignored" in caplog.text
    no_tracebacks(caplog)


async def test_command_timeout_then_a_late_answer_is_ignored(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO)
    async with running_avl(tmp_path, avl={"command_timeout": 0.2}) as h:
        t = await RawTracker.connect(h.avl_port, IMEI)
        pending = asyncio.create_task(h.avl.router.submit(IMEI, "getinfo"))
        assert await t.events() == [CommandReceived("getinfo")]
        reply = await pending
        assert (reply.status, reply.error) == (
            "timeout",
            f"no answer from tracker {IMEI} within 0.2 s",
        )
        t.conn.send_response("INI:2019/7/22 7:22")  # too late
        t.writer.write(t.conn.data_to_send())
        second = asyncio.create_task(h.avl.router.submit(IMEI, "camreq:1,2"))
        assert await t.events() == [CommandReceived("camreq:1,2")]
        t.conn.send_response("Request for photo from source 2 received")
        t.writer.write(t.conn.data_to_send())
        reply = await second
        assert reply.ok and reply.result is not None and reply.result.text.endswith("received")
        t.close()
    assert "answer with no command outstanding, ignored: 'INI:2019/7/22 7:22'" in caplog.text
    no_tracebacks(caplog)


async def test_resend_on_a_new_link_while_the_first_delivery_is_slow(tmp_path: Path) -> None:
    # The subscriber is slow; the tracker gives up waiting for its ACK, reconnects and resends.
    async with running_avl(tmp_path) as h:
        gate = asyncio.Event()
        record_event = h.emit

        async def slow_emit(event) -> None:  # type: ignore[no-untyped-def]
            if isinstance(event, SosTriggered):
                await gate.wait()
            await record_event(event)

        h.emit = slow_emit  # type: ignore[method-assign]
        packet = [rec(0, {499: 3}, event=499)]
        first = await RawTracker.connect(h.avl_port, IMEI)
        first.conn.send_records(packet)
        first.writer.write(first.conn.data_to_send())
        await asyncio.sleep(0.05)  # the first link is now delivering the SOS
        second = await RawTracker.connect(h.avl_port, IMEI)
        assert await second.send(packet) == RecordsAcked(1)  # known, being delivered: ACKed
        gate.set()
        assert await first.closed() == b""  # superseded: never ACKed
        await h.wait_for(lambda: h.of(SosTriggered))
        await asyncio.sleep(0.05)
        assert len(h.of(SosTriggered)) == 1
        second.close()
