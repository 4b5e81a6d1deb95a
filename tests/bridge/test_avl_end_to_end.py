"""End to end over real sockets: simulated vehicles (tracker + DualCam) against the AVL side."""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from pathlib import Path

from dualcam_bridge.avl.command_text import request_video
from dualcam_bridge.avl.replies import CameraRequestAccepted
from dualcam_bridge.avl.requests import CameraPhotoRequest
from dualcam_bridge.events import (
    CameraStateChanged,
    MediaCompleted,
    SosClipLinked,
    SosTriggered,
)
from dualcam_bridge.simulator.camera import SimulatedCamera
from dualcam_bridge.simulator.fleet import (
    add_fleet_arguments,
    add_tracker_arguments,
    make_vehicle,
    run_fleet_command,
    run_tracker_command,
    simulate_fleet,
)
from dualcam_bridge.simulator.tracker import SimulatedTracker, TrackerFaults

from .avl_fixtures import AvlHarness, running_avl

IMEI = "352094082736916"


def imei(n: int) -> str:
    return str(352094082737000 + n)


def states(h: AvlHarness, imei: str) -> list[tuple[str, int]]:
    return [(e.camera, e.value) for e in h.of(CameraStateChanged, imei)]


async def drive(tracker: SimulatedTracker, n: int) -> list[int]:
    """A scripted day: state changes and SOS between ordinary records; the SOS values sent."""
    tracker.record()
    await tracker.wait_delivered()
    tracker.set_camera_state("front", 1)
    tracker.record()
    tracker.trigger_sos(n % 3)
    await tracker.wait_delivered()
    tracker.set_camera_state("rear", 4)
    tracker.record()
    tracker.trigger_sos(3)
    tracker.set_camera_state("front", 3)
    await tracker.wait_delivered()
    return [n % 3, 3]


async def test_fleet_of_ten_exactly_once_despite_lost_acks_and_a_restart(tmp_path: Path) -> None:
    faults = TrackerFaults(drop_acks=frozenset({2, 4}), reconnect_delay=0.01)
    trackers = [
        SimulatedTracker(
            "127.0.0.1", 0, imei(n), interval=None, records_per_packet=2, faults=faults
        )
        for n in range(10)
    ]
    async with running_avl(tmp_path) as h:
        runs = []
        for t in trackers:
            t.port = h.avl_port
            runs.append(asyncio.create_task(t.run()))
        sos_sent = await asyncio.gather(*(drive(t, n) for n, t in enumerate(trackers)))
        for t in trackers:
            t.stop()
        await asyncio.gather(*runs)
        for n, t in enumerate(trackers):
            assert t.result.acks_dropped == 2 and t.result.connections == 3
            assert t.result.records_sent > len(t.sent)  # records really were sent twice
            assert states(h, t.imei) == [("front", 3), ("rear", 3), ("front", 1), ("rear", 4),
                                         ("front", 3)]  # fmt: skip
            assert [e.value for e in h.of(SosTriggered, t.imei)] == sos_sent[n]
        sos_ids = [e.id for e in h.of(SosTriggered)]
        assert len(set(sos_ids)) == len(sos_ids) == 20
        assert h.avl.db.count("records") == sum(len(t.sent) for t in trackers)

    # The bridge restarts; the trackers never heard the ACKs and send everything again.
    async with running_avl(tmp_path) as h2:
        for t in trackers:
            t.port = h2.avl_port
            t.resend_everything()
            t.faults = TrackerFaults()
        runs = [asyncio.create_task(t.run()) for t in trackers]
        await asyncio.gather(*(t.wait_delivered() for t in trackers))
        assert h2.of(CameraStateChanged) == [] and h2.of(SosTriggered) == []
        # New records with unchanged states say nothing; a change is news once.
        trackers[0].record()
        trackers[1].set_camera_state("rear", 0)
        await asyncio.gather(*(t.wait_delivered() for t in trackers[:2]))
        assert h2.of(CameraStateChanged) == [
            CameraStateChanged(imei(1), "rear", 0, trackers[1].sent[-1].timestamp)
        ]
        for t in trackers:
            t.stop()
        await asyncio.gather(*runs)


async def test_request_video_reaches_the_tracker_as_exact_camreq_text(tmp_path: Path) -> None:
    async with running_avl(tmp_path) as h:
        camera = SimulatedCamera("127.0.0.1", h.camera_port, IMEI)
        tracker = SimulatedTracker("127.0.0.1", h.avl_port, IMEI, camera=camera, interval=None)
        run = asyncio.create_task(tracker.run())
        tracker.record()
        await tracker.wait_delivered()
        start = 1795694400  # 2026-11-26 12:00:00 UTC
        reply = await h.avl.router.submit(IMEI, request_video("rear", start, 10))
        assert tracker.result.commands == [f"camreq:0,2,{start},10"]
        assert reply.ok and reply.command == f"camreq:0,2,{start},10"
        text = "Request for video from source 2 received for 10 seconds since 2026-11-2612:00:00"
        assert reply.response == text
        assert isinstance(reply.result, CameraRequestAccepted)
        assert (reply.result.kind, reply.result.cameras, reply.result.duration_s) == (
            "video",
            ("rear",),
            10,
        )
        assert reply.result.since is not None and reply.result.since.isoformat() == (
            "2026-11-26T12:00:00"
        )
        # The camera recorded it and uploaded it.
        await h.wait_for(lambda: h.of(MediaCompleted))
        (video,) = h.of(MediaCompleted)
        assert (video.imei, video.camera, video.kind, video.trigger) == (
            IMEI,
            "rear",
            "video",
            "server_request",
        )
        assert video.captured_at is not None and int(video.captured_at.timestamp()) == start
        tracker.stop()
        await run


