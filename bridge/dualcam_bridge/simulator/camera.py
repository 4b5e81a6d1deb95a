"""A simulated DualCam that uploads real files over the real protocol, with fault injection.

It behaves like the firmware as far as the server can see: the init packet announces one file
per slot (``%photof`` … ``%videor``); a slot's next capture is announced after the server
fetched the current one (repeat-init); RESUME k is answered by SYNC k and DATA from packet k
with CRCs chained from packet k-1. Faults: corrupted packets, link drops after N packets,
throttling, files that are "unavailable" (status 0x11), no metadata answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import struct
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ..protocol.crc import crc16_dualcam
from ..protocol.dualcam_frames import (
    CMD_CLOSE,
    CMD_FILE_REQ,
    CMD_META_REQ,
    CMD_REPEAT_INIT,
    CMD_RESUME,
    CMD_STATUS,
    FILE_BITS,
    FILE_TYPE_CODES,
    PACKET_DATA_MAX,
    STATUS_UNAVAILABLE,
    FileMetadata,
    encode_data,
    encode_init,
    encode_metadata,
    encode_start,
    encode_status,
    encode_sync,
)
from . import media

log = logging.getLogger(__name__)

_HDR = struct.Struct(">HH")
_BATCH = 32  # DATA frames per write


@dataclass
class SimFile:
    """One capture waiting on the camera's card."""

    file_id: str  # %photof, %photor, %videof, %videor
    data: bytes
    metadata: FileMetadata | None = None
    sent_at: float | None = None  # time.monotonic() when its last packet was handed over
    _frames: list[bytes] | None = field(default=None, repr=False)
    _crcs: list[int] | None = field(default=None, repr=False)

    @property
    def packets(self) -> int:
        return (len(self.data) + PACKET_DATA_MAX - 1) // PACKET_DATA_MAX

    @property
    def crcs(self) -> list[int]:
        """Chained CRC after each packet (the last one is the whole file's CRC)."""
        if self._crcs is None:
            crc, out = 0, []
            for i in range(0, len(self.data), PACKET_DATA_MAX):
                crc = crc16_dualcam(self.data[i : i + PACKET_DATA_MAX], crc)
                out.append(crc)
            self._crcs = out
        return self._crcs

    @property
    def frames(self) -> list[bytes]:
        """Encoded DATA frames, packet 1 first."""
        if self._frames is None:
            d, crcs = self.data, self.crcs
            self._frames = [
                encode_data(d[i * PACKET_DATA_MAX : (i + 1) * PACKET_DATA_MAX], crcs[i])
                for i in range(self.packets)
            ]
        return self._frames


@dataclass
class Faults:
    """What can go wrong, as in the field."""

    corrupt_rate: float = 0.0  # probability that a DATA packet arrives damaged
    disconnect_after_packets: int | None = None  # drop the link after N DATA packets
    throttle: float | None = None  # bytes per second
    unavailable: bool = False  # answer FILE REQ with status 0x11
    no_metadata: bool = False  # never answer metadata requests
    max_reconnects: int = 200
    reconnect_delay: float = 0.05


@dataclass
class SimResult:
    delivered: list[SimFile] = field(default_factory=list)
    connections: int = 0
    packets_sent: int = 0
    bytes_sent: int = 0
    resumes: int = 0
    unavailable: int = 0


class SimulatedCamera:
    """Connects to a DualCam server and uploads its pending files."""

    def __init__(
        self,
        host: str,
        port: int,
        imei: str,
        files: list[SimFile] | None = None,
        faults: Faults | None = None,
        protocol_id: int = 5,
        seed: int | None = None,
    ) -> None:
        self.host, self.port, self.imei = host, port, imei
        self.faults = faults or Faults()
        self.protocol_id = protocol_id
        self.rng = random.Random(seed)
        self.pending: dict[str, deque[SimFile]] = {fid: deque() for _, fid in FILE_BITS}
        self.result = SimResult()
        self.captured = asyncio.Event()
        for f in files or ():
            self.capture(f)

    def capture(self, f: SimFile) -> None:
        """A new file is on the card; it will be offered at the next (repeat) init."""
        self.pending[f.file_id].append(f)
        self.captured.set()

    @property
    def has_pending(self) -> bool:
        return any(self.pending.values())

    def settings(self) -> int:
        """The init packet's settings field for what is pending now."""
        flags = 0
        for bit, fid in FILE_BITS:
            if self.pending[fid]:
                flags |= bit
        return flags << 24

    async def run(self) -> SimResult:
        """Upload until nothing is pending (or the reconnect budget is spent)."""
        failures = 0
        while self.has_pending and failures <= self.faults.max_reconnects:
            try:
                finished = await self.session()
            except (ConnectionError, OSError) as exc:
                log.debug("camera %s: connection failed: %s", self.imei, exc)
                finished = False
            if self.faults.unavailable:
                break
            if not finished:
                failures += 1
                await asyncio.sleep(self.faults.reconnect_delay)
        return self.result

    async def session(self) -> bool:
        """One connection; True when the server closed it normally."""
        reader, writer = await asyncio.open_connection(self.host, self.port)
        self.result.connections += 1
        link = _Link(self, writer)
        try:
            writer.write(encode_init(self.imei, self.settings(), self.protocol_id))
            return await self._serve(reader, link)
        finally:
            await link.stop_stream()
            writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, link: _Link) -> bool:
        buf = bytearray()
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                return link.closed_by_server
            buf += chunk
            while len(buf) >= 2:
                cmd = int.from_bytes(buf[:2], "big")
                if cmd in (CMD_REPEAT_INIT, CMD_CLOSE):
                    size, payload = (4 if cmd == CMD_CLOSE and len(buf) >= 4 else 2), b""
                else:
                    if len(buf) < 4:
                        break
                    length = _HDR.unpack_from(buf)[1]
                    if len(buf) < 4 + length:
                        break
                    size, payload = 4 + length, bytes(buf[4 : 4 + length])
                del buf[:size]
                if not await link.command(cmd, payload):
                    return link.closed_by_server


