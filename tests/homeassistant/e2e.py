"""Helpers of the end-to-end tests: real mosquitto, the real bridge, the simulated vehicle.

The bridge runs from its own venv (`dualcam-bridge run`; the integration never imports it),
the vehicle is `dualcam-bridge simulate tracker` speaking the real protocols to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import sqlite3
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest
import yaml
from homeassistant.components import mqtt
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_PORT
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.dualcam.const import (
    CONF_MEDIA_DIR,
    CONF_STORE_MEDIA,
    CONF_TOPIC_PREFIX,
    CONF_VEHICLES,
    DOMAIN,
)

REPO = Path(__file__).resolve().parents[2]
# The bridge's own venv; scripts/test-ha runs HA in a chroot, with a bridge built there.
BRIDGE_CLI = Path(os.environ.get("DUALCAM_BRIDGE_CLI") or REPO / ".venv" / "bin" / "dualcam-bridge")
# The simulator's photos are this sample with a JPEG comment (COM) segment after SOI.
FRONT_SAMPLE = REPO / "bridge" / "dualcam_bridge" / "simulator" / "samples" / "front.jpg"
MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
)

PREFIX = "dualcam"
IMEI = "352094082739001"
NAME = "E2E van"

T = TypeVar("T")


def free_port() -> int:
    """A TCP port nobody listens on right now (127.0.0.1)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Process:
    """A child process with its output in a log file."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 30) -> str:
        """The end of its log, for failure messages."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Processes:
    """The test's child processes; every one is stopped by its PID at teardown."""

    workdir: Path
    running: list[Process] = field(default_factory=list)

    def start(self, name: str, *argv: str) -> Process:
        """Start argv with stdout and stderr going to <workdir>/<name>.log."""
        log = self.workdir / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        started = Process(name, proc, log)
        self.running.append(started)
        return started

    def check_alive(self) -> None:
        """Fail at once, with its log, if a child died."""
        for p in self.running:
            if p.proc.poll() is not None:
                pytest.fail(f"{p.name} exited with {p.proc.returncode}:\n{p.tail()}")

    def report(self) -> str:
        """Every child's log tail."""
        return "\n".join(f"--- {p.name} (pid {p.proc.pid}) ---\n{p.tail()}" for p in self.running)

    def stop_all(self) -> None:
        """Stop each child by its PID, the last started first (the tracker while the bridge
        still runs, the bridge while the broker still runs): SIGTERM, SIGKILL after 5 s."""
        for p in reversed(self.running):
            if p.proc.poll() is not None:
                continue
            p.proc.terminate()
            try:
                p.proc.wait(5)
            except subprocess.TimeoutExpired:
                p.proc.kill()
                p.proc.wait(5)
                with p.log.open("a") as log:
                    log.write("[test] did not stop within 5 s of SIGTERM: killed\n")