async def test_camreq_photo_makes_the_camera_upload_both_photos(tmp_path: Path) -> None:
    async with running_avl(tmp_path) as h:
        vehicle = make_vehicle("127.0.0.1", h.avl_port, h.camera_port, IMEI, interval=None)
        run = asyncio.create_task(vehicle.tracker.run())
        reply = await h.avl.router.submit(IMEI, CameraPhotoRequest(3), ttl=10)  # waits for login
        assert reply.ok and reply.response == "Request for photo from source 3 received"
        await h.wait_for(lambda: len(h.of(MediaCompleted)) == 2)
        photos = h.of(MediaCompleted)
        assert {(m.camera, m.kind, m.trigger) for m in photos} == {
            ("front", "photo", "server_request"),
            ("rear", "photo", "server_request"),
        }
        assert all(m.path.exists() for m in photos)
        vehicle.tracker.stop()
        await run


async def test_crash_sos_is_linked_to_its_crash_clips(tmp_path: Path) -> None:
    async with running_avl(tmp_path) as h:
        vehicle = make_vehicle("127.0.0.1", h.avl_port, h.camera_port, IMEI, interval=None)
        run = asyncio.create_task(vehicle.tracker.run())
        vehicle.tracker.trigger_sos(3)  # a crash: SOS record + both cameras record a clip
        await h.wait_for(lambda: len(h.of(SosClipLinked)) == 2, timeout=20)
        (sos,) = h.of(SosTriggered)
        assert sos.trigger == "crash" and sos.position is not None and sos.id
        videos = {m.camera: m for m in h.of(MediaCompleted)}
        assert {v.trigger for v in videos.values()} == {"crash"}
        assert {(link.sos_id, link.camera, link.media_id) for link in h.of(SosClipLinked)} == {
            (sos.id, cam, m.id) for cam, m in videos.items()
        }
        clip = h.avl.find_clip_for_sos(sos.id)
        assert clip is not None and clip.path == videos["front"].path and clip.path.exists()
        assert h.avl.find_clip_for_sos(sos.id, "rear").path == videos["rear"].path  # type: ignore[union-attr]
        vehicle.tracker.stop()
        await run


async def test_simulate_fleet_crashes_are_linked_and_nothing_is_doubled(tmp_path: Path) -> None:
    async with running_avl(tmp_path) as h:
        fleet = await simulate_fleet(
            "127.0.0.1",
            h.avl_port,
            h.camera_port,
            vehicles=3,
            duration=0.4,
            interval=0.05,
            crash_at=0.1,
            drop_ack_every=3,
        )
        await h.wait_for(lambda: len(h.of(SosClipLinked)) == 6, timeout=30)
        assert sum(r.acks_dropped for r in fleet.trackers) >= 3
        assert Counter(e.imei for e in h.of(SosTriggered)) == {v.imei: 1 for v in fleet.vehicles}
        for v in fleet.vehicles:
            assert states(h, v.imei) == [("front", 3), ("rear", 3)]
            assert not v.tracker.pending
        assert h.avl.db.count("records") == sum(len(v.tracker.sent) for v in fleet.vehicles)
        assert "3 vehicles" in fleet.summary()


async def test_simulate_fleet_cli(tmp_path: Path, capsys) -> None:
    async with running_avl(tmp_path) as h:
        parser = argparse.ArgumentParser()
        add_fleet_arguments(parser)
        args = parser.parse_args(
            ["--vehicles", "2", "--avl-port", str(h.avl_port), "--camera-port",
             str(h.camera_port), "--duration", "0.2", "--interval", "0.05"]
        )  # fmt: skip
        assert await asyncio.to_thread(run_fleet_command, args) == 0
        await h.wait_idle()
        assert len({e.imei for e in h.of(CameraStateChanged)}) == 2
    assert "2 vehicles:" in capsys.readouterr().out


async def test_simulate_tracker_cli_with_a_crash_and_lost_acks(tmp_path: Path, capsys) -> None:
    async with running_avl(tmp_path) as h:
        parser = argparse.ArgumentParser()
        add_tracker_arguments(parser)
        args = parser.parse_args(
            ["--port", str(h.avl_port), "--camera-port", str(h.camera_port), "--duration", "0.3",
             "--interval", "0.05", "--crash-at", "0.1", "--drop-ack-every", "2"]
        )  # fmt: skip
        assert await asyncio.to_thread(run_tracker_command, args) == 0
        await h.wait_for(lambda: len(h.of(SosClipLinked)) == 2)
        assert len(h.of(SosTriggered)) == 1
    out = capsys.readouterr().out
    assert out.startswith("tracker 352094082736916: ") and "2 files uploaded" in out


async def test_simulate_tracker_cli_camera_states(tmp_path: Path) -> None:
    """Healthy cameras (3, card mounted) by default; told so, a tracker reports the others."""
    parser = argparse.ArgumentParser()
    add_tracker_arguments(parser)
    assert (parser.parse_args([]).front_state, parser.parse_args([]).rear_state) == (3, 3)
    async with running_avl(tmp_path) as h:
        args = parser.parse_args(
            ["--port", str(h.avl_port), "--camera-port", str(h.camera_port), "--duration", "0.2",
             "--interval", "0.05", "--front-state", "1", "--rear-state", "4", "--no-camera"]
        )  # fmt: skip
        assert await asyncio.to_thread(run_tracker_command, args) == 0
        await h.wait_idle()
        assert states(h, IMEI) == [("front", 1), ("rear", 4)]
