"""The asyncio DualCam server: a thin loop around ``CameraSession`` and the media store.

One task per connection. Timeouts are about progress, not bytes: a connection that completes
no frame for ``idle_timeout`` seconds is closed, so a slowloris trickling a byte a second is
bounded as tightly as a silent one. A second connection from the same IMEI supersedes the
first (the store hands the spool over, so the partial is never written by both).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from ..allowlist import DeviceAllowList
from ..clock import now_utc
from ..events import DeviceSeen, EventHandler, TransferProgress
from ..listener import READ_SIZE, DeviceListener, peer_text
from ..protocol import filetransfer as ft
from ..protocol.dualcam_frames import PACKET_DATA_MAX, encode_close, file_camera, file_kind
from ..protocol.errors import DeviceProtocolError
from .spool import SpoolFile
from .store import MediaStore

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = 1.0


@dataclass(frozen=True)
class CameraServerConfig:
    host: str = "0.0.0.0"
    port: int = 5028
    idle_timeout: float = 60.0
    max_connections: int = 2000
    max_file_mb: float = 64
    max_retries: int = 5
    request_metadata: bool = True
    metadata_timeout: float = 5.0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CameraServerConfig:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


class CameraServer(DeviceListener["CameraConnection"]):
    """Accepts camera connections and runs one ``CameraConnection`` per socket."""

    kind = "camera"

    def __init__(
        self,
        config: CameraServerConfig,
        store: MediaStore,
        devices: DeviceAllowList,
        on_event: EventHandler | None = None,
    ) -> None:
        super().__init__(config.host, config.port, config.max_connections, on_event)
        self.config = config
        self.store = store
        self.devices = devices
        self.background: set[asyncio.Task] = set()

    def connection(self, reader, writer) -> CameraConnection:
        return CameraConnection(self, reader, writer, peer_text(writer.get_extra_info("peername")))

    def refuse(self, writer: asyncio.StreamWriter, peer: Any) -> None:
        # The protocol's answer to a connection the server does not expect.
        with contextlib.suppress(OSError):
            writer.write(encode_close())
            writer.close()


class CameraConnection:
    """One camera socket: bytes → session → store, replies → socket."""

    def __init__(self, server: CameraServer, reader, writer, peer) -> None:
        self.server = server
        self.reader: asyncio.StreamReader = reader
        self.writer: asyncio.StreamWriter = writer
        self.peer = peer
        cfg = server.config
        self.session = ft.CameraSession(
            ft.SessionConfig(
                request_metadata=cfg.request_metadata,
                max_packets=max(1, int(cfg.max_file_mb * 1024 * 1024 // PACKET_DATA_MAX)),
                max_retries=cfg.max_retries,
            )
        )
        self.task: asyncio.Task | None = None
        self.imei: str | None = None
        self.spool: SpoolFile | None = None
        self._closing: str | None = None
        self._last_progress = 0.0
        self._progress_sent = 0.0
        self._progress_mark = (0.0, 0)

    @property
    def who(self) -> str:
        return f"camera {self.imei or '?'} ({self.peer})"

    def abort(self, reason: str) -> None:
        """Stop this connection now (superseded, shutdown); the partial stays resumable."""
        self._closing = reason
        self._release_spool()
        self.writer.transport.abort()

    async def run(self) -> None:
        cfg = self.server.config
        loop = asyncio.get_running_loop()
        self._last_progress = loop.time()
        meta_deadline: float | None = None
        try:
            while self._closing is None and self.session.state is not ft.State.CLOSED:
                deadline = self._last_progress + cfg.idle_timeout
                waiting_meta = self.session.state is ft.State.AWAIT_METADATA
                if waiting_meta:
                    if meta_deadline is None:
                        meta_deadline = loop.time() + cfg.metadata_timeout
                    deadline = min(deadline, meta_deadline)
                else:
                    meta_deadline = None
                try:
                    async with asyncio.timeout_at(deadline):
                        data = await self.reader.read(READ_SIZE)
                except TimeoutError:
                    if waiting_meta and meta_deadline is not None and loop.time() >= meta_deadline:
                        log.info("%s: no metadata answer, requesting the file without", self.who)
                        await self._handle(self.session.metadata_timed_out())
                        await self._flush()
                        continue
                    log.warning("%s: no progress for %g s, closing", self.who, cfg.idle_timeout)
                    self._fail_transfer("idle timeout")
                    break
                if not data:
                    for event in self.session.receive_data(b""):  # end-of-stream
                        if (
                            isinstance(event, ft.ConnectionClosed)
                            and event.file
                            and self.spool is not None
                        ):
                            log.info(
                                "%s: disconnected during %s at packet %d/%d (partial kept)",
                                self.who,
                                event.file,
                                event.packets_done,
                                event.packets_total,
                            )
                            self._fail_transfer("disconnected", stalled=True)
                    break
                try:
                    await self._process(data)
                except DeviceProtocolError as exc:
                    log.warning("%s: protocol error: %s; closing", self.who, exc.reason)
                    self._fail_transfer(exc.reason)
                    await self._flush()
                    break
        except (ConnectionError, OSError) as exc:
            if self._closing is None:
                log.info("%s: connection lost: %s", self.who, exc)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A bug must not take the server down; it is logged with the device named.
            log.exception("%s: unexpected error", self.who)
        finally:
            if self._closing:
                log.info("%s: closed (%s)", self.who, self._closing)
            self._release_spool()
            with contextlib.suppress(Exception):
                self.writer.close()

    async def _process(self, data: bytes) -> None:
        events = self.session.receive_data(data)
        while events:
            self._last_progress = asyncio.get_running_loop().time()
            await self._handle(events)
            await self._flush()
            # Parsing paused for our decision; continue with what arrived meanwhile.
            events = self.session.next_events()

    async def _flush(self) -> None:
        out = self.session.data_to_send()
        if out and not self.writer.is_closing():
            self.writer.write(out)
            await self.writer.drain()

    def _release_spool(self) -> None:
        if self.spool is not None:
            self.server.store.release(self.spool)
            self.spool = None

    def _fail_transfer(self, reason: str, stalled: bool = False) -> None:
        if self.spool is not None and self.session.current_file:
            self._progress("stalled" if stalled else "failed", force=True)
        self._release_spool()

    async def _handle(self, events: list[ft.Event]) -> None:
        packets: list[bytes] = []
        for ev in events:
            if self._closing is not None:
                return
            if type(ev) is ft.PacketReceived:
                # Written in one go with the packets around it (see _write_packets).
                packets.append(ev.data)
                continue
            if packets:
                self._write_packets(packets)
                packets = []
                if self._closing is not None:
                    return
            if isinstance(ev, ft.InitReceived):
                await self._on_init(ev)
            elif isinstance(ev, ft.FileOffered):
                self._on_offer(ev)
            elif isinstance(ev, ft.FileCompleted):
                await self._on_completed(ev)
            elif isinstance(ev, ft.FileRestarted):
                log.info("%s: %s starts over: %s", self.who, ev.file, ev.reason)
                if self.spool is not None:
                    self.spool.truncate(0)
            elif isinstance(ev, ft.PacketRejected):
                log.info(
                    "%s: %s packet %d rejected (%s), asking again (%d in a row)",
                    self.who,
                    ev.file,
                    ev.index,
                    ev.reason,
                    ev.consecutive,
                )
            elif isinstance(ev, ft.SyncReceived):
                if ev.resumed:
                    self._progress("resumed", force=True)
            elif isinstance(ev, ft.MetadataReceived):
                log.debug("%s: metadata for %s: %s", self.who, ev.file, ev.metadata)
            elif isinstance(ev, ft.MetadataUnavailable):
                log.info("%s: no metadata for %s: %s", self.who, ev.file, ev.reason)
            elif isinstance(ev, ft.FileUnavailable):
                log.info("%s: %s is not available (status 0x%02x)", self.who, ev.file, ev.status)
                self._release_spool()
            elif isinstance(ev, ft.DeviceStatus):
                log.warning("%s: device status 0x%02x: %s", self.who, ev.status, ev.name)
            elif isinstance(ev, ft.TransferAborted):
                log.warning("%s: giving up on %s: %s (partial kept)", self.who, ev.file, ev.reason)
                self._fail_transfer(ev.reason)
            elif isinstance(ev, ft.UnknownFrame):
                log.info(
                    "%s: skipped unknown command 0x%04x (%d bytes)", self.who, ev.cmd, ev.length
                )
        if packets and self._closing is None:
            self._write_packets(packets)

    async def _on_init(self, ev: ft.InitReceived) -> None:
        self.imei = ev.imei
        if ev.repeat:
            log.debug("%s: repeated init announces %s", self.who, ev.files or "nothing")
            return
        if not ev.protocol_supported:
            log.warning("%s: unknown protocol ID %d, trying anyway", self.who, ev.protocol_id)
        if ev.adas:
            log.info("%s: announces an ADAS/DSM file, which this bridge skips", self.who)
        if not self.server.devices.is_allowed(ev.imei):
            log.warning("%s: IMEI not in the device list, closing", self.who)
            self.session.reject()
            return
        old = self.server.by_imei.get(ev.imei)
        if old is not None and old is not self:
            log.info("%s: new connection supersedes the one from %s", self.who, old.peer)
            old.abort("superseded by a new connection")
        self.server.by_imei[ev.imei] = self
        log.info(
            "%s: connected, protocol %d, files %s",
            self.who,
            ev.protocol_id,
            ", ".join(ev.files) or "none",
        )
        await self.server.emit(
            DeviceSeen(
                ev.imei,
                self.server.devices.name(ev.imei),
                ev.protocol_id,
                now_utc(),
                {"source": "camera"},
            )
        )
        self.session.accept()

    def _on_offer(self, ev: ft.FileOffered) -> None:
        assert self.imei is not None
        try:
            spool, point = self.server.store.begin(
                self.imei, ev.file, ev.packets, ev.file_crc, ev.metadata
            )
        except OSError as exc:
            log.error(
                "%s: cannot open a spool for %s: %s; dropping the link", self.who, ev.file, exc
            )
            self.abort("storage failure")
            return
        self.spool = spool
        if point.next_packet > 1:
            log.info(
                "%s: resuming %s at packet %d/%d", self.who, ev.file, point.next_packet, ev.packets
            )
        self._progress_mark = (time.monotonic(), point.next_packet - 1)
        self.session.resume(point.next_packet, point.crc, trusted=point.trusted)

    def _write_packets(self, packets: list[bytes]) -> None:
        spool = self.spool
        if spool is None or spool.closed:
            self._closing = "the transfer was taken over"
            return
        try:
            spool.append_many(packets)
        except OSError as exc:
            # Drop the link without CLOSE: the device keeps the file and tries again later.
            log.error(
                "%s: cannot write %s: %s; dropping the link (partial kept)",
                self.who,
                spool.file,
                exc,
            )
            self._fail_transfer(str(exc))
            self.abort("storage failure")
            return
        self._progress("receiving")

    async def _on_completed(self, ev: ft.FileCompleted) -> None:
        spool = self.spool
        if spool is None:
            self.session.close()
            return
        if ev.crc_ok is False:
            log.warning(
                "%s: %s: file CRC 0x%04x does not match the announced one",
                self.who,
                ev.file,
                ev.crc,
            )
        self._progress("done", force=True)
        self.spool = None
        try:
            await self.server.store.commit(spool, ev.crc_ok, ev.metadata)
        except (OSError, RuntimeError) as exc:
            log.error(
                "%s: could not store %s: %s; dropping the link (partial kept)",
                self.who,
                ev.file,
                exc,
            )
            self.server.store.release(spool)
            self.abort("storage failure")
            return
        if self.session.state is ft.State.AWAIT_COMMIT:
            self.session.file_committed()

    def _progress(self, state: str, force: bool = False) -> None:
        if self.server.on_event is None:
            return
        now = time.monotonic()
        if not force and now - self._progress_sent < PROGRESS_INTERVAL:
            return
        file = self.session.current_file
        if file is None or self.imei is None:
            return
        t0, p0 = self._progress_mark
        done = self.session.packets_done
        rate = (done - p0) * PACKET_DATA_MAX / max(now - t0, 1e-6) if now > t0 else 0.0
        self._progress_sent = now
        event = TransferProgress(
            imei=self.imei,
            file=file,
            camera=file_camera(file),
            kind=file_kind(file),  # type: ignore[arg-type]
            packets_done=done,
            packets_total=self.session.packets_total,
            bytes_per_s=round(rate, 1),
            state=state,  # type: ignore[arg-type]
        )
        # Progress is best effort and must not slow the transfer: fire and forget.
        task = asyncio.get_running_loop().create_task(self.server.emit(event))
        self.server.background.add(task)
        task.add_done_callback(self.server.background.discard)
