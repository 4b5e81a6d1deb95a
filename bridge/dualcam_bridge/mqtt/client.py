"""One aiomqtt connection at a time: build it from the config, keep it up, say why it fails.

:class:`MqttConnection` connects, runs a *session* callback for as long as the connection
lives, and reconnects with exponential backoff and jitter. The Last Will marks the bridge
``offline`` (retained) when the connection dies without a goodbye.

Only aiomqtt's public API is used. A connection the broker (or a proxy in front of a dead
broker) closes before its CONNACK is not reported by aiomqtt; the client's ``timeout``, which
bounds the wait for the CONNACK, is therefore a short connect timeout, and every other call
passes its own timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import ssl
from collections.abc import Awaitable, Callable

import aiomqtt
from paho.mqtt.reasoncodes import ReasonCode

from ..config import MqttConfig, TlsConfig
from .topics import OFFLINE

log = logging.getLogger(__name__)

Session = Callable[[aiomqtt.Client], Awaitable[None]]

# CONNACK codes meaning "your credentials": MQTT 3.1.1 (4, 5) and MQTT 5 (0x86, 0x87).
AUTH_CODES = {4, 5, 0x86, 0x87}
# A connection that lived this long was healthy: the next failure starts the backoff afresh.
STABLE_AFTER_S = 30.0
# The wait for the CONNACK once TCP (and TLS) is up: one round trip and the broker's login
# check. Also how long a connection closed before its CONNACK takes to count as failed.
CONNECT_TIMEOUT_S = 5.0
# paho's window of unacknowledged QoS 1 messages; aiomqtt warns beyond as many pending calls.
MAX_INFLIGHT = 64


class SettingsError(ValueError):
    """A setting names a file that cannot be used (certificate, password file)."""


class Backoff:
    """Exponential backoff with jitter: each delay is 50-100 % of min(maximum, initial·2ⁿ)."""

    def __init__(
        self,
        initial: float = 1.0,
        maximum: float = 60.0,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.initial = initial
        self.maximum = maximum
        self._rng = rng
        self._attempt = 0

    def next(self) -> float:
        """The delay before the next attempt."""
        ceiling = min(self.maximum, self.initial * 2.0**self._attempt)
        self._attempt = min(self._attempt + 1, 30)
        # Jitter keeps a fleet of bridges from reconnecting in lockstep after a broker restart.
        return ceiling * (0.5 + self._rng() / 2)

    def reset(self) -> None:
        """Start again from the initial delay."""
        self._attempt = 0


def tls_context(tls: TlsConfig) -> ssl.SSLContext:
    """An SSL context verifying the broker against ``ca_certs`` (or the system CAs)."""
    try:
        context = ssl.create_default_context(cafile=tls.ca_certs)
    except (OSError, ssl.SSLError) as exc:
        raise SettingsError(f"mqtt.tls.ca_certs: cannot load {tls.ca_certs}: {exc}") from exc
    if tls.certfile:
        try:
            context.load_cert_chain(tls.certfile, tls.keyfile)
        except (OSError, ssl.SSLError) as exc:
            raise SettingsError(
                f"mqtt.tls.certfile/keyfile: cannot load {tls.certfile}: {exc}"
            ) from exc
    if tls.insecure:
        # Same meaning as mosquitto_sub --insecure: the chain is verified, the name is not.
        context.check_hostname = False
    return context


def default_client_id() -> str:
    """A stable client id per machine, so broker logs and ACLs can name the bridge."""
    return f"dualcam-bridge-{socket.gethostname()}"


def build_client(
    config: MqttConfig,
    client_id: str | None = None,
    will: aiomqtt.Will | None = None,
    connect_timeout: float = CONNECT_TIMEOUT_S,
) -> aiomqtt.Client:
    """An (unconnected) aiomqtt client for the configured broker, TLS and credentials."""
    c = config
    protocol = aiomqtt.ProtocolVersion.V5 if c.protocol == "5" else aiomqtt.ProtocolVersion.V311
    client = aiomqtt.Client(
        c.broker_host,
        c.broker_port,
        username=c.username,
        password=_password(c),
        identifier=client_id or c.client_id or default_client_id(),
        protocol=protocol,
        will=will,
        keepalive=c.keepalive,
        tls_context=tls_context(c.tls) if c.tls is not None else None,
        max_inflight_messages=MAX_INFLIGHT,
        timeout=connect_timeout,
        # Events are small and follow each other (a transfer's last progress, then its media
        # event): without this, Nagle holds the second until the broker's delayed ACK (40 ms).
        socket_options=((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),),
    )
    # The publisher bounds its own calls (one message in flight per device, chunked
    # republish), so as many pending calls as paho's window are expected, not a leak.
    client.pending_calls_threshold = MAX_INFLIGHT
    return client


def _password(s: MqttConfig) -> str | None:
    if s.username is None:
        return None
    try:
        return s.read_password()
    except OSError as exc:
        raise SettingsError(
            f"mqtt.password_file: cannot read {s.password_file}: {exc.strerror}"
        ) from exc


class MqttConnection:
    """Keeps one connection to the broker and runs ``session`` on each one."""

    def __init__(
        self,
        config: MqttConfig,
        will_topic: str,
        session: Session,
        backoff: Backoff | None = None,
        connect_timeout: float = CONNECT_TIMEOUT_S,
    ) -> None:
        self._config = config
        self._will_topic = will_topic
        self._session = session
        self._backoff = backoff or Backoff()
        self._connect_timeout = connect_timeout
        self.stopping = asyncio.Event()
        self.failures = 0  # consecutive failed attempts, for tests and health checks

    @property
    def address(self) -> str:
        """``host:port`` of the broker, as logged."""
        return f"{self._config.broker_host}:{self._config.broker_port}"

    def stop(self) -> None:
        """Ask :meth:`run` to end: the session says goodbye and no reconnect follows."""
        self.stopping.set()

    async def run(self) -> None:
        """Connect, run the session, reconnect after failures, until :meth:`stop`."""
        loop = asyncio.get_running_loop()
        while not self.stopping.is_set():
            connected_at: float | None = None
            error: BaseException | None = None
            try:
                client = self._build_client()
                async with client:
                    connected_at = loop.time()
                    self.failures = 0
                    log.info(
                        "connected to MQTT broker %s as %s (MQTT %s)",
                        self.address,
                        client.identifier,
                        self._config.protocol,
                    )
                    await self._session(client)
            except aiomqtt.MqttError as exc:
                error = exc
            except SettingsError as exc:
                error = exc
            except Exception as exc:
                # A bug in a session must not end the bridge's MQTT for good.
                log.exception("MQTT session failed")
                error = exc
            if self.stopping.is_set():
                break
            if connected_at is not None and loop.time() - connected_at >= STABLE_AFTER_S:
                self._backoff.reset()
            self.failures += 1
            delay = self._backoff.next()
            self._log_failure(error, connected_at is not None, delay)
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that meets
            # the wake-up, and whoever cancels this task would wait for it forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self.stopping.wait()

    def _build_client(self) -> aiomqtt.Client:
        will = aiomqtt.Will(self._will_topic, OFFLINE, qos=1, retain=True)
        return build_client(self._config, will=will, connect_timeout=self._connect_timeout)

    def _log_failure(self, error: BaseException | None, was_connected: bool, delay: float) -> None:
        retry = f"retrying in {delay:.1f} s"
        rc = getattr(error, "rc", None)
        code = rc.value if isinstance(rc, ReasonCode) else rc
        s = self._config
        if code in AUTH_CODES:
            log.error(
                "MQTT broker %s refused the login of user %r: %s; check mqtt.username and "
                "mqtt.password / mqtt.password_file (%s)",
                self.address,
                s.username,
                rc,
                retry,
            )
        elif isinstance(error, aiomqtt.MqttCodeError) and not was_connected:
            hint = "; the embedded broker speaks only 3.1.1" if s.protocol == "5" else ""
            log.error(
                "MQTT broker %s refused the connection: %s%s (%s)", self.address, error, hint, retry
            )
        elif error is not None and "SSL" in f"{type(error).__name__} {error}":
            log.error(
                "TLS with MQTT broker %s failed: %s; check mqtt.tls (ca_certs, certfile, "
                "keyfile, insecure) and the broker's certificate (%s)",
                self.address,
                error,
                retry,
            )
        elif isinstance(error, SettingsError):
            log.error("cannot connect to MQTT broker %s: %s (%s)", self.address, error, retry)
        elif was_connected:
            log.warning(
                "lost the connection to MQTT broker %s: %s (%s)", self.address, error, retry
            )
        else:
            log.warning("cannot reach MQTT broker %s: %s (%s)", self.address, error, retry)
