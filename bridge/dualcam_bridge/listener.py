"""What the camera and AVL servers share: a TCP listener and the read loop of a device socket.

``DeviceListener`` runs one task per accepted socket, turns away sockets beyond
``max_connections``, stops them all on shutdown and hands events to the bridge's bus (whose
``emit`` never raises: a failing subscriber never breaks a link). ``DeviceConnection`` is the
one read loop both servers use: progress-based timeouts (a slowloris is bounded as tightly as
a silent peer), "the same IMEI connects again" (the newer link wins), and one log line naming
the device for every way a link ends. Subclasses fill in the hooks (``on_data``,
``on_timeout``, ``on_protocol_error``, ``on_close``…) around their sans-IO core.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Generic, TypeVar

from .events import DomainEvent, EventSink
from .protocol.errors import DeviceProtocolError

log = logging.getLogger(__name__)

READ_SIZE = 256 * 1024


C = TypeVar("C", bound="DeviceConnection")


class DeviceListener(Generic[C]):
    """``async with`` a listener on ``host:port``; one ``C`` per accepted socket."""

    kind = "device"  # "camera" / "tracker": the word the log lines use

    def __init__(
        self, host: str, port: int, max_connections: int, on_event: EventSink | None
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

    @property
    def listening(self) -> bool:
        """True while the listener accepts connections (``/healthz``)."""
        return self._server is not None and self._server.is_serving()

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

    async def emit(self, event: DomainEvent) -> bool:
        """Hand one event to the bus (``EventBus.emit``); False: not taken now, keep it."""
        if self.on_event is None:
            return True
        return await self.on_event(event) is not False

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
            if conn.imei and self.by_imei.get(conn.imei) is conn:
                del self.by_imei[conn.imei]


class DeviceConnection:
    """One device socket: the read loop and its bookkeeping; the protocol is the subclass's."""

    kind = "device"  # the word log lines use: "camera 3520… (1.2.3.4:5678)"
    read_size = READ_SIZE

    def __init__(
        self,
        listener: DeviceListener[Any],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        idle_timeout: float,
    ) -> None:
        self.listener = listener
        self.reader = reader
        self.writer = writer
        self.peer = peer_text(writer.get_extra_info("peername"))
        self.idle_timeout = idle_timeout
        self.task: asyncio.Task[None] | None = None
        self.imei: str | None = None
        self.closing: str | None = None  # why this side ends the link, once it does
        self.last_progress = 0.0

    @property
    def who(self) -> str:
        """How log lines name this device."""
        return f"{self.kind} {self.imei or '?'} ({self.peer})"

    def abort(self, reason: str) -> None:
        """Drop the link now (superseded, shutdown, storage failure)."""
        self.closing = reason
        self.on_abort()
        self.writer.transport.abort()

    def made_progress(self) -> None:
        """A whole frame arrived: the idle timer starts again."""
        self.last_progress = asyncio.get_running_loop().time()

    def claim_imei(self, imei: str) -> None:
        """Register as the IMEI's link; an older link of the same IMEI is superseded."""
        old = self.listener.by_imei.get(imei)
        if old is not None and old is not self:
            log.info("%s: new connection supersedes the one from %s", self.who, old.peer)
            old.abort("superseded by a new connection")
        self.listener.by_imei[imei] = self

    async def run(self) -> None:
        """Serve the link until it closes, fails, idles out or is superseded."""
        self.made_progress()
        try:
            while self.closing is None and not self.finished:
                try:
                    async with asyncio.timeout_at(self.read_deadline()):
                        data = await self.reader.read(self.read_size)
                except TimeoutError:
                    if await self.on_timeout():
                        continue
                    log.warning("%s: no progress for %g s, closing", self.who, self.idle_timeout)
                    self.on_idle()
                    break
                if not data:
                    self.on_disconnect()
                    break
                try:
                    await self.on_data(data)
                except DeviceProtocolError as exc:
                    await self.on_protocol_error(exc)
                    break
        except (ConnectionError, OSError) as exc:
            if self.closing is None:
                log.info("%s: connection lost: %s", self.who, exc)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A bug must not take the server down; it is logged with the device named.
            log.exception("%s: unexpected error", self.who)
        finally:
            await self.on_close()
            with contextlib.suppress(Exception):
                self.writer.close()

    # ---- hooks --------------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        """The protocol ended the conversation (the loop stops)."""
        return False

    def read_deadline(self) -> float:
        """When the next read gives up (loop time)."""
        return self.last_progress + self.idle_timeout

    async def on_data(self, data: bytes) -> None:
        """Bytes from the device; raise ``DeviceProtocolError`` to end the link."""
        raise NotImplementedError

    async def on_timeout(self) -> bool:
        """The read deadline passed: True to go on reading, False to close as idle."""
        return False

    def on_idle(self) -> None:
        """The link is closed for lack of progress."""

    def on_disconnect(self) -> None:
        """The device closed its side."""
        if self.closing is None:
            log.info("%s: disconnected", self.who)

    async def on_protocol_error(self, exc: DeviceProtocolError) -> None:
        """The device broke the protocol; the link closes after this."""
        log.warning("%s: protocol error: %s; closing", self.who, exc.reason)

    def on_abort(self) -> None:
        """``abort`` was called (before the socket is dropped)."""

    async def on_close(self) -> None:
        """The loop ended, for whatever reason (the socket is closed after this)."""
        if self.closing:
            log.info("%s: closed (%s)", self.who, self.closing)


def peer_text(peer: Any) -> str:
    """``ip:port`` of a socket's peer, for log lines."""
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)
