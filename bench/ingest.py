"""Camera ingest benchmark: aggregate MB/s, packets/s and CPU of the bridge, vs a bare server.

The bridge runs as its own process (``dualcam-bridge run``); this script is the simulated
fleet (N cameras over loopback, each uploading real H.265 clips with the full protocol:
FILE REQ, START, RESUME, SYNC, chained-CRC DATA, commit with fsync + sha256). The baseline is
a bare asyncio server in its own process that only reads and discards the same bytes.
Then it holds ``--idle`` silent camera connections open and reports the bridge's RSS.

    .venv/bin/python bench/ingest.py --cameras 20 --files 5 --idle 1000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from dualcam_bridge.simulator import media
from dualcam_bridge.simulator.camera import SimFile, SimulatedCamera, make_captures

BASELINE_SERVER = """
import asyncio, sys
async def handle(reader, writer):
    while await reader.read(262144):
        pass
    writer.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]), backlog=2048)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()
asyncio.run(main())
"""


PROFILE = os.environ.get("BENCH_PROFILE")  # write a cProfile of the bridge here


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def wait_port(port: int, proc: subprocess.Popen) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise SystemExit("server did not start")


def make_fleet_files(cameras: int, files: int, clip_repeat: int) -> dict[str, list[SimFile]]:
    fleet = {}
    for n in range(cameras):
        imei = str(352094082700000 + n)
        out = []
        for f in make_captures(imei, 0, files, cameras=("front", "rear")):
            data = media.video((f.file_id[-1] == "f" and "front") or "rear", f"{imei}{len(out)}")
            out.append(SimFile(f.file_id, data * clip_repeat, f.metadata))
        fleet[imei] = out
    return fleet


async def run_bridge_ingest(fleet: dict[str, list[SimFile]], workdir: Path) -> dict[str, float]:
    port = free_port()
    cfg = {
        "data_dir": str(workdir / "data"),
        "log_level": "warning",
        "camera": {"host": "127.0.0.1", "port": port, "max_connections": 5000, "idle_timeout": 600},
        "media": {"remux_mp4": False, "browser_mp4": "never"},
        "avl": {"enabled": False},
        "mqtt": {"enabled": False},
        "http": {"enabled": False},
    }
    (workdir / "bridge.yaml").write_text(yaml.safe_dump(cfg))
    prof = ["-m", "cProfile", "-o", PROFILE] if PROFILE else []
    proc = subprocess.Popen(
        [
            sys.executable,
            *prof,
            "-m",
            "dualcam_bridge.cli",
            "run",
            "--config",
            str(workdir / "bridge.yaml"),
        ]
    )
    try:
        await wait_port(port, proc)
        cams = [SimulatedCamera("127.0.0.1", port, imei, files) for imei, files in fleet.items()]
        for c in cams:  # pre-encode frames so the simulator spends its time sending
            for q in c.pending.values():
                for f in q:
                    _ = f.frames
        cpu0, t0 = cpu_seconds(proc.pid), time.perf_counter()
        results = await asyncio.gather(*(c.run() for c in cams))
        elapsed = time.perf_counter() - t0
        cpu = cpu_seconds(proc.pid) - cpu0
        delivered = sum(len(r.delivered) for r in results)
        expected = sum(len(f) for f in fleet.values())
        assert delivered == expected, (delivered, expected)
        total = sum(len(f.data) for fs in fleet.values() for f in fs)
        packets = sum(f.packets for fs in fleet.values() for f in fs)
        return {
            "bytes": total,
            "packets": packets,
            "seconds": elapsed,
            "cpu": cpu,
            "files": delivered,
            "pid": proc.pid,
            "port": port,
        }
    finally:
        proc.terminate()
        proc.wait(10)


async def run_baseline(fleet: dict[str, list[SimFile]]) -> dict[str, float]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", BASELINE_SERVER, str(port)])
    try:
        await wait_port(port, proc)
        streams = [b"".join(fr for f in files for fr in f.frames) for files in fleet.values()]

        async def blast(data: bytes) -> None:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            view = memoryview(data)
            for i in range(0, len(data), 64 * 1030):
                writer.write(view[i : i + 64 * 1030])
                await writer.drain()
            writer.close()
            await writer.wait_closed()

        cpu0, t0 = cpu_seconds(proc.pid), time.perf_counter()
        await asyncio.gather(*(blast(s) for s in streams))
        # Let the server drain what the kernel still buffers.
        await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - t0
        return {
            "bytes": sum(map(len, streams)),
            "seconds": elapsed,
            "cpu": cpu_seconds(proc.pid) - cpu0,
        }
    finally:
        proc.terminate()
        proc.wait(10)


async def run_idle(count: int, workdir: Path) -> dict[str, float]:
    port = free_port()
    cfg = {
        "data_dir": str(workdir / "idle-data"),
        "log_level": "warning",
        "camera": {
            "host": "127.0.0.1",
            "port": port,
            "max_connections": count + 100,
            "idle_timeout": 600,
        },
        "avl": {"enabled": False},
        "mqtt": {"enabled": False},
        "http": {"enabled": False},
    }
    (workdir / "idle.yaml").write_text(yaml.safe_dump(cfg))
    proc = subprocess.Popen(
        [sys.executable, "-m", "dualcam_bridge.cli", "run", "--config", str(workdir / "idle.yaml")]
    )
    conns = []
    try:
        await wait_port(port, proc)
        await asyncio.sleep(0.3)
        before = rss_mb(proc.pid)
        for _ in range(count):
            conns.append(await asyncio.open_connection("127.0.0.1", port))
        await asyncio.sleep(1.0)
        after = rss_mb(proc.pid)
        return {"connections": count, "rss_before": before, "rss_after": after}
    finally:
        for _, w in conns:
            w.close()
        proc.terminate()
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=20)
    parser.add_argument("--files", type=int, default=5, help="videos per camera")
    parser.add_argument("--clip-repeat", type=int, default=6, help="~160 kB x this per video")
    parser.add_argument("--idle", type=int, default=1000, help="idle connections to hold")
    args = parser.parse_args()

    fleet = make_fleet_files(args.cameras, args.files, args.clip_repeat)
    with tempfile.TemporaryDirectory(prefix="dualcam-bench-") as tmp:
        ingest = asyncio.run(run_bridge_ingest(fleet, Path(tmp)))
        base = asyncio.run(run_baseline(fleet))
        idle = asyncio.run(run_idle(args.idle, Path(tmp))) if args.idle else None

    mb = ingest["bytes"] / 1e6
    rate = mb / ingest["seconds"]
    base_rate = base["bytes"] / 1e6 / base["seconds"]
    print(f"machine: {platform.node()} {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        f"workload: {args.cameras} cameras x {args.files} videos, {ingest['files']} files, "
        f"{mb:.1f} MB, {ingest['packets']} packets"
    )
    print(
        f"bridge ingest:   {rate:7.1f} MB/s  {ingest['packets'] / ingest['seconds']:9.0f} "
        f"packets/s  bridge CPU {ingest['cpu']:.2f} s "
        f"({100 * ingest['cpu'] / ingest['seconds']:.0f}% of one core)"
    )
    print(f"bare read+discard: {base_rate:5.1f} MB/s  server CPU {base['cpu']:.2f} s")
    print(f"ratio bridge/bare: {rate / base_rate:.2f}")
    if idle:
        print(
            f"idle: {idle['connections']} camera connections held, bridge RSS "
            f"{idle['rss_before']:.1f} MB → {idle['rss_after']:.1f} MB "
            f"({1024 * (idle['rss_after'] - idle['rss_before']) / idle['connections']:.1f} kB each)"
        )


if __name__ == "__main__":
    main()
