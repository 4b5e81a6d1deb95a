"""The embedded MQTT broker (amqtt) started when ``mqtt.host`` is not configured.

It listens on loopback only and accepts anonymous clients: it is for the demo and a first try
on one machine. Anything shared or exposed should use a real broker (see config/mosquitto.conf).
amqtt speaks MQTT 3.1.1, so keep ``mqtt.protocol: 3.1.1`` with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import TracebackType
from typing import Any

from ..config import EMBEDDED_HOST

log = logging.getLogger(__name__)

LISTENER = "default"
SHUTDOWN_TIMEOUT_S = 5.0


class EmbeddedBrokerError(RuntimeError):
    """The embedded broker cannot start (amqtt missing, port in use…)."""


class EmbeddedBroker:
    """An amqtt broker in this process and event loop: ``async with EmbeddedBroker(port=…)``."""

    def __init__(self, host: str = EMBEDDED_HOST, port: int = 1883) -> None:
        self.host = host
        self.port = port
        self._broker: Any = None
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        """Listen on ``host:port``; raises EmbeddedBrokerError with the reason when it cannot."""
        try:
            from amqtt.broker import Broker
        except ImportError as exc:
            raise EmbeddedBrokerError(
                "mqtt.host is not set and the embedded broker needs amqtt: "
                "pip install amqtt, or set mqtt.host to an MQTT broker"
            ) from exc
        for name in ("amqtt", "transitions"):
            if logging.getLogger(name).level == logging.NOTSET:
                # They log every connection and state change at INFO; ours says what matters.
                logging.getLogger(name).setLevel(logging.WARNING)
        config = {
            # We own the socket ("external" listener) so stop() can cut every connection:
            # amqtt's own shutdown can wait forever for a client caught mid-handshake.
            "listeners": {LISTENER: {"type": "external"}},
            # Only anonymous auth: the default plugin set adds $SYS topics and packet logging.
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
        broker = Broker(config)
        try:
            await broker.start()
            self._server = await asyncio.start_server(self._serve, self.host, self.port)
        except Exception as exc:
            with contextlib.suppress(Exception):
                await broker.shutdown()
            raise EmbeddedBrokerError(
                f"cannot start the embedded MQTT broker on {self.host}:{self.port}: {exc}; "
                "if a broker already runs there, set mqtt.host to use it"
            ) from exc
        self._broker = broker
        log.info("embedded MQTT broker (amqtt) listening on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        """Close the listener, cut every connection and shut the broker down."""
        broker, self._broker = self._broker, None
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._connections):
            writer.transport.abort()
        if broker is not None:
            try:
                await asyncio.wait_for(broker.shutdown(), SHUTDOWN_TIMEOUT_S)
            except TimeoutError:
                log.warning("embedded MQTT broker did not shut down cleanly")
            log.info("embedded MQTT broker stopped")
        if server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), SHUTDOWN_TIMEOUT_S)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        from amqtt.adapters import StreamReaderAdapter, StreamWriterAdapter

        if self._broker is None:
            writer.transport.abort()
            return
        self._connections.add(writer)
        try:
            await self._broker.external_connected(
                StreamReaderAdapter(reader), StreamWriterAdapter(writer), LISTENER
            )
        except Exception as exc:
            log.debug("embedded broker connection ended: %s", exc)
        finally:
            self._connections.discard(writer)
            writer.transport.abort()

    async def __aenter__(self) -> EmbeddedBroker:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
