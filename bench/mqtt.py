"""MQTT pipeline benchmark: photo latency (last DATA packet → MQTT message at a subscriber)
and photo throughput through the whole bridge.

Three processes over loopback: mosquitto (or, without it, the bridge's embedded broker), the
bridge (``dualcam-bridge run``: camera server, media store with fsync + sha256, durable MQTT
outbox, publisher), and this script (simulated DualCams + an MQTT subscriber). A photo's
latency runs from the moment its last DATA packet is handed to the socket to the moment its
``P/<imei>/media`` event arrives at the subscriber (after the bridge stored, indexed and
published the photo bytes and the event).

    .venv/bin/python bench/mqtt.py --latency-photos 200 --cameras 20 --photos 25
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiomqtt
import yaml

from dualcam_bridge.simulator.camera import SimFile, SimulatedCamera, make_captures

MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_port(port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


class Stack:
    """Broker + bridge processes in a temp dir."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.camera_port = free_port()
        self.mqtt_port = free_port()
        self.procs: list[subprocess.Popen] = []
        self.broker = "mosquitto" if MOSQUITTO else "embedded amqtt"

    async def __aenter__(self) -> Stack:
        mqtt = {"port": self.mqtt_port, "client_id": "bench-bridge"}
        if MOSQUITTO:
            conf = self.workdir / "mosquitto.conf"
            lines = [
                f"listener {self.mqtt_port} 127.0.0.1",
                "allow_anonymous true",
                "persistence false",
                "max_queued_messages 100000",
            ]
            if os.geteuid() == 0:
                lines.append("user root")
            conf.write_text("\n".join(lines) + "\n")
            self.procs.append(
                subprocess.Popen(
                    [MOSQUITTO, "-c", str(conf)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            await wait_port(self.mqtt_port)
            mqtt["host"] = "127.0.0.1"
        cfg = {
            "data_dir": str(self.workdir / "data"),
            "log_level": "warning",
            "camera": {"host": "127.0.0.1", "port": self.camera_port, "idle_timeout": 120},
            "avl": {"enabled": False},
            "media": {"remux_mp4": False, "browser_mp4": "never"},
            "mqtt": mqtt,
            "http": {"enabled": False},
        }
        (self.workdir / "bridge.yaml").write_text(yaml.safe_dump(cfg))
        self.procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "dualcam_bridge.cli",
                    "run",
                    "--config",
                    str(self.workdir / "bridge.yaml"),
                ]
            )
        )
        await wait_port(self.camera_port)
        await wait_port(self.mqtt_port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
            proc.wait(10)


class Subscriber:
    """Records when each media event arrives, by the file's sha256."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.arrived: dict[str, float] = {}
        self.changed = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._client: aiomqtt.Client | None = None

    async def __aenter__(self) -> Subscriber:
        self._client = aiomqtt.Client("127.0.0.1", self.port, identifier="bench-subscriber")
        await self._client.__aenter__()
        await self._client.subscribe("dualcam/+/media", qos=1)
        self._task = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None and self._client is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self._client.__aexit__(None, None, None)

    async def _read(self) -> None:
        assert self._client is not None
        async for message in self._client.messages:
            now = time.monotonic()
            event = json.loads(message.payload)
            self.arrived.setdefault(event["sha256"], now)
            self.changed.set()

    async def wait_for(self, count: int, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while len(self.arrived) < count:
                self.changed.clear()
                await self.changed.wait()


def sha(f: SimFile) -> str:
    import hashlib

    return hashlib.sha256(f.data).hexdigest()


async def measure_latency(stack: Stack, sub: Subscriber, photos: int) -> list[float]:
    """One camera, one photo at a time: the unloaded end-to-end latency."""
    imei = "352094082739000"
    latencies = []
    files = make_captures(imei, photos, 0, cameras=("front",))
    for f in files:
        cam = SimulatedCamera("127.0.0.1", stack.camera_port, imei, [f])
        await cam.run()
        async with asyncio.timeout(10):
            while sha(f) not in sub.arrived:
                sub.changed.clear()
                await sub.changed.wait()
        assert f.sent_at is not None
        latencies.append((sub.arrived[sha(f)] - f.sent_at) * 1000)
    return latencies


async def measure_throughput(stack: Stack, sub: Subscriber, cameras: int, photos: int):
    fleet = {
        str(352094082739100 + n): make_captures(str(352094082739100 + n), photos, 0)
        for n in range(cameras)
    }
    for files in fleet.values():
        for f in files:
            _ = f.frames
    before = len(sub.arrived)
    total = cameras * photos
    t0 = time.monotonic()
    cams = [SimulatedCamera("127.0.0.1", stack.camera_port, i, fs) for i, fs in fleet.items()]
    await asyncio.gather(*(c.run() for c in cams))
    await sub.wait_for(before + total, 120)
    elapsed = time.monotonic() - t0
    lat = [(sub.arrived[sha(f)] - f.sent_at) * 1000 for fs in fleet.values() for f in fs]
    return total, elapsed, lat


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="dualcam-mqtt-bench-") as tmp:
        async with Stack(Path(tmp)) as stack, Subscriber(stack.mqtt_port) as sub:
            latencies = await measure_latency(stack, sub, args.latency_photos)
            total, elapsed, loaded = await measure_throughput(stack, sub, args.cameras, args.photos)
    print(
        f"machine: {platform.node()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, broker: {stack.broker}"
    )
    print(
        f"photo latency, last DATA packet -> media event at a subscriber, one at a time "
        f"(n={len(latencies)}): p50 {pct(latencies, 50):.1f} ms  p99 {pct(latencies, 99):.1f} ms"
        f"  max {max(latencies):.1f} ms"
    )
    print(
        f"throughput: {total} photos ({args.cameras} cameras x {args.photos}, 45 kB/11 kB "
        f"JPEGs) in {elapsed:.2f} s = {total / elapsed:.0f} photos/s; latency under that "
        f"load p50 {pct(loaded, 50):.0f} ms  p99 {pct(loaded, 99):.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-photos", type=int, default=200)
    parser.add_argument("--cameras", type=int, default=20)
    parser.add_argument("--photos", type=int, default=25, help="photos per camera")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
