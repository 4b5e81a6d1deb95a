"""What the camera and AVL servers share: a TCP listener that runs one task per device socket.

Subclasses say how to refuse a socket beyond ``max_connections`` and how to serve one; the
listener keeps the set of open connections, stops them all on shutdown, and hands events to
the bridge's bus (whose ``emit`` never raises: a failing subscriber never breaks a link).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Generic, Protocol, TypeVar

from .events import BridgeEvent, EventHandler

log = logging.getLogger(__name__)

READ_SIZE = 256 * 1024


class Connection(Protocol):
    """One device socket being served."""

    task: asyncio.Task[None] | None
    imei: str | None

    def abort(self, reason: str) -> None: ...

    async def run(self) -> None: ...


C = TypeVar("C", bound=Connection)


class DeviceListener(Generic[C]):
    """``async with`` a listener on ``host:port``; one ``C`` per accepted socket."""

    kind = "device"  # "camera" / "tracker": the word the log lines use

    def __init__(
        self, host: str, port: int, max_connections: int, on_event: EventHandler | None
    ) -> None:
        self.host, self.bind_port, self.max_connections = host, port, max_connections
        self.on_event = on_event
        self.connections: set[C] = set()
        self.by_imei: dict[str, C] = {}
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Listen."""
        self._server = await asyncio.start_server(
            self._accept, self.host, self.bind_port, limit=READ_SIZE, backlog=1024
        )
        log.info("%s server listening on %s:%d", self.kind, self.host, self.port)

    async def stop(self) -> None:
        """Stop listening and close every connection (devices resume on the next bridge)."""
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            conn.abort("bridge stopping")
        tasks = [c.task for c in self.connections if c.task]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def __aenter__(self) -> DeviceListener[C]:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def emit(self, event: BridgeEvent) -> None:
        """Hand one event to the bus (``EventBus.emit``); dropped when nobody listens."""
        if self.on_event is not None:
            await self.on_event(event)

    def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> C:
        """The object that serves one accepted socket."""
        raise NotImplementedError

    def refuse(self, writer: asyncio.StreamWriter, peer: Any) -> None:
        """Turn away a socket beyond ``max_connections``."""
        writer.transport.abort()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self.connections) >= self.max_connections:
            peer = writer.get_extra_info("peername")
            log.warning(
                "%s ? (%s) refused: %d connections open",
                self.kind,
                peer_text(peer),
                len(self.connections),
            )
            self.refuse(writer, peer)
            return
        conn = self.connection(reader, writer)
        conn.task = asyncio.current_task()
        self.connections.add(conn)
        try:
            await conn.run()
        finally:
            self.connections.discard(conn)
            imei = getattr(conn, "imei", None)
            if imei and self.by_imei.get(imei) is conn:
                del self.by_imei[imei]


def peer_text(peer: Any) -> str:
    """``ip:port`` of a socket's peer, for log lines."""
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)
