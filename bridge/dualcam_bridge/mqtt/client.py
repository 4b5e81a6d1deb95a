"""One aiomqtt connection at a time: build it from the settings, keep it up, say why it fails.

:class:`MqttConnection` connects, runs a *session* callback for as long as the connection
lives, and reconnects with exponential backoff and jitter. The Last Will marks the bridge
``offline`` (retained) when the connection dies without a goodbye.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import aiomqtt
from paho.mqtt.reasoncodes import ReasonCode

from .config import MqttSettings, TlsSettings
from .topics import OFFLINE

log = logging.getLogger(__name__)

Session = Callable[[aiomqtt.Client], Awaitable[None]]

# CONNACK codes meaning "your credentials": MQTT 3.1.1 (4, 5) and MQTT 5 (0x86, 0x87).
AUTH_CODES = {4, 5, 0x86, 0x87}
# A connection that lived this long was healthy: the next failure starts the backoff afresh.
STABLE_AFTER_S = 30.0


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
        ceiling = min(self.maximum, self.initial * 2**self._attempt)
        self._attempt = min(self._attempt + 1, 30)
        # Jitter keeps a fleet of bridges from reconnecting in lockstep after a broker restart.
        return ceiling * (0.5 + self._rng() / 2)

    def reset(self) -> None:
        """Start again from the initial delay."""
        self._attempt = 0


def tls_context(tls: TlsSettings) -> ssl.SSLContext:
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


class _Client(aiomqtt.Client):
    """aiomqtt's client, failing a connect at once when the socket closes before CONNACK."""

    def _on_disconnect(
        self,
        client: Any,
        userdata: Any,
        flags: Any,
        reason_code: ReasonCode,
        properties: Any = None,
    ) -> None:
        # aiomqtt 2.x ignores this case and waits out its timeout; a proxy in front of a dead
        # broker (docker-proxy, HAProxy) accepts and closes at once, over and over.
        if not self._connected.done():
            error = aiomqtt.MqttError(f"connection closed before CONNACK ({reason_code})")
            self._connected.set_exception(error)
            return
        super()._on_disconnect(client, userdata, flags, reason_code, properties)


def default_client_id() -> str:
    """A stable client id per machine, so broker logs and ACLs can name the bridge."""
    return f"dualcam-bridge-{socket.gethostname()}"


def build_client(
    settings: MqttSettings, client_id: str | None = None, will: aiomqtt.Will | None = None
) -> aiomqtt.Client:
    """An (unconnected) aiomqtt client for the configured broker, TLS and credentials."""
    s = settings
    protocol = aiomqtt.ProtocolVersion.V5 if s.protocol == "5" else aiomqtt.ProtocolVersion.V311
    return _Client(
        s.broker_host,
        s.broker_port,
        username=s.username,
        password=_password(s),
        identifier=client_id or s.client_id or default_client_id(),
        protocol=protocol,
        will=will,
        keepalive=s.keepalive,
        tls_context=tls_context(s.tls) if s.tls is not None else None,
        max_inflight_messages=64,
    )


def _password(s: MqttSettings) -> str | None:
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
        settings: MqttSettings,
        will_topic: str,
        session: Session,
        backoff: Backoff | None = None,
    ) -> None:
        self._settings = settings
        self._will_topic = will_topic
        self._session = session
        self._backoff = backoff or Backoff()
        self.stopping = asyncio.Event()
        self.failures = 0  # consecutive failed attempts, for tests and health checks

    @property
    def address(self) -> str:
        """``host:port`` of the broker, as logged."""
        return f"{self._settings.broker_host}:{self._settings.broker_port}"

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
                        self._settings.protocol,
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
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)

    def _build_client(self) -> aiomqtt.Client:
        will = aiomqtt.Will(self._will_topic, OFFLINE, qos=1, retain=True)
        return build_client(self._settings, will=will)

    def _log_failure(self, error: BaseException | None, was_connected: bool, delay: float) -> None:
        retry = f"retrying in {delay:.1f} s"
        rc = getattr(error, "rc", None)
        code = rc.value if isinstance(rc, ReasonCode) else rc
        s = self._settings
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
