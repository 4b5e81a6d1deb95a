"""A simulated FMx125 tracker with a DualCam: real IMEI login, Codec 8E records, Codec 12 answers.

It behaves like the firmware as far as the server can see: records are buffered and sent in
packets; a packet leaves the buffer only when the server ACKs it, so an ACK that never
arrives (``TrackerFaults.drop_acks``: the link drops before the ACK is read) makes the tracker
reconnect and send the same records again. Every record carries the camera states (AVL 498
front, 497 rear); a state change and an SOS (AVL 499) are event records of their own.
Commands are answered as the firmware does (``firmware.Firmware``); a ``camreq`` makes the
linked ``SimulatedCamera`` capture and upload the file, and a crash makes it upload the
crash videos.

    tracker = SimulatedTracker("127.0.0.1", 5027, imei, camera=cam, interval=1, crash_at=5)
    await tracker.run(duration=10)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..events import Camera
from ..protocol.avl_events import CommandReceived, LoginAnswer, RecordsAcked
from ..protocol.avl_tracker import AvlTrackerConnection
from ..protocol.codec8 import CODEC_8E, AvlRecord
from ..protocol.errors import DeviceProtocolError
from .camera import SimFile, SimulatedCamera
from .firmware import Firmware

log = logging.getLogger(__name__)

IO_STATE: dict[Camera, int] = {"front": 498, "rear": 497}
IO_SOS = 499
_WIDTHS = {66: 2, 497: 1, 498: 1, 499: 1}  # as the firmware sends them


@dataclass
class TrackerFaults:
    """What goes wrong on a tracker's link."""

    drop_acks: frozenset[int] = frozenset()  # packet numbers (1-based) whose ACK is lost
    silent: bool = False  # never answer commands
    ack_timeout: float = 5.0  # no ACK within this: drop the link, resend on the next one
    reconnect_delay: float = 0.05
    max_reconnects: int = 200


@dataclass
class TrackerResult:
    """What the tracker did."""

    connections: int = 0
    packets_sent: int = 0
    records_sent: int = 0
    records_acked: int = 0
    acks_dropped: int = 0
    login_rejected: bool = False
    commands: list[str] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)


