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
import sqlite3
import time
from typing import Any, Literal, cast

from ..allowlist import DeviceAllowList
from ..clock import now_utc
from ..config import CameraConfig
from ..events import Camera, DeviceSeen, EventSink, MediaKind, TransferProgress
from ..listener import DeviceConnection, DeviceListener
from ..protocol.dualcam_frames import (
    PACKET_DATA_MAX,
    encode_close,
    file_camera,
    file_kind,
    status_name,
)
from ..protocol.errors import DeviceProtocolError
from ..protocol.filetransfer import CameraSession
from ..protocol.session_state import SessionConfig, State
from ..protocol.transfer_events import (
    ConnectionClosed,
    DeviceStatus,
    Event,
    FileCompleted,
    FileOffered,
    FileRestarted,
    FileUnavailable,
    InitReceived,
    MetadataReceived,
    MetadataUnavailable,
    PacketReceived,
    PacketRejected,
    SyncReceived,
    TransferAborted,
    UnknownFrame,
)
from .disk import DiskMonitor, is_disk_full
from .spool import SpoolFile
from .store import MediaStore

log = logging.getLogger(__name__)

# The one progress throttle: at the source, so no subscriber sees more than this per transfer
# (the final states are forced through).
PROGRESS_INTERVAL = 1.0
ProgressState = Literal["receiving", "resumed", "stalled", "done", "failed"]


class CameraServer(DeviceListener["CameraConnection"]):
    """Accepts camera connections and runs one ``CameraConnection`` per socket."""

    kind = "camera"

    def __init__(
        self,
        config: CameraConfig,
        store: MediaStore,
        devices: DeviceAllowList,
        on_event: EventSink | None = None,
        disk: DiskMonitor | None = None,
    ) -> None:
        super().__init__(config.host, config.port, config.max_connections, on_event)
        self.config = config
        self.store = store
        self.devices = devices
        self.disk = disk
        self.background: set[asyncio.Task[bool]] = set()
        # Counted where they happen, read by ``/metrics``: packets (or whole files) whose CRC
        # did not match, and transfers resumed from a stored partial after a broken link.
        self.crc_errors = 0
        self.resumes = 0

    @property
    def transfers_active(self) -> int:
        """Files being received right now (connections holding an open spool)."""
        return sum(1 for conn in self.connections if conn.spool is not None)

    def connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> CameraConnection:
        return CameraConnection(self, reader, writer)

    def refuse(self, writer: asyncio.StreamWriter, peer: Any) -> None:
        # The protocol's answer to a connection the server does not expect.
        with contextlib.suppress(OSError):
            writer.write(encode_close())
            writer.close()


