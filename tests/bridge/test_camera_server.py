"""The camera server over real sockets with the simulated DualCam: every file arrives intact."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import shutil
import subprocess
import time
from collections import Counter

import pytest

from dualcam_bridge.events import MediaCompleted, TransferProgress
from dualcam_bridge.protocol import dualcam_frames as fr
from dualcam_bridge.simulator.camera import Faults, SimFile, SimulatedCamera, make_captures

from .conftest import media_files, no_tracebacks, sha256

IMEI = "352094082736916"


def imei(n: int) -> str:
    return str(352094082736000 + n)


async def upload(port: int, cams: list[SimulatedCamera], timeout: float = 60) -> None:
    async with asyncio.timeout(timeout):
        await asyncio.gather(*(c.run() for c in cams))


def assert_stored_exactly_once(running, cams: list[SimulatedCamera]) -> None:
    sent = Counter(sha256(f.data) for c in cams for f in c.result.delivered)
    stored = Counter(m.sha256 for m in running.media)
    assert stored == sent
    assert all(n == 1 for n in stored.values())
    # Each announced file is on disk, byte-identical, and nothing else is in media/.
    on_disk = {m.path for m in running.media} | {m.mp4_path for m in running.media if m.mp4_path}
    assert set(media_files(running.data_dir)) == on_disk
    for m in running.media:
        assert sha256(m.path.read_bytes()) == m.sha256


async def test_twenty_cameras_at_once(start_bridge) -> None:
    async with start_bridge() as b:
        cams = [
            SimulatedCamera("127.0.0.1", b.port, imei(n), make_captures(imei(n), 2, 1), seed=n)
            for n in range(20)
        ]
        await upload(b.port, cams)
        await b.wait_for_media(60)
        assert all(len(c.result.delivered) == 3 for c in cams)
        assert_stored_exactly_once(b, cams)
        by_imei = Counter(m.imei for m in b.media)
        assert by_imei == {imei(n): 3 for n in range(20)}


async def test_corruption_and_link_drops_still_deliver_intact_files(start_bridge) -> None:
    async with start_bridge() as b:
        faults = Faults(corrupt_rate=0.05, disconnect_after_packets=40, reconnect_delay=0.01)
        cams = [
            SimulatedCamera(
                "127.0.0.1", b.port, imei(n), make_captures(imei(n), 2, 2), faults, seed=n
            )
            for n in range(5)
        ]
        await upload(b.port, cams)
        await b.wait_for_media(20)
        assert_stored_exactly_once(b, cams)
        assert sum(c.result.resumes for c in cams) > 5  # resumes really happened
        assert sum(c.result.connections for c in cams) > 25  # and links really dropped


async def test_link_drops_resume_where_they_stopped(start_bridge) -> None:
    async with start_bridge() as b:
        faults = Faults(disconnect_after_packets=25, reconnect_delay=0.01)
        cams = [
            SimulatedCamera("127.0.0.1", b.port, imei(n), make_captures(imei(n), 1, 1), faults)
            for n in range(3)
        ]
        await upload(b.port, cams)
        await b.wait_for_media(6)
        assert_stored_exactly_once(b, cams)
        sent = sum(c.result.packets_sent for c in cams)
        needed = sum(f.packets for c in cams for f in c.result.delivered)
        # Only packets lost in flight at each drop are sent twice, never whole files.
        assert needed <= sent < needed * 1.1


async def test_videos_are_remuxed_to_playable_mp4(start_bridge) -> None:
    if not shutil.which("ffprobe"):
        pytest.skip("ffmpeg is not installed")
    async with start_bridge() as b:
        cam = SimulatedCamera("127.0.0.1", b.port, IMEI, make_captures(IMEI, 0, 2))
        await upload(b.port, [cam])
        await b.wait_for_media(2)
        for m in b.media:
            assert m.kind == "video" and m.path.suffix == ".h265"
            assert m.mp4_path is not None and m.mime == "video/mp4"
            probe = subprocess.run(
                [
                    "ffprobe",
                    "-v",
                    "error",
                    "-count_frames",
                    "-show_entries",
                    "stream=codec_name,codec_tag_string,width,height,nb_read_frames,r_frame_rate",
                    "-of",
                    "json",
                    str(m.mp4_path),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            (stream,) = json.loads(probe.stdout)["streams"]
            assert stream["codec_name"] == "hevc" and stream["codec_tag_string"] == "hvc1"
            assert (stream["width"], stream["height"]) == (1280, 720)
            assert stream["nb_read_frames"] == "50" and stream["r_frame_rate"] == "25/1"
            assert m.path.read_bytes()[:6] == b"\x00\x00\x00\x01\x40\x01"


async def test_metadata_is_kept_with_the_file(start_bridge) -> None:
    async with start_bridge() as b:
        files = make_captures(IMEI, 1, 1)
        cam = SimulatedCamera("127.0.0.1", b.port, IMEI, files)
        await upload(b.port, [cam])
        await b.wait_for_media(2)
        photo = next(m for m in b.media if m.kind == "photo")
        video = next(m for m in b.media if m.kind == "video")
        assert photo.captured_at == files[0].metadata.timestamp
        assert photo.trigger == "periodic" and video.trigger == "crash"
        assert video.duration_s == 2 and video.framerate == 25
        assert video.latitude == pytest.approx(54.6872)
        stamp = files[1].metadata.timestamp.strftime("%Y%m%dT%H%M%SZ")
        assert video.path.name == f"{IMEI}_front_video_{stamp}.h265"
        assert video.path.parent.name == files[1].metadata.timestamp.strftime("%Y-%m-%d")
        row = b.bridge.store.index.get(video.id)
        assert row is not None and row.trigger == "crash" and row.sha256 == video.sha256


async def test_device_without_metadata_support(start_bridge) -> None:
    async with start_bridge(camera={"metadata_timeout": 0.2}) as b:
        cam = SimulatedCamera(
            "127.0.0.1", b.port, IMEI, make_captures(IMEI, 2, 0), Faults(no_metadata=True)
        )
        await upload(b.port, [cam])
        await b.wait_for_media(2)
        assert all(m.captured_at is None and m.trigger is None for m in b.media)
        assert_stored_exactly_once(b, [cam])


async def test_metadata_request_can_be_switched_off(start_bridge) -> None:
    async with start_bridge(camera={"request_metadata": False}) as b:
        cam = SimulatedCamera("127.0.0.1", b.port, IMEI, make_captures(IMEI, 1, 0))
        await upload(b.port, [cam])
        await b.wait_for_media(1)
        assert b.media[0].captured_at is None


async def test_unavailable_file_gives_no_media(start_bridge, caplog) -> None:
    caplog.set_level(logging.INFO)
    async with start_bridge() as b:
        cam = SimulatedCamera(
            "127.0.0.1", b.port, IMEI, make_captures(IMEI, 1, 0), Faults(unavailable=True)
        )
        await upload(b.port, [cam])
        await b.wait_idle()
        assert b.media == [] and cam.result.unavailable == 1
        assert "not available (status 0x11: file unavailable" in caplog.text and IMEI in caplog.text
    no_tracebacks(caplog)


async def test_throttled_camera(start_bridge) -> None:
    async with start_bridge() as b:
        files = [SimFile("%photor", b"\xff\xd8" + bytes(range(256)) * 20 + b"\xff\xd9")]
        cam = SimulatedCamera("127.0.0.1", b.port, IMEI, files, Faults(throttle=100_000))
        await upload(b.port, [cam])
        await b.wait_for_media(1)
        assert b.media[0].sha256 == sha256(files[0].data) and b.media[0].camera == "rear"


async def test_progress_is_sent_at_most_once_a_second_and_the_end_always(start_bridge) -> None:
    async with start_bridge() as b:
        arrivals: list[tuple[float, TransferProgress]] = []

        async def record(event: TransferProgress) -> None:
            arrivals.append((time.monotonic(), event))

        b.bridge.subscribe(record, TransferProgress)
        (video,) = make_captures(IMEI, 0, 1)
        # ~2.5 s at this rate, a read every few packets: far more reads than updates.
        rate = len(video.data) / 2.5
        cam = SimulatedCamera("127.0.0.1", b.port, IMEI, [video], Faults(throttle=rate))
        await upload(b.port, [cam])
        await b.wait_for_media(1)
        states = [e.state for _, e in arrivals]
        assert states[0] == "receiving" and states[-1] == "done", states
        receiving = [t for t, e in arrivals if e.state == "receiving"]
        assert 2 <= len(receiving) <= 4, states
        gaps = [b - a for a, b in itertools.pairwise(receiving)]
        assert all(gap >= 0.95 for gap in gaps), gaps
        assert arrivals[-1][1].packets_done == video.packets


async def test_a_failing_subscriber_does_not_lose_the_file(start_bridge, caplog) -> None:
    async with start_bridge() as b:

        async def broken(event: MediaCompleted) -> None:
            raise RuntimeError("subscriber bug")

        b.bridge.subscribe(broken, MediaCompleted)
        files = make_captures(IMEI, 2, 0)
        cam = SimulatedCamera("127.0.0.1", b.port, IMEI, files)
        await upload(b.port, [cam])
        await b.wait_for_media(2)  # the other subscribers still got both, the link went on
        assert len(cam.result.delivered) == 2
        assert_stored_exactly_once(b, [cam])
    failures = [r for r in caplog.records if r.exc_info]
    assert len(failures) == 2
    assert all("MediaCompleted" in r.getMessage() and IMEI in r.getMessage() for r in failures)


async def test_unknown_device_is_closed_when_not_allowed(start_bridge, caplog) -> None:
    caplog.set_level(logging.INFO)
    known = {"imei": "352094082736999", "name": "van"}
    async with start_bridge(allow_unknown_devices=False, devices=[known]) as b:
        reader, writer = await asyncio.open_connection("127.0.0.1", b.port)
        writer.write(fr.encode_init(IMEI, 0x04000000))
        assert await asyncio.wait_for(reader.read(100), 5) == fr.encode_close()
        assert await asyncio.wait_for(reader.read(100), 5) == b""
        writer.close()
        assert f"camera {IMEI}" in caplog.text and "not in the device list" in caplog.text
        # The allowed one still gets through.
        cam = SimulatedCamera("127.0.0.1", b.port, known["imei"], make_captures(known["imei"]))
        await upload(b.port, [cam])
        await b.wait_for_media(1)
    no_tracebacks(caplog)


async def test_more_connections_than_allowed_get_close(start_bridge) -> None:
    async with start_bridge(camera={"max_connections": 3}) as b:
        held = [await asyncio.open_connection("127.0.0.1", b.port) for _ in range(3)]
        await asyncio.sleep(0.05)
        reader, writer = await asyncio.open_connection("127.0.0.1", b.port)
        assert await asyncio.wait_for(reader.read(100), 5) == fr.encode_close()
        for _, w in [*held, (reader, writer)]:
            w.close()
        await b.wait_idle()


async def test_second_connection_supersedes_first_without_corrupting(start_bridge) -> None:
    async with start_bridge() as b:
        files = make_captures(IMEI, 0, 1)
        # The first link stalls after 50 packets but stays open (a half-dead GPRS link).
        stalled = SimulatedCamera("127.0.0.1", b.port, IMEI, [files[0]])
        stall_at = asyncio.Event()
        task = asyncio.create_task(_stall_after(stalled, 50, stall_at))
        await asyncio.wait_for(stall_at.wait(), 10)
        fresh = SimulatedCamera("127.0.0.1", b.port, IMEI, [files[0]])
        await upload(b.port, [fresh])
        await b.wait_for_media(1)
        assert b.media[0].sha256 == sha256(files[0].data)
        assert fresh.result.resumes == 1  # it continued where the first link stopped
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await b.wait_idle()


async def _stall_after(cam: SimulatedCamera, packets: int, reached: asyncio.Event) -> None:
    """Open a session, send ``packets`` DATA packets, then go silent with the socket open."""
    reader, writer = await asyncio.open_connection(cam.host, cam.port)
    f = next(q[0] for q in cam.pending.values() if q)
    writer.write(fr.encode_init(cam.imei, cam.settings()))
    buf = b""
    while True:
        buf += await reader.read(100)
        if buf.endswith(fr.encode_file_request(f.file_id)):
            break
        if buf.startswith(fr.encode_metadata_request(f.file_id)[:4]) and len(buf) == 11:
            writer.write(fr.encode_metadata(f.metadata))
            buf = b""
    writer.write(fr.encode_start(f.packets, f.crcs[-1]))
    await reader.readexactly(8)  # RESUME 1
    writer.write(fr.encode_sync(1) + b"".join(f.frames[:packets]))
    await writer.drain()
    reached.set()
    try:
        await reader.read()  # until the server drops us
    finally:
        writer.close()


async def test_idle_device_is_closed_and_partial_resumes_later(start_bridge, caplog) -> None:
    caplog.set_level(logging.INFO)
    async with start_bridge(camera={"idle_timeout": 0.3}) as b:
        files = make_captures(IMEI, 0, 1)
        reached = asyncio.Event()
        cam = SimulatedCamera("127.0.0.1", b.port, IMEI, files)
        task = asyncio.create_task(_stall_after(cam, 30, reached))
        await asyncio.wait_for(reached.wait(), 5)
        await asyncio.wait_for(task, 5)  # the server closed the silent link
        assert "no progress for 0.3 s" in caplog.text
        spool = b.data_dir / "spool" / IMEI / "videof.part"
        assert spool.stat().st_size == 30 * 1024
        assert media_files(b.data_dir) == []
        await upload(b.port, [cam])
        await b.wait_for_media(1)
        assert cam.result.resumes == 1 and cam.result.packets_sent == files[0].packets - 30
        assert b.media[0].sha256 == sha256(files[0].data)
        assert not spool.exists()
    no_tracebacks(caplog)


async def test_slowloris_is_bounded_by_idle_timeout(start_bridge, caplog) -> None:
    async with start_bridge(camera={"idle_timeout": 0.4}) as b:
        conns = []
        for _ in range(10):
            reader, writer = await asyncio.open_connection("127.0.0.1", b.port)
            conns.append((reader, writer))
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        trickle = fr.encode_init(IMEI, 0x04000000) * 10
        for byte in trickle:  # a byte every 50 ms: progress never completes in time
            for _, w in conns:
                if not w.is_closing():
                    w.write(bytes([byte]))
            await asyncio.sleep(0.05)
            if not b.bridge.camera.connections:
                break
        elapsed = loop.time() - t0
        # Closed long before the 8 s trickle ends (generous bound for a loaded CI machine).
        assert not b.bridge.camera.connections and elapsed < 5
        for r, _ in conns:
            assert await asyncio.wait_for(r.read(), 2) == b""
        for _, w in conns:
            w.close()


BAD_INPUTS = {
    "port scanner": b"GET / HTTP/1.0\r\n\r\n",
    "tls hello": bytes.fromhex("16030100a5010000a10303") + bytes(150),
    "nonzero header": bytes.fromhex("0001000500013ee13c00198104000000"),
    "short imei": fr.encode_init(12345, 0x04000000),
    "data before start": fr.encode_init(IMEI, 0x04000000) + fr.encode_data(b"x", 0),
    "huge length": fr.encode_init(IMEI, 0x04000000) + bytes.fromhex("0004ffff"),
    "zero length data": fr.encode_init(IMEI, 0x04000000) + bytes.fromhex("00040000"),
    "start too large": fr.encode_init(IMEI, 0x04000000) + fr.encode_start(10**6, 0),
    "unknown commands": fr.encode_init(IMEI, 0x04000000) + fr.frame(0x77, b"?") * 20,
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
async def test_bad_input_gets_close_and_a_log_line(start_bridge, caplog, name: str) -> None:
    caplog.set_level(logging.INFO)
    async with start_bridge(camera={"request_metadata": False, "max_file_mb": 1}) as b:
        reader, writer = await asyncio.open_connection("127.0.0.1", b.port)
        writer.write(BAD_INPUTS[name])
        received = await asyncio.wait_for(reader.read(), 5)  # until the server closes
        assert received.endswith(fr.encode_close())
        writer.close()
        await b.wait_idle()
        # Others are not affected.
        cam = SimulatedCamera("127.0.0.1", b.port, imei(1), make_captures(imei(1), 1, 0))
        await upload(b.port, [cam])
        await b.wait_for_media(1)
    assert any(r.levelno >= logging.WARNING and "camera" in r.getMessage() for r in caplog.records)
    assert [p for p in media_files(b.data_dir) if p.suffix == ".jpg"] == [b.media[0].path]
    no_tracebacks(caplog)


async def test_truncated_init_then_disconnect(start_bridge, caplog) -> None:
    async with start_bridge() as b:
        _, writer = await asyncio.open_connection("127.0.0.1", b.port)
        writer.write(fr.encode_init(IMEI, 0x04000000)[:9])
        await writer.drain()
        writer.close()
        await b.wait_idle()
    no_tracebacks(caplog)


async def test_unknown_protocol_id_is_logged_and_tried(start_bridge, caplog) -> None:
    caplog.set_level(logging.INFO)
    async with start_bridge() as b:
        cam = SimulatedCamera("127.0.0.1", b.port, IMEI, make_captures(IMEI, 1, 0), protocol_id=7)
        await upload(b.port, [cam])
        await b.wait_for_media(1)
    assert f"camera {IMEI}" in caplog.text and "unknown protocol ID 7" in caplog.text


async def test_persistent_bad_crc_closes_and_keeps_the_partial(start_bridge, caplog) -> None:
    caplog.set_level(logging.INFO)
    async with start_bridge(camera={"max_retries": 3}) as b:
        files = make_captures(IMEI, 0, 1)
        # Every packet from the 11th on is damaged: the first 10 are kept.
        cam = SimulatedCamera("127.0.0.1", b.port, IMEI, files, Faults(max_reconnects=0))
        real_frames = files[0].frames
        files[0]._frames = real_frames[:10] + [
            f[:-2] + bytes([f[-2] ^ 0xFF, f[-1]]) for f in real_frames[10:]
        ]
        await upload(b.port, [cam])
        await b.wait_idle()
        assert b.media == []
        assert (b.data_dir / "spool" / IMEI / "videof.part").stat().st_size == 10 * 1024
    assert "giving up on %videof: 4 bad packets in a row" in caplog.text
    no_tracebacks(caplog)
