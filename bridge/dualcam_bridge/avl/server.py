"""The asyncio AVL server: a thin loop around ``AvlServerConnection`` and ``TrackerState``.

One task per tracker connection. A packet is ACKed only after its records are stored and
their events delivered, so a bridge that dies in between gets the packet again; a frame with
a bad CRC is not ACKed (the tracker resends it). Timeouts are about progress: a link that
completes no good frame for ``idle_timeout`` seconds is closed. A second login from the same
IMEI supersedes the first link. Bad device input gets a defined answer — a rejected login
(``00``), or the link closed without an ACK — and one log line naming the tracker, never a
traceback and never an effect on another tracker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3

from ..allowlist import DeviceAllowList
from ..clock import now_utc
from ..config import AvlConfig
from ..events import DeviceSeen, EventSink, TrackerAvailability
from ..listener import DeviceConnection, DeviceListener
from ..protocol.avl_connection import AvlServerConnection, AvlState
from ..protocol.avl_events import (
    AvlEvent,
    BadCrc,
    CommandResponse,
    ConnectionClosed,
    LoginRequest,
    RecordsReceived,
    UnsolicitedResponse,
)
from ..protocol.errors import DeviceProtocolError
from .router import CommandRouter
from .tracker_state import TrackerState

log = logging.getLogger(__name__)

READ_SIZE = 64 * 1024


def _mid_frame(unparsed: int) -> str:
    return f" mid-frame ({unparsed} bytes unparsed)" if unparsed else ""


class AvlServer(DeviceListener["AvlLink"]):
    """Accepts tracker connections and runs one ``AvlLink`` per socket."""

    kind = "tracker"

    def __init__(
        self,
        config: AvlConfig,
        state: TrackerState,
        devices: DeviceAllowList,
        on_event: EventSink | None = None,
        router: CommandRouter | None = None,
    ) -> None:
        super().__init__(config.host, config.port, config.max_connections, on_event)
        self.config = config
        self.state = state
        self.devices = devices
        self.router = router

    @property
    def links(self) -> set[AvlLink]:
        """The open tracker links."""
        return self.connections

    def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> AvlLink:
        return AvlLink(self, reader, writer)


class AvlLink(DeviceConnection):
    """One tracker socket: bytes → connection → records handled → ACK; commands down."""

    kind = "tracker"
    read_size = READ_SIZE

    def __init__(
        self, server: AvlServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        super().__init__(server, reader, writer, server.config.idle_timeout)
        self.server = server
        self.conn = AvlServerConnection(max_frame_size=server.config.max_frame_size)
        self.online = False  # logged in and registered as the IMEI's link

    # ---- CommandLink (for the router) --------------------------------------------------------

    def send_command(self, text: str) -> None:
        """Write one Codec 12 command."""
        if self.closing or self.writer.is_closing() or self.conn.state is not AvlState.ONLINE:
            raise ConnectionError("the link is closing")
        self.conn.send_command(text)
        self._send()

    def forget_command(self) -> None:
        """The router gave up on the oldest command."""
        self.conn.forget_command()

    # ---- DeviceConnection hooks ----------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.conn.state is AvlState.CLOSED

    async def on_data(self, data: bytes) -> None:
        await self._process(data)

    async def on_protocol_error(self, exc: DeviceProtocolError) -> None:
        self._protocol_error(exc)

    async def on_close(self) -> None:
        await self._finish()

    def on_disconnect(self) -> None:
        for event in self.conn.receive_data(b""):  # end-of-stream
            if isinstance(event, ConnectionClosed) and self.closing is None:
                log.info("%s: disconnected%s", self.who, _mid_frame(event.unparsed))

    def _protocol_error(self, exc: DeviceProtocolError) -> None:
        if not self.online and not self.writer.is_closing():
            # The tracker is waiting for its login answer: the connection queued a no.
            self._send()
            log.warning("%s: bad login: %s; rejected, closing", self.who, exc.reason)
            return
        log.warning("%s: protocol error: %s; closing", self.who, exc.reason)

    async def _finish(self) -> None:
        if self.closing and self.closing != "login rejected":
            log.info("%s: closed (%s)", self.who, self.closing)
        with contextlib.suppress(Exception):
            self.writer.close()
        imei, server = self.imei, self.server
        if not self.online or imei is None:
            return
        if server.router is not None:
            server.router.tracker_disconnected(imei, self)
        if server.by_imei.get(imei) is self:  # a superseded link leaves the tracker online
            del server.by_imei[imei]
            await server.emit(TrackerAvailability(imei, False, now_utc()))

    def _send(self) -> None:
        if out := self.conn.data_to_send():
            self.writer.write(out)

    async def _process(self, data: bytes) -> None:
        events = self.conn.receive_data(data)
        while events:
            for event in events:
                await self._handle(event)
                if self.closing is not None:
                    return
            # Bytes pipelined behind the login, or the error latched after good frames.
            events = self.conn.next_events()

    async def _handle(self, event: AvlEvent) -> None:
        """Act on one event."""
        if isinstance(event, RecordsReceived):
            await self._records(event)
        elif isinstance(event, LoginRequest):
            await self._login(event.imei)
        elif isinstance(event, CommandResponse | UnsolicitedResponse):
            self._response(event.text)
        elif isinstance(event, BadCrc):
            log.warning(
                "%s: codec 0x%02x frame with a bad CRC (carries 0x%08x, data gives 0x%04x); "
                "not ACKed",
                self.who,
                event.codec_id,
                event.received,
                event.computed,
            )

    async def _login(self, imei: str) -> None:
        server = self.server
        self.imei = imei
        if not server.devices.is_allowed(imei):
            log.warning("%s: IMEI not in the device list, login rejected", self.who)
            self.conn.reject_login()
            self._send()
            self.closing = "login rejected"
            return
        self.claim_imei(imei)
        self.online = True
        self.conn.accept_login()
        self._send()
        self.made_progress()
        log.info("%s: logged in", self.who)
        now = now_utc()
        await server.emit(DeviceSeen(imei, server.devices.name(imei), None, now, {"source": "avl"}))
        await server.emit(TrackerAvailability(imei, True, now))
        if server.router is not None and self.closing is None:
            server.router.tracker_connected(imei, self)

    async def _records(self, event: RecordsReceived) -> None:
        assert self.imei is not None
        state = self.server.state
        try:
            handled = state.handle(self.imei, event.records)
            try:
                taken = True
                for domain_event in handled.events:
                    taken &= await self.server.emit(domain_event)
                if taken:
                    state.delivered(handled)
            finally:
                state.release(handled)
        except sqlite3.Error as exc:
            # Not ACKed: the tracker keeps the records and sends them again later.
            log.error("%s: cannot store records: %s; not ACKed, dropping the link", self.who, exc)
            self.abort("storage failure")
            return
        if self.closing is not None:
            return  # superseded while delivering: the new link gets the resend
        if not taken:
            # An event could not be queued (the MQTT outbox refuses writes): no ACK, so the
            # tracker keeps the records and sends them again; their events go out then.
            log.info("%s: events delayed, records not ACKed; dropping the link", self.who)
            self.abort("events delayed")
            return
        self.conn.ack()
        self._send()
        await self.writer.drain()
        self.made_progress()
        log.debug(
            "%s: ACKed %d records (%d new, %d resent)",
            self.who,
            len(event.records),
            handled.new,
            handled.duplicates,
        )

    def _response(self, text: str) -> None:
        router = self.server.router
        assert self.imei is not None
        self.made_progress()
        if router is not None and router.response_received(self.imei, text):
            log.info("%s: answered %r", self.who, text[:200])
            return
        log.warning("%s: answer with no command outstanding, ignored: %r", self.who, text[:200])