async def wait_for(
    what: str,
    check: Callable[[], T | None] | Callable[[], Awaitable[T | None]],
    procs: Processes,
    timeout: float = 20,
    interval: float = 0.05,
) -> T:
    """Poll check() until it returns something truthy; fail (with the logs) after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        procs.check_alive()
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}\n{procs.report()}")
        await asyncio.sleep(interval)


async def listening(port: int) -> bool:
    """True when something accepts TCP connections on 127.0.0.1:port."""
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def start_mosquitto(procs: Processes, workdir: Path) -> int:
    """mosquitto on a free loopback port, anonymous, nothing persisted."""
    assert MOSQUITTO is not None
    port = free_port()
    conf = workdir / "mosquitto.conf"
    lines = [
        f"listener {port} 127.0.0.1",
        "allow_anonymous true",
        "persistence false",
        "log_dest stdout",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "connection_messages true",
    ]
    if os.geteuid() == 0:
        # As root, mosquitto drops to user "mosquitto", who cannot read pytest's tmp_path.
        lines.append("user root")
    conf.write_text("\n".join(lines) + "\n")
    procs.start("mosquitto", MOSQUITTO, "-c", str(conf))
    return port


@dataclass
class BridgeSetup:
    """Where the bridge listens and keeps its files."""

    camera_port: int
    avl_port: int
    http_port: int
    data_dir: Path

    def stored_photo(self) -> tuple[Path, str] | None:
        """(path, sha256) of the front photo the bridge indexed for IMEI, if any yet."""
        db = self.data_dir / "index.sqlite3"
        if not db.exists():
            return None
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
            try:
                row = con.execute(
                    "SELECT path, sha256 FROM media WHERE imei = ? AND camera = 'front' "
                    "AND kind = 'photo' ORDER BY received_at DESC LIMIT 1",
                    (IMEI,),
                ).fetchone()
            except sqlite3.OperationalError:  # the bridge is still creating the schema
                return None
        if row is None:
            return None
        path = Path(row[0])
        return (path if path.is_absolute() else self.data_dir / path), row[1]


def start_bridge(procs: Processes, workdir: Path, broker_port: int) -> BridgeSetup:
    """`dualcam-bridge run` against the broker, camera and AVL servers on free ports."""
    setup = BridgeSetup(free_port(), free_port(), free_port(), workdir / "bridge-data")
    config = {
        "data_dir": str(setup.data_dir),
        "log_level": "info",
        "devices": [{"imei": IMEI, "name": NAME}],
        "camera": {"host": "127.0.0.1", "port": setup.camera_port},
        "avl": {"host": "127.0.0.1", "port": setup.avl_port, "command_timeout": 15},
        # The bridge's HTTP service: the links in media events, which Home Assistant fetches.
        "http": {
            "host": "127.0.0.1",
            "port": setup.http_port,
            "public_url": f"http://127.0.0.1:{setup.http_port}",
        },
        "mqtt": {
            "host": "127.0.0.1",
            "port": broker_port,
            "topic_prefix": PREFIX,
            "client_id": f"dualcam-bridge-e2e-{broker_port}",
        },
    }
    path = workdir / "bridge.yaml"
    path.write_text(yaml.safe_dump(config))
    procs.start("bridge", str(BRIDGE_CLI), "run", "--config", str(path))
    return setup


def start_tracker(procs: Processes, bridge: BridgeSetup) -> None:
    """One simulated vehicle (tracker + DualCam) talking to the bridge."""
    procs.start(
        "tracker",
        str(BRIDGE_CLI),
        "simulate",
        "tracker",
        "--host", "127.0.0.1",
        "--port", str(bridge.avl_port),
        "--camera-port", str(bridge.camera_port),
        "--imei", IMEI,
        "--interval", "1",
        "--duration", "120",  # longer than the test: it is stopped at teardown
        "--log-level", "info",
    )  # fmt: skip


def make_entries(media_dir: Path, store: bool = True) -> tuple[MockConfigEntry, MockConfigEntry]:
    """The MQTT entry (broker set by start_stack) and a DualCam entry (saving into media_dir)."""
    mqtt_entry = MockConfigEntry(
        domain=mqtt.DOMAIN,
        title="MQTT",
        data={mqtt.CONF_BROKER: "127.0.0.1"},
        version=1,
        minor_version=2,
    )
    dualcam_entry = MockConfigEntry(
        domain=DOMAIN,
        title=f"DualCam bridge ({PREFIX})",
        unique_id=PREFIX,
        data={CONF_TOPIC_PREFIX: PREFIX},
        options={CONF_STORE_MEDIA: store, CONF_MEDIA_DIR: str(media_dir), CONF_VEHICLES: []},
    )
    return mqtt_entry, dualcam_entry


async def start_stack(
    hass: HomeAssistant,
    procs: Processes,
    workdir: Path,
    mqtt_entry: MockConfigEntry,
    dualcam_entry: MockConfigEntry,
) -> BridgeSetup:
    """The broker, the bridge, the simulated vehicle, then Home Assistant's MQTT and DualCam.

    The DualCam entry exists before MQTT connects, so MQTT discovery of the bridge finds it
    configured.
    """
    broker_port = start_mosquitto(procs, workdir)
    await wait_for("mosquitto to listen", lambda: listening(broker_port), procs)
    bridge = start_bridge(procs, workdir, broker_port)
    await wait_for("the bridge's camera server", lambda: listening(bridge.camera_port), procs)
    await wait_for("the bridge's AVL server", lambda: listening(bridge.avl_port), procs)
    start_tracker(procs, bridge)

    mqtt_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        mqtt_entry, data={mqtt.CONF_BROKER: "127.0.0.1", CONF_PORT: broker_port}
    )
    dualcam_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mqtt_entry.entry_id)
    await wait_for("HA's MQTT client to connect", lambda: mqtt.is_connected(hass), procs)
    assert await hass.config_entries.async_setup(dualcam_entry.entry_id)
    await hass.async_block_till_done()
    return bridge


async def unload(hass: HomeAssistant, *entries: MockConfigEntry) -> None:
    """Unload while the broker still runs: HA's MQTT client then disconnects cleanly and
    leaves no reconnect or housekeeping timer behind."""
    for entry in entries:
        if entry.state is ConfigEntryState.LOADED:
            await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
