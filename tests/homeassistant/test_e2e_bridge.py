"""End to end with nothing mocked between the parts.

A real mosquitto on 127.0.0.1, the real bridge (`dualcam-bridge run`, from the bridge's own
venv: the integration never imports it), a simulated tracker + DualCam speaking the real
protocols to it (`dualcam-bridge simulate tracker`), and Home Assistant's real `mqtt`
integration connected to that broker with the DualCam integration on top.

`dualcam.request_photo` then travels HA → MQTT command → bridge → Codec 12 `camreq` → the
simulated tracker, whose camera captures and uploads a photo to the bridge, which stores it
and publishes it; the front camera entity ends up showing exactly the stored JPEG.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import socket
import sqlite3
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest
import yaml
from conftest import get_device
from homeassistant.components import camera, mqtt
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_PORT, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)

from custom_components.dualcam.const import (
    CONF_MEDIA_DIR,
    CONF_STORE_MEDIA,
    CONF_TOPIC_PREFIX,
    CONF_VEHICLES,
    DOMAIN,
    EVENT_MEDIA_RECEIVED,
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
TEST_TIMEOUT = 50  # seconds for the whole scenario (pytest-timeout's 60 s is the backstop)

T = TypeVar("T")

pytestmark = [
    pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto is not installed (apt mosquitto)"),
    pytest.mark.skipif(
        not BRIDGE_CLI.exists(),
        reason=f"the bridge venv is missing ({BRIDGE_CLI}); scripts/test or scripts/setup "
        "creates it",
    ),
]


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


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    """Child processes that are stopped whatever happens (their logs are printed on failure)."""
    procs = Processes(tmp_path)
    try:
        yield procs
    finally:
        procs.stop_all()
        print(procs.report())  # pytest shows it only when the test failed


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
    setup = BridgeSetup(free_port(), free_port(), workdir / "bridge-data")
    config = {
        "data_dir": str(setup.data_dir),
        "log_level": "info",
        "devices": [{"imei": IMEI, "name": NAME}],
        "camera": {"host": "127.0.0.1", "port": setup.camera_port},
        "avl": {"host": "127.0.0.1", "port": setup.avl_port, "command_timeout": 15},
        "media": {"remux_mp4": False},
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


async def front_image(hass: HomeAssistant, entity_id: str) -> bytes:
    """What the camera entity serves (camera.snapshot and the frontend get the same); a
    placeholder before the first photo."""
    return (await camera.async_get_image(hass, entity_id)).content


async def test_request_photo_reaches_the_camera_entity(
    hass: HomeAssistant,
    mock_hass_config: None,  # an empty configuration.yaml (MQTT reads it at setup)
    socket_enabled: None,  # real sockets; pytest-socket still allows only 127.0.0.1
    processes: Processes,
    tmp_path: Path,
) -> None:
    """dualcam.request_photo → real bridge + simulator → camera entity shows the photo."""
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
        options={
            CONF_STORE_MEDIA: True,
            CONF_MEDIA_DIR: str(tmp_path / "ha-media"),
            CONF_VEHICLES: [],
        },
    )
    try:
        async with asyncio.timeout(TEST_TIMEOUT):
            await _scenario(hass, processes, tmp_path, mqtt_entry, dualcam_entry)
    finally:
        # Unload while the broker still runs: HA's MQTT client then disconnects cleanly and
        # leaves no reconnect or housekeeping timer behind.
        for entry in (dualcam_entry, mqtt_entry):
            if entry.state is ConfigEntryState.LOADED:
                await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()


async def _scenario(
    hass: HomeAssistant,
    procs: Processes,
    workdir: Path,
    mqtt_entry: MockConfigEntry,
    dualcam_entry: MockConfigEntry,
) -> None:
    # 1. The broker, the bridge, the simulated vehicle.
    broker_port = start_mosquitto(procs, workdir)
    await wait_for("mosquitto to listen", lambda: listening(broker_port), procs)
    bridge = start_bridge(procs, workdir, broker_port)
    await wait_for("the bridge's camera server", lambda: listening(bridge.camera_port), procs)
    await wait_for("the bridge's AVL server", lambda: listening(bridge.avl_port), procs)
    start_tracker(procs, bridge)

    # 2. Home Assistant's real MQTT integration on that broker, then DualCam. The DualCam
    #    entry exists before MQTT connects, so MQTT discovery of the bridge finds it configured.
    mqtt_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        mqtt_entry, data={mqtt.CONF_BROKER: "127.0.0.1", CONF_PORT: broker_port}
    )
    dualcam_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mqtt_entry.entry_id)
    await wait_for("HA's MQTT client to connect", lambda: mqtt.is_connected(hass), procs)
    assert await hass.config_entries.async_setup(dualcam_entry.entry_id)
    await hass.async_block_till_done()
    media_events = async_capture_events(hass, EVENT_MEDIA_RECEIVED)

    # 3. The vehicle's device and its front camera, available (bridge and tracker online).
    device = await wait_for(
        "the vehicle's device",
        lambda: get_device(hass, IMEI),
        procs,
    )
    assert device.name == NAME and device.serial_number == IMEI
    entity_id = await wait_for(
        "the front camera entity",
        lambda: er.async_get(hass).async_get_entity_id("camera", DOMAIN, f"{IMEI}_front_camera"),
        procs,
    )
    await wait_for(
        "the front camera to be available",
        lambda: (state := hass.states.get(entity_id)) and state.state != STATE_UNAVAILABLE,
        procs,
    )
    # The simulated cameras are healthy: state 3, a mounted SD card.
    state_id = er.async_get(hass).async_get_entity_id(
        "sensor", DOMAIN, f"{IMEI}_front_camera_state"
    )
    assert state_id is not None
    await wait_for(
        "the front camera's state",
        lambda: (state := hass.states.get(state_id)) and state.state == "card_mounted",
        procs,
    )
    before = await front_image(hass, entity_id)
    picture_before = hass.states.get(entity_id).attributes.get("entity_picture")

    # 4. The action, answered by the tracker over Codec 12 through the bridge.
    response = await hass.services.async_call(
        DOMAIN,
        "request_photo",
        {"device_id": device.id, "source": "front", "timeout": 20},
        blocking=True,
        return_response=True,
    )
    assert response is not None
    [result] = response["results"]
    assert result == {
        "device_id": device.id,
        "imei": IMEI,
        "name": NAME,
        "id": result["id"],
        "ok": True,
        "command": "camreq",
        "response": "Request for photo from source 1 received",
        "error": None,
    }

    # 5. The bridge stored the uploaded photo; the camera entity shows exactly those bytes.
    path, digest = await wait_for("the bridge to store the photo", bridge.stored_photo, procs)
    stored = path.read_bytes()
    assert hashlib.sha256(stored).hexdigest() == digest
    sample = FRONT_SAMPLE.read_bytes()
    # The simulator's front sample, tagged with this capture (a COM segment after SOI).
    assert stored[:4] == b"\xff\xd8\xff\xfe" and stored.endswith(sample[2:])
    assert f"imei={IMEI} photo front".encode() in stored[:200]
    assert stored != before

    async def shows_stored_photo() -> bool:
        return await front_image(hass, entity_id) == stored

    await wait_for("the camera entity to show the stored photo", shows_stored_photo, procs)
    state = hass.states.get(entity_id)
    assert state.state != STATE_UNAVAILABLE
    assert state.attributes["photo_received_at"] is not None
    assert state.attributes["entity_picture"] != picture_before

    # The media event and the payload were paired: HA saved the same file and said so.
    [event] = await wait_for(
        "dualcam_media_received",
        lambda: [e for e in media_events if e.data["sha256"] == digest],
        procs,
    )
    assert event.data["kind"] == "photo" and event.data["camera"] == "front"
    assert event.data["trigger"] == "server_request"
    assert Path(event.data["path"]).read_bytes() == stored
