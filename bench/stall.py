"""Event-loop stalls: what one big resume + commit costs every other device of the bridge.

    .venv/bin/python bench/stall.py [--cameras 50] [--resume-mb 60] [--seconds 8]

The bridge runs as its own process (this script with ``--serve``: the normal ``Bridge`` plus
two probes). This process is the fleet, on loopback:

- ``--cameras`` simulated DualCams (``dualcam_bridge.simulator``) uploading videos without
  pause, each throttled to ``--rate`` kB/s (one 1 KB DATA frame per write);
- one tracker that sends one Codec 8E record every 10 ms and waits for its ACK;
- in the "resume" run only: one more camera whose spool already holds a ``--resume-mb`` MB
  partial of its video (written before the bridge starts, sidecar and all); it connects two
  seconds in, the bridge finds the resume point, fetches the last 64 packets and commits the
  60 MB file (fsync, sha256, link, index).

Measured, over the whole window in which all devices are running (the same for both runs):

- **AVL ACK delay**: tracker side, from writing a one-record packet to reading its 4-byte ACK
  (the ACK is written only after the record is stored and its events are delivered);
- **DATA gap**: bridge side, for each of the other cameras' connections, the time between two
  consecutive socket reads that delivered DATA (``CameraConnection._process`` calls with the
  session receiving DATA before and after the previous one: the waits between two files,
  e.g. for the store, are not counted). A camera sends a frame every ~20 ms, so the gap is
  ~20 ms plus whatever held the loop. DualCam has no per-packet ACK: this is the closest;
- **loop lag**: bridge side, how late a ``sleep(5 ms)`` in the bridge's loop wakes up.

Both runs are printed, then the added delay (resume minus no resume) of each maximum. The
target is an added max AVL ACK delay below 20 ms. Bounded: two runs of ``--seconds``
(default 8) plus start-up; the whole script takes well under two minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).parent))

from avl import Tracker, percentile

from dualcam_bridge.camera.spool import metadata_to_json, write_json_atomic
from dualcam_bridge.protocol.dualcam_frames import PACKET_DATA_MAX, FileMetadata
from dualcam_bridge.simulator import media
from dualcam_bridge.simulator.camera import Faults, SimFile, SimulatedCamera, make_captures

IMEI_BASE = 352094082750000
RESUME_IMEI = "352094082759999"
TRACKER_IMEI = "352094082758888"
TAIL_PACKETS = 64  # what the resuming camera still has to send


# ---- the bridge process ---------------------------------------------------------------------


def serve(config_path: str) -> None:
    """Run the bridge with the probes; print the samples as JSON when stdin closes."""
    from dualcam_bridge.app import Bridge
    from dualcam_bridge.camera import server as camera_server
    from dualcam_bridge.config import load

    gaps: list[float] = []
    lags: list[float] = []
    last_read: dict[int, float] = {}
    original = camera_server.CameraConnection._process

    async def probed(self: Any, data: bytes) -> None:
        # Only reads while DATA flows (before and after): not the waits between files.
        now, key = time.perf_counter(), id(self)
        other = self.imei != RESUME_IMEI
        if other and self.session.state.name == "RECEIVING" and key in last_read:
            gaps.append(now - last_read[key])
        await original(self, data)
        if other and self.session.state.name == "RECEIVING":
            last_read[key] = now
        else:
            last_read.pop(key, None)

    camera_server.CameraConnection._process = probed  # type: ignore[method-assign]

    async def lag_probe() -> None:
        loop = asyncio.get_running_loop()
        while True:
            t = loop.time()
            await asyncio.sleep(0.005)
            lags.append(loop.time() - t - 0.005)

    async def main() -> None:
        config = load(config_path)
        async with Bridge(config):
            print("ready", flush=True)
            probe = asyncio.create_task(lag_probe())
            command = await asyncio.to_thread(sys.stdin.readline)
            while command.strip() == "mark":  # start of the measured window
                gaps.clear()
                lags.clear()
                print("marked", flush=True)
                command = await asyncio.to_thread(sys.stdin.readline)
            probe.cancel()
        Path(config_path).with_suffix(".json").write_text(json.dumps({"gaps": gaps, "lags": lags}))
        print("done", flush=True)

    asyncio.run(main())


# ---- the fleet ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def big_file(mb: int) -> SimFile:
    """A ``mb`` MB video with metadata (random-ish bytes: a real clip repeated)."""
    clip = media.video("front", "stall-bench")
    data = (clip * (mb * 1024 * 1024 // len(clip) + 1))[: mb * 1024 * 1024]
    when = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    meta = FileMetadata(1, 16, when, 3, 60, 25, 0, 54.6872, 25.2797)
    return SimFile("%videof", data, meta)


def pre_create_spool(data_dir: Path, f: SimFile) -> None:
    """The partial a link drop left behind: all but the last ``TAIL_PACKETS`` packets."""
    folder = data_dir / "spool" / RESUME_IMEI
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "videof.part").write_bytes(f.data[: (f.packets - TAIL_PACKETS) * PACKET_DATA_MAX])
    info = {
        "imei": RESUME_IMEI,
        "file": f.file_id,
        "packets": f.packets,
        "file_crc": f.crcs[-1],
        "metadata": metadata_to_json(f.metadata),
        "started_at": datetime.now(UTC).isoformat(),
        "trusted": True,
    }
    write_json_atomic(folder / "videof.json", info)


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path, resume: SimFile | None) -> None:
        self.args = args
        self.workdir = workdir
        self.resume = resume
        self.acks: list[float] = []
        self.stop = asyncio.Event()

    async def tracker(self, port: int) -> None:
        t = await Tracker.open(port, TRACKER_IMEI)
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while not self.stop.is_set():
            next_at += 0.010
            records = t.records(1, {239: 1, 240: 1, 66: 12850})
            t.conn.send_records(records)
            sent = time.perf_counter()
            t.writer.write(t.conn.data_to_send())
            t.conn.receive_data(await t.reader.readexactly(4))
            self.acks.append(time.perf_counter() - sent)
            await asyncio.sleep(max(0.0, next_at - loop.time()))
        t.writer.close()

    async def camera(self, port: int, n: int) -> None:
        imei = str(IMEI_BASE + n)
        faults = Faults(throttle=self.args.rate * 1000, reconnect_delay=0.05)
        while not self.stop.is_set():
            files = make_captures(imei, 0, 2, when=datetime.now(UTC) + timedelta(seconds=n))
            cam = SimulatedCamera("127.0.0.1", port, imei, files, faults, seed=n)
            run = asyncio.create_task(cam.run())
            stopped = asyncio.create_task(self.stop.wait())
            await asyncio.wait({run, stopped}, return_when=asyncio.FIRST_COMPLETED)
            for task in (run, stopped):
                task.cancel()
            await asyncio.gather(run, stopped, return_exceptions=True)

    async def resuming_camera(self, port: int) -> float:
        assert self.resume is not None
        cam = SimulatedCamera("127.0.0.1", port, RESUME_IMEI, [self.resume])
        t0 = time.perf_counter()
        result = await cam.run()
        assert result.delivered and result.resumes == 1, result
        assert result.packets_sent == TAIL_PACKETS, result.packets_sent
        return time.perf_counter() - t0

    async def run(self) -> dict[str, Any]:
        port, avl_port = free_port(), free_port()
        data_dir = self.workdir / "data"
        if self.resume is not None:
            pre_create_spool(data_dir, self.resume)
        cfg = {
            "data_dir": str(data_dir),
            "log_level": "warning",
            "camera": {"host": "127.0.0.1", "port": port, "idle_timeout": 60},
            "avl": {"host": "127.0.0.1", "port": avl_port},
            "media": {"remux_mp4": False, "browser_mp4": "never"},
            "mqtt": {"enabled": False},
            "http": {"enabled": False},
        }
        config_path = self.workdir / "bridge.yaml"
        config_path.write_text(yaml.safe_dump(cfg))
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--serve",
            str(config_path),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert proc.stdin is not None and proc.stdout is not None
        try:
            assert (await asyncio.wait_for(proc.stdout.readline(), 30)).strip() == b"ready"
            tasks = [asyncio.create_task(self.tracker(avl_port))]
            tasks += [asyncio.create_task(self.camera(port, n)) for n in range(self.args.cameras)]
            await asyncio.sleep(1.0)  # everyone connected and transferring
            proc.stdin.write(b"mark\n")
            assert (await proc.stdout.readline()).strip() == b"marked"
            self.acks.clear()
            await asyncio.sleep(2.0)
            resume_s = None
            if self.resume is not None:
                resume_s = await asyncio.wait_for(self.resuming_camera(port), 60)
            await asyncio.sleep(max(0.0, self.args.seconds - 2.0 - (resume_s or 0.0)))
            self.stop.set()
            proc.stdin.write(b"done\n")
            assert (await asyncio.wait_for(proc.stdout.readline(), 30)).strip() == b"done"
            samples = json.loads(config_path.with_suffix(".json").read_text())
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            self.stop.set()
            if proc.returncode is None:
                proc.terminate()
            await proc.wait()
        return {"acks": self.acks, **samples, "resume_s": resume_s}


def line(label: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"  {label:<16} n={len(ms):<6} p50 {percentile(ms, 50):7.2f} ms   "
        f"p99 {percentile(ms, 99):7.2f} ms   max {max(ms):7.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cameras", type=int, default=50)
    parser.add_argument("--rate", type=float, default=50, help="kB/s per camera (default 50)")
    parser.add_argument("--resume-mb", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=8.0, help="measured window per run")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    print(
        f"machine: {platform.node()}, {os.cpu_count()} CPUs (shared), "
        f"Python {platform.python_version()}"
    )
    print(
        f"workload: {args.cameras} cameras x {args.rate:g} kB/s, a tracker record every 10 ms, "
        f"{args.seconds:g} s window"
    )
    big = big_file(args.resume_mb)
    _ = big.frames  # encode before the clock runs
    results = {}
    for name, resume in (("no resume", None), ("resume", big)):
        with tempfile.TemporaryDirectory(prefix="dualcam-stall-") as tmp:
            results[name] = asyncio.run(Bench(args, Path(tmp), resume).run())
        r = results[name]
        took = r["resume_s"]
        extra = f" ({args.resume_mb} MB resumed + committed in {took:.2f} s)" if took else ""
        print(f"{name}:{extra}")
        print(line("AVL ACK delay", r["acks"]))
        print(line("DATA gap", r["gaps"]))
        print(line("loop lag", r["lags"]))
    base, res = results["no resume"], results["resume"]
    print("added by the resume (max resume - max no resume):")
    for label, key in (("AVL ACK delay", "acks"), ("DATA gap", "gaps"), ("loop lag", "lags")):
        added = (max(res[key]) - max(base[key])) * 1000
        p99 = (percentile(res[key], 99) - percentile(base[key], 99)) * 1000
        print(f"  {label:<16} max {added:+8.2f} ms   p99 {p99:+8.2f} ms")


if __name__ == "__main__":
    main()