class SimulatedTracker:
    """One tracker; its camera (if linked) uploads what commands and crashes capture."""

    def __init__(
        self,
        host: str,
        port: int,
        imei: str,
        *,
        camera: SimulatedCamera | None = None,
        interval: float | None = 1.0,
        crash_at: float | None = None,
        front_state: int = 3,
        rear_state: int = 3,
        position: tuple[float, float] = (54.6872, 25.2797),
        records_per_packet: int = 10,
        faults: TrackerFaults | None = None,
    ) -> None:
        self.host, self.port, self.imei = host, port, imei
        self.camera = camera
        self.interval = interval
        self.crash_at = crash_at
        self.states: dict[Camera, int] = {"front": front_state, "rear": rear_state}
        self.latitude, self.longitude = position
        self.records_per_packet = records_per_packet
        self.faults = faults or TrackerFaults()
        self.firmware = Firmware(imei, latitude=self.latitude, longitude=self.longitude)
        self.result = TrackerResult()
        self.pending: deque[AvlRecord] = deque()  # the firmware's record buffer
        self.sent: list[AvlRecord] = []  # every distinct record produced, in order
        self._changed = asyncio.Event()
        self._stop = asyncio.Event()
        self._delivered = asyncio.Event()
        self._last_ms = 0
        self._uploads: set[asyncio.Task[Any]] = set()
        self._upload: asyncio.Task[Any] | None = None

    # ---- what happens to the vehicle -----------------------------------------------------

    def record(
        self, io: dict[int, int] | None = None, event_io_id: int = 0, priority: int = 0
    ) -> AvlRecord:
        """Buffer a record at the current position with the camera states and ``io``."""
        self.latitude += 0.0001  # driving north, about 11 m per record
        values: dict[int, int | bytes] = {239: 1, 66: 12850, 21: 4}
        values |= {IO_STATE[cam]: value for cam, value in self.states.items()}
        values |= io or {}
        rec = AvlRecord(
            self._timestamp(), priority, self.longitude, self.latitude, 112, 0, 11, 54,
            event_io_id, values,
        )  # fmt: skip
        self.pending.append(rec)
        self.sent.append(rec)
        self._changed.set()
        return rec

    def set_camera_state(self, camera: Camera, value: int) -> AvlRecord:
        """A camera's state changed: an event record with the new value."""
        self.states[camera] = value
        return self.record(event_io_id=IO_STATE[camera], priority=1)

    def trigger_sos(self, value: int = 3) -> AvlRecord:
        """AVL 499 fired (3 crash: both cameras also record a crash video)."""
        rec = self.record({IO_SOS: value}, event_io_id=IO_SOS, priority=2)
        if value == 3 and self.camera is not None:
            self._capture(self.firmware.crash_clips(rec.timestamp))
        return rec

    def resend_everything(self) -> None:
        """Buffer every record again, as if no ACK had ever arrived (a lost bridge restart)."""
        self.pending = deque(self.sent)
        self._changed.set()

    def stop(self) -> None:
        """Finish: deliver what is buffered, then close the link."""
        self._stop.set()
        self._changed.set()

    async def wait_delivered(self, timeout: float = 10.0) -> None:
        """Until every buffered record was ACKed."""
        async with asyncio.timeout(timeout):
            while self.pending:
                self._delivered.clear()
                await self._delivered.wait()

    async def wait_uploads(self, timeout: float = 30.0) -> None:
        """Until the camera uploaded every capture so far."""
        async with asyncio.timeout(timeout):
            while self._uploads:
                await asyncio.gather(*list(self._uploads), return_exceptions=True)

    def _timestamp(self) -> datetime:
        # Unique and increasing, as a record's time is part of its identity.
        now = datetime.now(UTC)
        ms = max(int(now.timestamp() * 1000), self._last_ms + 1)
        self._last_ms = ms
        return datetime.fromtimestamp(ms / 1000, UTC).replace(microsecond=ms % 1000 * 1000)

    def _capture(self, files: list[SimFile]) -> None:
        if self.camera is None or not files:
            return
        for f in files:
            self.camera.capture(f)
        if self._upload is None or self._upload.done():
            self._upload = asyncio.create_task(self.camera.run(), name=f"camera {self.imei}")
            self._uploads.add(self._upload)
            self._upload.add_done_callback(self._uploads.discard)

    # ---- the link --------------------------------------------------------------------------

    async def run(self, duration: float | None = None) -> TrackerResult:
        """Connect and send until ``stop()`` (or ``duration`` s), reconnecting after drops."""
        self._stop.clear()
        helpers = []
        if self.interval:
            helpers.append(asyncio.create_task(self._periodic(self.interval)))
        if self.crash_at is not None:
            helpers.append(asyncio.create_task(self._later(self.crash_at, self.trigger_sos)))
        if duration is not None:
            helpers.append(asyncio.create_task(self._later(duration, self.stop)))
        failures = 0
        try:
            while True:
                try:
                    finished = await self._session()
                except (ConnectionError, OSError, TimeoutError) as exc:
                    log.debug("tracker %s: link failed: %s", self.imei, exc)
                    finished = False
                if finished or self.result.login_rejected:
                    break
                failures += 1
                if failures > self.faults.max_reconnects:
                    log.warning("tracker %s: giving up after %d reconnects", self.imei, failures)
                    break
                await asyncio.sleep(self.faults.reconnect_delay)
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
        return self.result

    async def _periodic(self, interval: float) -> None:
        while True:
            self.record()
            await asyncio.sleep(interval)

    async def _later(self, delay: float, action: Callable[[], object]) -> None:
        await asyncio.sleep(delay)
        action()

    async def _session(self) -> bool:
        """One connection; True when it ended because the tracker was told to stop."""
        reader, writer = await asyncio.open_connection(self.host, self.port)
        self.result.connections += 1
        conn = AvlTrackerConnection(self.imei)
        inbox: asyncio.Queue[object] = asyncio.Queue()
        closed = asyncio.Event()
        reading = asyncio.create_task(self._read(reader, writer, conn, inbox, closed))
        try:
            conn.login()
            writer.write(conn.data_to_send())
            answer = await asyncio.wait_for(inbox.get(), self.faults.ack_timeout)
            if not isinstance(answer, LoginAnswer):
                return False
            if not answer.accepted:
                log.warning("tracker %s: login rejected", self.imei)
                self.result.login_rejected = True
                return True
            return await self._send(writer, conn, inbox, closed)
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading
            writer.transport.abort()

    async def _send(
        self,
        writer: asyncio.StreamWriter,
        conn: AvlTrackerConnection,
        inbox: asyncio.Queue[object],
        closed: asyncio.Event,
    ) -> bool:
        while True:
            if not self.pending:
                self._delivered.set()
                if self._stop.is_set():
                    writer.close()
                    return True
                self._changed.clear()
                await _first(self._changed.wait(), closed.wait())
                if closed.is_set():
                    return False
                continue
            batch = list(self.pending)[: self.records_per_packet]
            conn.send_records(batch, CODEC_8E, _WIDTHS)
            writer.write(conn.data_to_send())
            self.result.packets_sent += 1
            self.result.records_sent += len(batch)
            number = self.result.packets_sent
            try:
                ack = await asyncio.wait_for(inbox.get(), self.faults.ack_timeout)
            except TimeoutError:
                return False
            if not isinstance(ack, RecordsAcked):
                return False
            if number in self.faults.drop_acks:
                # The ACK is lost on the way: the firmware gives up on this link and resends.
                self.result.acks_dropped += 1
                return False
            for _ in range(ack.count):
                self.pending.popleft()
            self.result.records_acked += ack.count

    async def _read(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        conn: AvlTrackerConnection,
        inbox: asyncio.Queue[object],
        closed: asyncio.Event,
    ) -> None:
        try:
            while data := await reader.read(65536):
                for event in conn.receive_data(data):
                    if isinstance(event, CommandReceived):
                        self._command(writer, conn, event.text)
                    elif isinstance(event, LoginAnswer | RecordsAcked):
                        inbox.put_nowait(event)
        except DeviceProtocolError as exc:
            log.warning("tracker %s: bad data from the server: %s", self.imei, exc.reason)
        except (ConnectionError, OSError):
            pass
        closed.set()
        inbox.put_nowait(_CLOSED)

    def _command(self, writer: asyncio.StreamWriter, conn: AvlTrackerConnection, text: str) -> None:
        self.result.commands.append(text)
        if self.faults.silent:
            return
        self.firmware.latitude, self.firmware.longitude = self.latitude, self.longitude
        reply, files = self.firmware.answer(text)
        if reply is None:
            return
        self.result.answers.append(reply)
        conn.send_response(reply)
        writer.write(conn.data_to_send())
        self._capture(files)


_CLOSED = object()


async def _first(*aws: Coroutine[Any, Any, Any]) -> None:
    """Until the first of ``aws`` is done (the others are cancelled)."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