class CameraConnection(DeviceConnection):
    """One camera socket: bytes → session → store, replies → socket."""

    kind = "camera"

    def __init__(
        self, server: CameraServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        super().__init__(server, reader, writer, server.config.idle_timeout)
        self.server = server
        cfg = server.config
        self.session = CameraSession(
            SessionConfig(
                request_metadata=cfg.request_metadata,
                max_packets=max(1, int(cfg.max_file_mb * 1024 * 1024 // PACKET_DATA_MAX)),
                max_retries=cfg.max_retries,
            )
        )
        self.spool: SpoolFile | None = None
        self._meta_deadline: float | None = None
        self._progress_sent = 0.0
        self._progress_mark = (0.0, 0)

    # ---- DeviceConnection hooks -----------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.session.state is State.CLOSED

    def read_deadline(self) -> float:
        deadline = super().read_deadline()
        if self.session.state is not State.AWAIT_METADATA:
            self._meta_deadline = None
            return deadline
        if self._meta_deadline is None:
            loop_time = asyncio.get_running_loop().time()
            self._meta_deadline = loop_time + self.server.config.metadata_timeout
        return min(deadline, self._meta_deadline)

    async def on_timeout(self) -> bool:
        meta_deadline = self._meta_deadline
        if meta_deadline is None or asyncio.get_running_loop().time() < meta_deadline:
            return False
        log.info("%s: no metadata answer, requesting the file without", self.who)
        self._meta_deadline = None
        await self._handle(self.session.metadata_timed_out())
        await self._flush()
        return True

    def on_idle(self) -> None:
        self._fail_transfer("idle timeout")

    def on_disconnect(self) -> None:
        for event in self.session.receive_data(b""):  # end-of-stream
            if isinstance(event, ConnectionClosed) and event.file and self.spool is not None:
                log.info(
                    "%s: disconnected during %s at packet %d/%d (partial kept)",
                    self.who,
                    event.file,
                    event.packets_done,
                    event.packets_total,
                )
                self._fail_transfer("disconnected", stalled=True)

    async def on_data(self, data: bytes) -> None:
        await self._process(data)

    async def on_protocol_error(self, exc: DeviceProtocolError) -> None:
        await super().on_protocol_error(exc)
        self._fail_transfer(exc.reason)
        await self._flush()

    def on_abort(self) -> None:
        # The partial stays resumable.
        self._release_spool()

    async def on_close(self) -> None:
        await super().on_close()
        self._release_spool()

    async def _process(self, data: bytes) -> None:
        events = self.session.receive_data(data)
        while events:
            self.made_progress()
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

    async def _handle(self, events: list[Event]) -> None:
        packets: list[bytes] = []
        for ev in events:
            if self.closing is not None:
                return
            if type(ev) is PacketReceived:
                # Written in one go with the packets around it (see _write_packets).
                packets.append(ev.data)
                continue
            if packets:
                written = self._write_packets(packets)
                packets = []
                if not written:
                    return
            if isinstance(ev, InitReceived):
                await self._on_init(ev)
            elif isinstance(ev, FileOffered):
                await self._on_offer(ev)
            elif isinstance(ev, FileCompleted):
                await self._on_completed(ev)
            elif isinstance(ev, FileRestarted):
                log.info("%s: %s starts over: %s", self.who, ev.file, ev.reason)
                if self.spool is not None:
                    self.spool.truncate(0)
            elif isinstance(ev, PacketRejected):
                if ev.reason.startswith("bad CRC"):
                    self.server.crc_errors += 1
                log.info(
                    "%s: %s packet %d rejected (%s), asking again (%d in a row)",
                    self.who,
                    ev.file,
                    ev.index,
                    ev.reason,
                    ev.consecutive,
                )
            elif isinstance(ev, SyncReceived):
                if ev.resumed:
                    self._progress("resumed", force=True)
            elif isinstance(ev, MetadataReceived):
                log.debug("%s: metadata for %s: %s", self.who, ev.file, ev.metadata)
            elif isinstance(ev, MetadataUnavailable):
                log.info("%s: no metadata for %s: %s", self.who, ev.file, ev.reason)
            elif isinstance(ev, FileUnavailable):
                log.info(
                    "%s: %s is not available (status 0x%02x: %s)",
                    self.who,
                    ev.file,
                    ev.status,
                    status_name(ev.status),
                )
                self._release_spool()
            elif isinstance(ev, DeviceStatus):
                log.warning("%s: device status 0x%02x: %s", self.who, ev.status, ev.name)
            elif isinstance(ev, TransferAborted):
                log.warning("%s: giving up on %s: %s (partial kept)", self.who, ev.file, ev.reason)
                self._fail_transfer(ev.reason)
            elif isinstance(ev, UnknownFrame):
                log.info(
                    "%s: skipped unknown command 0x%04x (%d bytes)", self.who, ev.cmd, ev.length
                )
        if packets and self.closing is None:
            self._write_packets(packets)

    async def _on_init(self, ev: InitReceived) -> None:
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
        self.claim_imei(ev.imei)
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

    def _storage_failed(self, what: str, exc: Exception) -> None:
        """One line naming the device; a full disk is a state (one warning), not an error."""
        disk = self.server.disk
        if is_disk_full(exc):
            if disk is not None:
                disk.write_failed(exc)
            log.info("%s: %s: no space left (%s); dropping the link", self.who, what, exc)
        else:
            log.error("%s: %s: %s; dropping the link (partial kept)", self.who, what, exc)

    async def _on_offer(self, ev: FileOffered) -> None:
        assert self.imei is not None
        disk = self.server.disk
        if disk is not None and disk.full:
            # Polite refusal: no CLOSE, so the camera keeps the file and offers it again later.
            log.info("%s: %s not taken now: %s is full", self.who, ev.file, disk.path)
            self.abort("disk full")
            return
        try:
            spool, point = await self.server.store.begin(
                self.imei, ev.file, ev.packets, ev.file_crc, ev.metadata
            )
        except (OSError, sqlite3.Error) as exc:
            self._storage_failed(f"cannot open a spool for {ev.file}", exc)
            self.abort("storage failure")
            return
        if self.closing is not None:  # superseded while the store looked for the resume point
            self.server.store.release(spool)
            return
        self.spool = spool
        if point.next_packet > 1:
            self.server.resumes += 1
            log.info(
                "%s: resuming %s at packet %d/%d", self.who, ev.file, point.next_packet, ev.packets
            )
        self._progress_mark = (time.monotonic(), point.next_packet - 1)
        self.session.resume(point.next_packet, point.crc, trusted=point.trusted)

    def _write_packets(self, packets: list[bytes]) -> bool:
        """Append to the spool; False when the link is to stop (taken over, disk failure)."""
        spool = self.spool
        if spool is None or spool.closed:
            self.closing = "the transfer was taken over"
            return False
        try:
            spool.append_many(packets)
        except OSError as exc:
            # Drop the link without CLOSE: the device keeps the file and tries again later.
            self._storage_failed(f"cannot write {spool.file}", exc)
            self._fail_transfer(str(exc))
            self.abort("storage failure")
            return False
        self._progress("receiving")
        return True

    async def _on_completed(self, ev: FileCompleted) -> None:
        spool = self.spool
        if spool is None:
            self.session.close()
            return
        if ev.crc_ok is False:
            self.server.crc_errors += 1
            log.warning(
                "%s: %s: file CRC 0x%04x does not match the announced one",
                self.who,
                ev.file,
                ev.crc,
            )
        self._progress("done", force=True)
        self.spool = None
        try:
            media = await self.server.store.commit(spool, ev.crc_ok, ev.metadata)
        except (OSError, RuntimeError, sqlite3.Error) as exc:
            self._storage_failed(f"could not store {ev.file}", exc)
            self.server.store.release(spool)
            self.abort("storage failure")
            return
        if media is not None:  # None: offered again, stored before and announced then
            # Announced (MQTT outbox, SOS links) before the device is told to go on.
            await self.server.emit(media)
        if self.session.state is State.AWAIT_COMMIT:
            self.session.file_committed()

    def _progress(self, state: ProgressState, force: bool = False) -> None:
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
            camera=cast(Camera, file_camera(file)),
            kind=cast(MediaKind, file_kind(file)),
            packets_done=done,
            packets_total=self.session.packets_total,
            bytes_per_s=round(rate, 1),
            state=state,
        )
        # Progress is best effort and must not slow the transfer: fire and forget.
        task = asyncio.get_running_loop().create_task(self.server.emit(event))
        self.server.background.add(task)
        task.add_done_callback(self.server.background.discard)
