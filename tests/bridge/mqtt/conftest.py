"""Real MQTT brokers for the MQTT tests: mosquitto when installed, the embedded amqtt always.

``broker`` is parametrized over both, so the core tests run against each one available.
``secure_mosquitto`` runs mosquitto with a password file and TLS from a CA made in the fixture.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dualcam_bridge.config_fields import parse
from dualcam_bridge.mqtt import Backoff, EmbeddedBroker, MqttConfig, MqttPublisher

from .helpers import Collector, Fleet, free_port

MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
)
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd")
OPENSSL = shutil.which("openssl")
BROKERS = ["mosquitto", "amqtt"]

needs_mosquitto = pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto is not installed")


async def _wait_listening(
    port: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = 10.0
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise OSError(f"the broker exited with {proc.returncode}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.02)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return


@dataclass
class Broker:
    """A broker on 127.0.0.1:``port`` that a test can stop and start again on the same port."""

    kind: str
    port: int
    workdir: Path
    extra_conf: list[str] = field(default_factory=list)
    full_conf: list[str] | None = None  # a whole config instead of the generated one
    _proc: subprocess.Popen[bytes] | None = None
    _embedded: EmbeddedBroker | None = None

    @property
    def running(self) -> bool:
        """True between start and stop."""
        return self._proc is not None or self._embedded is not None

    def collector(self, topic: str = "#", **kwargs: Any) -> Collector:
        """A subscriber on this broker.

        amqtt forwards every message at the subscription's QoS instead of min(publish QoS,
        subscription QoS) (amqtt/broker.py, _broadcast_message without qos), so a subscriber
        can check the publisher's QoS only on mosquitto.
        """
        return Collector(self.port, topic, exact_qos=self.kind != "amqtt", **kwargs)

    async def start(self) -> None:
        """Start listening (on the same port every time)."""
        if self.kind == "amqtt":
            self._embedded = EmbeddedBroker("127.0.0.1", self.port)
            await self._embedded.start()
            return
        assert MOSQUITTO is not None
        conf = self.workdir / "mosquitto.conf"
        lines = [
            "per_listener_settings false",
            "persistence false",
            f"log_dest file {self.workdir / 'mosquitto.log'}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            *self.extra_conf,
        ]
        if not any(line.startswith("listener") for line in self.extra_conf):
            lines += [f"listener {self.port} 127.0.0.1", "allow_anonymous true"]
        if self.full_conf is not None:
            lines = list(self.full_conf)
        if os.geteuid() == 0:
            # As root mosquitto drops to user "mosquitto", who cannot read pytest's tmp_path.
            lines.append("user root")
        conf.write_text("\n".join(lines) + "\n")
        self._proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            await _wait_listening(self.port, self._proc)
        except OSError:
            self._proc.kill()
            _, err = self._proc.communicate()
            raise RuntimeError(f"mosquitto did not start: {err.decode()}") from None

    async def stop(self) -> None:
        """Stop the broker (its sessions and retained messages are gone)."""
        if self._embedded is not None:
            await self._embedded.stop()
            self._embedded = None
        if self._proc is not None:
            self._proc.terminate()
            try:
                await asyncio.to_thread(self._proc.wait, 5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                await asyncio.to_thread(self._proc.wait)
            if self._proc.stderr is not None:
                self._proc.stderr.close()
            self._proc = None

    async def restart(self, outage: float = 0.0) -> None:
        """Stop, wait ``outage`` seconds, start again on the same port."""
        await self.stop()
        await asyncio.sleep(outage)
        await self.start()


@pytest.fixture(params=BROKERS)
async def broker(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Broker]:
    """A running broker: mosquitto (when installed) and the embedded amqtt."""
    kind = request.param
    if kind == "mosquitto" and MOSQUITTO is None:
        pytest.skip("mosquitto is not installed")
    workdir = tmp_path / f"broker-{kind}"
    workdir.mkdir()
    b = Broker(kind, free_port(), workdir)
    await b.start()
    yield b
    await b.stop()


@pytest.fixture
async def mosquitto(tmp_path: Path) -> AsyncIterator[Broker]:
    """A plain mosquitto (for MQTT 5 tests)."""
    if MOSQUITTO is None:
        pytest.skip("mosquitto is not installed")
    workdir = tmp_path / "broker-mosquitto"
    workdir.mkdir()
    b = Broker("mosquitto", free_port(), workdir)
    await b.start()
    yield b
    await b.stop()


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    """A simulated fleet writing its media under tmp_path/media."""
    return Fleet(tmp_path / "media")


FAST_BACKOFF = {"initial": 0.05, "maximum": 0.3}
# A broker (or the tests' Gate) that closes before the CONNACK costs this long per attempt.
FAST_CONNECT_TIMEOUT = 1.0


@pytest.fixture
def make_publisher(
    tmp_path: Path,
) -> Callable[..., MqttPublisher]:
    """Build an MqttPublisher for a broker port (fast reconnects, a unique client id).

    Keyword options are ``mqtt:`` keys (validated like the YAML) or publisher arguments.
    """

    def make(port: int, state: Path | None = None, **options: Any) -> MqttPublisher:
        kwargs = {k: options.pop(k) for k in list(options) if k in PUBLISHER_ARGS}
        section = {
            "host": "127.0.0.1",
            "port": port,
            "client_id": f"bridge-{uuid.uuid4().hex[:8]}",
            **options,
        }
        kwargs.setdefault("connect_timeout", FAST_CONNECT_TIMEOUT)
        return MqttPublisher(
            parse(MqttConfig, section, "mqtt"),
            state or tmp_path / "mqtt.sqlite3",
            backoff=Backoff(**FAST_BACKOFF),
            **kwargs,
        )

    return make


PUBLISHER_ARGS = {
    "bridge_info",
    "handle_command",
    "connect_timeout",
    "max_inflight",
    "on_published",
}


def run_tool(*cmd: str, cwd: Path) -> None:
    """Run a command-line tool (openssl, mosquitto_passwd), failing loudly."""
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)


@dataclass
class Pki:
    """A throwaway CA and a server certificate for 127.0.0.1."""

    ca: Path
    cert: Path
    key: Path


def make_pki(workdir: Path) -> Pki:
    """Generate a test CA and a server certificate (SAN IP:127.0.0.1) with openssl."""
    steps = [
        "req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=dualcam-test-ca"
        " -keyout ca.key -out ca.crt",
        "req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key -out server.csr",
        "x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2"
        " -extfile san.ext -out server.crt",
    ]
    (workdir / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for step in steps:
        run_tool(OPENSSL or "openssl", *step.split(), cwd=workdir)
    for name in ("ca.crt", "server.crt", "server.key"):
        (workdir / name).chmod(0o644)  # readable by mosquitto whatever user it runs as
    return Pki(workdir / "ca.crt", workdir / "server.crt", workdir / "server.key")


USER, PASSWORD = "bridge", "s3cret-pass"


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """One test CA and server certificate for the whole session (RSA keys take a while)."""
    if OPENSSL is None:
        pytest.skip("openssl is not installed")
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
async def secure_mosquitto(tmp_path: Path, pki: Pki) -> AsyncIterator[tuple[Broker, Pki]]:
    """mosquitto with a TLS listener that requires a username and password."""
    if MOSQUITTO is None or MOSQUITTO_PASSWD is None:
        pytest.skip("needs mosquitto and mosquitto_passwd")
    workdir = tmp_path / "secure-broker"
    workdir.mkdir()
    passwd = workdir / "passwd"
    run_tool(MOSQUITTO_PASSWD, "-b", "-c", str(passwd), USER, PASSWORD, cwd=workdir)
    port = free_port()
    conf = [
        f"listener {port} 127.0.0.1",
        "allow_anonymous false",
        f"password_file {passwd}",
        f"cafile {pki.ca}",
        f"certfile {pki.cert}",
        f"keyfile {pki.key}",
    ]
    b = Broker("mosquitto", port, workdir, extra_conf=conf)
    await b.start()
    yield b, pki
    await b.stop()