class _Link:
    """The device side of one connection."""

    def __init__(self, cam: SimulatedCamera, writer: asyncio.StreamWriter) -> None:
        self.cam = cam
        self.writer = writer
        self.current: SimFile | None = None
        self.fully_sent = False
        self.stream: asyncio.Task[None] | None = None
        self.packets_this_link = 0
        self.closed_by_server = False

    async def stop_stream(self) -> None:
        if self.stream is not None:
            self.stream.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError):
                await self.stream
            self.stream = None

    def _settle(self) -> None:
        # The server moved on after the last packet: the file counts as delivered.
        if self.current is not None and self.fully_sent:
            queue = self.cam.pending[self.current.file_id]
            if queue and queue[0] is self.current:
                queue.popleft()
            self.cam.result.delivered.append(self.current)
            self.current, self.fully_sent = None, False

    async def command(self, cmd: int, payload: bytes) -> bool:
        """Act on one server command; False ends the session."""
        cam = self.cam
        if cmd != CMD_RESUME:
            await self.stop_stream()
            self._settle()
        if cmd == CMD_META_REQ:
            f = self._head(payload)
            if cam.faults.no_metadata:
                return True
            if f is None:
                self.writer.write(encode_status(STATUS_UNAVAILABLE))
                return False
            if f.metadata is not None:
                self.writer.write(encode_metadata(f.metadata))
        elif cmd == CMD_FILE_REQ:
            f = self._head(payload)
            if f is None or cam.faults.unavailable:
                cam.result.unavailable += 1
                self.writer.write(encode_status(STATUS_UNAVAILABLE))
                await self.writer.drain()
                return False
            self.current, self.fully_sent = f, False
            self.writer.write(encode_start(f.packets, f.crcs[-1]))
        elif cmd == CMD_RESUME:
            await self.stop_stream()
            if self.current is None:
                return False
            start = max(1, int.from_bytes(payload[:4], "big"))
            if start > 1:
                cam.result.resumes += 1
            self.writer.write(encode_sync(start))
            self.stream = asyncio.create_task(self._send_from(self.current, start))
        elif cmd == CMD_REPEAT_INIT:
            self.writer.write(encode_init(cam.imei, cam.settings(), cam.protocol_id))
        elif cmd in (CMD_CLOSE, CMD_STATUS):
            self.closed_by_server = True
            return False
        await self.writer.drain()
        return True

    def _head(self, payload: bytes) -> SimFile | None:
        fid = payload.decode("ascii", "replace")
        if fid not in FILE_TYPE_CODES:
            return None
        queue = self.cam.pending[fid]
        return queue[0] if queue else None

    async def _send_from(self, f: SimFile, start: int) -> None:
        cam, faults = self.cam, self.cam.faults
        frames = f.frames
        batch: list[bytes] = []
        for index in range(start, f.packets + 1):
            frame = frames[index - 1]
            if faults.corrupt_rate and cam.rng.random() < faults.corrupt_rate:
                damaged = bytearray(frame)
                damaged[4 + cam.rng.randrange(len(frame) - 6)] ^= 0x5A
                frame = bytes(damaged)
            batch.append(frame)
            cam.result.packets_sent += 1
            cam.result.bytes_sent += len(frame)
            self.packets_this_link += 1
            drop = (
                faults.disconnect_after_packets is not None
                and self.packets_this_link >= faults.disconnect_after_packets
            )
            if len(batch) >= _BATCH or index == f.packets or drop or faults.throttle:
                data = b"".join(batch)
                batch.clear()
                self.writer.write(data)
                if index == f.packets and not drop:
                    # Handed to the link: the server may answer before drain() returns.
                    self.fully_sent = True
                    f.sent_at = time.monotonic()
                await self.writer.drain()
                if faults.throttle:
                    await asyncio.sleep(len(data) / faults.throttle)
            if drop:
                self.writer.transport.abort()
                return


def make_captures(
    imei: str,
    photos: int = 1,
    videos: int = 0,
    cameras: tuple[str, ...] = ("front", "rear"),
    video_trigger: int = 3,
    photo_trigger: int = 9,
    when: datetime | None = None,
    position: tuple[float, float] = (54.6872, 25.2797),
) -> list[SimFile]:
    """``photos`` + ``videos`` unique captures, alternating between ``cameras``."""
    base = when or datetime.now(UTC).replace(microsecond=0)
    out: list[SimFile] = []
    for kind, count, trigger in (
        ("photo", photos, photo_trigger),
        ("video", videos, video_trigger),
    ):
        for n in range(count):
            camera = cameras[n % len(cameras)]
            file_id = f"%{kind}{camera[0]}"
            ts = base + timedelta(seconds=n)
            tag = f"imei={imei} {kind} {camera} n={n} t={ts.isoformat()}"
            data = media.photo(camera, tag) if kind == "photo" else media.video(camera, tag)
            meta = FileMetadata(
                version=1,
                file_type=FILE_TYPE_CODES[file_id],
                timestamp=ts,
                trigger=trigger,
                length_s=2 if kind == "video" else 0,
                framerate=25 if kind == "video" else 0,
                timezone_min=0,
                latitude=position[0],
                longitude=position[1],
            )
            out.append(SimFile(file_id, data, meta))
    return out
