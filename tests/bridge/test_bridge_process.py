"""The bridge as a real process (``dualcam-bridge run``): kill -9 mid-video, full disk, CLI."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from dualcam_bridge.simulator import media
from dualcam_bridge.simulator.camera import Faults, SimFile, SimulatedCamera, make_captures

from .conftest import sha256

IMEI = "352094082736916"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BridgeProcess:
    """``python -m dualcam_bridge.cli run`` in a subprocess."""

    def __init__(self, tmp_path: Path, **camera) -> None:
        self.port = free_port()
        self.data_dir = tmp_path / "data"
        self.config = tmp_path / "bridge.yaml"
        self.log = tmp_path / "bridge.log"
        cfg = {
            "data_dir": str(self.data_dir),
            "log_level": "info",
            "camera": {"host": "127.0.0.1", "port": self.port, "idle_timeout": 5, **camera},
            "avl": {"host": "127.0.0.1", "port": 0},
            "mqtt": {"enabled": False},
            "http": {"host": "127.0.0.1", "port": 0},
        }
        self.config.write_text(yaml.safe_dump(cfg))
        self.proc: subprocess.Popen | None = None

    def start(self, fsize_limit: int | None = None) -> None:
        def limit() -> None:
            if fsize_limit is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (fsize_limit, resource.RLIM_INFINITY))

        log = open(self.log, "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dualcam_bridge.cli", "run", "--config", str(self.config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=limit,
        )
        log.close()

    async def wait_listening(self, timeout: float = 15) -> None:
        async with asyncio.timeout(timeout):
            while True:
                assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
                try:
                    _, w = await asyncio.open_connection("127.0.0.1", self.port)
                except OSError:
                    await asyncio.sleep(0.05)
                    continue
                w.close()
                return

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            return self.proc.wait(10)
        return self.proc.returncode

    def media_rows(self) -> list[tuple[str, str, str]]:
        db = self.data_dir / "index.sqlite3"
        if not db.exists():
            return []
        with contextlib.closing(sqlite3.connect(db)) as con:
            return con.execute("SELECT kind, path, sha256 FROM media").fetchall()


@pytest.fixture
def bridge_process(tmp_path: Path) -> Iterator[callable]:
    procs: list[BridgeProcess] = []

    def make(**camera) -> BridgeProcess:
        p = BridgeProcess(tmp_path, **camera)
        procs.append(p)
        return p

    yield make
    for p in procs:
        p.kill()


async def wait_until(predicate, timeout: float = 20, interval: float = 0.02) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(interval)


async def test_sigkill_mid_video_resumes_at_the_last_good_packet(bridge_process) -> None:
    bridge = bridge_process()
    bridge.start()
    await bridge.wait_listening()
    clip = make_captures(IMEI, 0, 1)[0]
    big = SimFile("%videof", media.video("front", "kill test") * 6, clip.metadata)
    assert big.packets > 900
    faults = Faults(throttle=600_000, reconnect_delay=0.1, max_reconnects=100)
    cam = SimulatedCamera("127.0.0.1", bridge.port, IMEI, [big], faults)
    upload = asyncio.create_task(cam.run())
    spool = bridge.data_dir / "spool" / IMEI / "videof.part"
    await wait_until(lambda: spool.exists() and spool.stat().st_size > len(big.data) * 0.4)
    bridge.kill()
    killed_at = spool.stat().st_size
    assert 0.4 * len(big.data) < killed_at < len(big.data)
    await asyncio.sleep(0.3)
    bridge.start()
    await asyncio.wait_for(upload, 60)
    await wait_until(lambda: len(bridge.media_rows()) == 1)
    ((kind, path, digest),) = bridge.media_rows()
    assert kind == "video" and digest == sha256(big.data) == sha256(Path(path).read_bytes())
    assert cam.result.resumes >= 1
    resent = cam.result.packets_sent - big.packets
    assert 0 <= resent < 0.02 * big.packets, resent
    assert bridge.stop() == 0
    log = bridge.log.read_text()
    assert "resuming %videof at packet" in log and "Traceback" not in log


async def test_killed_right_after_the_last_packet_the_file_is_committed_without_the_device(
    bridge_process,
) -> None:
    """kill -9 between the last packet's write and the commit; the camera never comes back.

    The kill lands when the spool holds the whole file but the index does not (fsync and
    sha256 of 2 MB give a window of milliseconds); a kill that came too late (already
    committed) is tried again with a fresh file, a few times at most.
    """
    clip = make_captures(IMEI, 0, 1)[0]
    bridge = bridge_process()
    spool = bridge.data_dir / "spool" / IMEI / "videof.part"
    for attempt in range(6):
        data = media.video("front", f"last packet {attempt}") * 12  # about 2 MB
        big = SimFile("%videof", data, clip.metadata)
        bridge.start()
        await bridge.wait_listening()
        before = len(bridge.media_rows())
        # No reconnects: a camera that took the end of the link as delivery never returns.
        cam = SimulatedCamera(
            "127.0.0.1", bridge.port, IMEI, [big], Faults(throttle=40_000_000, max_reconnects=0)
        )
        upload = asyncio.create_task(cam.run())
        size = len(data)
        await wait_until(
            lambda size=size: spool.exists() and spool.stat().st_size == size, 30, 0.0005
        )
        bridge.kill()
        await asyncio.wait_for(upload, 10)
        if len(bridge.media_rows()) == before:
            break  # killed before the commit point
    else:
        pytest.fail("every kill came after the commit")
    assert spool.stat().st_size == len(data)

    bridge.start()  # no device connects from here on
    await bridge.wait_listening()
    await wait_until(lambda: len(bridge.media_rows()) == before + 1)
    kind, path, digest = bridge.media_rows()[-1]
    assert kind == "video" and digest == sha256(data) == sha256(Path(path).read_bytes())
    assert not spool.exists()
    assert bridge.stop() == 0
    log = bridge.log.read_text()
    assert "committed the complete spool of %videof at start-up" in log
    assert "Traceback" not in log


async def test_full_disk_fails_the_transfer_cleanly_then_recovers(bridge_process) -> None:
    bridge = bridge_process(request_metadata=False)
    bridge.start(fsize_limit=100_000)  # files over 100 kB cannot be written
    await bridge.wait_listening()
    files = make_captures(IMEI, 1, 1)  # a 45 kB photo and a 160 kB video
    cam = SimulatedCamera(
        "127.0.0.1", bridge.port, IMEI, files, Faults(max_reconnects=1, reconnect_delay=0.05)
    )
    await asyncio.wait_for(cam.run(), 30)
    await wait_until(lambda: len(bridge.media_rows()) == 1)
    assert [r[0] for r in bridge.media_rows()] == ["photo"]
    assert not list((bridge.data_dir / "media").rglob("*.h265"))  # nothing half-written
    log = bridge.log.read_text()
    assert f"camera {IMEI}" in log and "cannot write %videof" in log
    assert "Traceback" not in log
    # Space is back: the same bridge process takes the video, resuming the partial.
    assert bridge.proc is not None
    resource.prlimit(bridge.proc.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)
    cam.faults.max_reconnects = 5
    await asyncio.wait_for(cam.run(), 30)
    await wait_until(lambda: len(bridge.media_rows()) == 2)
    video = next(r for r in bridge.media_rows() if r[0] == "video")
    assert video[2] == sha256(files[1].data)
    assert bridge.stop() == 0


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dualcam_bridge.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONWARNINGS": ""},
    )


async def test_simulate_camera_command_against_a_running_bridge(bridge_process) -> None:
    bridge = bridge_process()
    bridge.start()
    await bridge.wait_listening()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dualcam_bridge.cli",
        "simulate",
        "camera",
        "--port",
        str(bridge.port),
        "--imei",
        IMEI,
        "--photos",
        "2",
        "--videos",
        "1",
        "--corrupt-rate",
        "0.05",
        "--disconnect-after-packets",
        "60",
        "--seed",
        "3",
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, out
    assert f"camera {IMEI}: 3/3 files delivered" in out.decode()
    await wait_until(lambda: len(bridge.media_rows()) == 3)
    assert sorted(r[0] for r in bridge.media_rows()) == ["photo", "photo", "video"]


def test_check_config_reports_the_bad_key(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("camera:\n  port: 6000\n")
    ok = run_cli("check-config", str(good))
    assert ok.returncode == 0 and "OK" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("camera:\n  port: eighty\n  idle_timout: 5\n")
    res = run_cli("check-config", str(bad))
    assert res.returncode == 2
    assert "camera.port" in res.stderr and "camera.idle_timout: unknown key" in res.stderr


def test_example_config_is_valid() -> None:
    example = Path(__file__).parents[2] / "config" / "bridge.example.yaml"
    res = run_cli("check-config", str(example))
    assert res.returncode == 0, res.stderr
    # The http section as it applies: where, the links' base, who may fetch what.
    http_line = next(line for line in res.stdout.splitlines() if line.startswith("http:"))
    assert ":5080/media/<id>/<variant> valid 168 h" in http_line
    assert http_line.startswith("http: 0.0.0.0:5080, links http://")
    assert "bearer token not set; /healthz open, /metrics open" in http_line


def test_demo_command(tmp_path: Path) -> None:
    res = run_cli(
        "demo",
        "--data-dir",
        str(tmp_path / "demo"),
        "--cameras",
        "2",
        "--photos",
        "1",
        "--videos",
        "1",
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.count("stored photo") == 2 and res.stdout.count("stored video") == 2
    assert "done: 4 files stored of 4 sent" in res.stdout
    # Each file's URL (and the crash clips'), on the demo's HTTP port.
    assert res.stdout.count("  url: http://127.0.0.1:") == 4
    assert res.stdout.count("crash clip front url: http://127.0.0.1:") == 1
