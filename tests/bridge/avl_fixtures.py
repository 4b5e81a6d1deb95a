"""A bridge-like stack for AVL tests: media store + camera server + AVL service on loopback.

It composes the parts the way ``Bridge`` does (one event bus, media completions to the
SOS↔clip linker) without depending on ``app.py``, and records every event on the bus.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from dualcam_bridge.allowlist import DeviceAllowList
from dualcam_bridge.avl.service import AvlService
from dualcam_bridge.bus import EventBus
from dualcam_bridge.camera.remux import Remuxer
from dualcam_bridge.camera.server import CameraServer
from dualcam_bridge.camera.store import MediaStore
from dualcam_bridge.config import AvlConfig, CameraConfig
from dualcam_bridge.config_fields import parse
from dualcam_bridge.events import DomainEvent, MediaCompleted
from dualcam_bridge.protocol.avl_events import LoginAnswer, RecordsAcked
from dualcam_bridge.protocol.avl_tracker import AvlTrackerConnection
from dualcam_bridge.protocol.codec8 import AvlRecord

E = TypeVar("E")


class AvlHarness:
    """The running stack and what it emitted."""

    def __init__(self, avl: AvlService, store: MediaStore, camera: CameraServer) -> None:
        self.avl = avl
        self.store = store
        self.camera = camera
        self.events: list[DomainEvent] = []
        self._changed = asyncio.Event()

    @property
    def avl_port(self) -> int:
        port = self.avl.port
        assert port is not None
        return port

    @property
    def camera_port(self) -> int:
        return self.camera.port

    async def emit(self, event: DomainEvent) -> None:
        self.events.append(event)
        self._changed.set()

    def of(self, kind: type[E], imei: str | None = None) -> list[E]:
        """Events of one type (of one IMEI)."""
        return [
            e
            for e in self.events
            if isinstance(e, kind) and (imei is None or getattr(e, "imei", None) == imei)
        ]

    async def wait_for(self, check: Callable[[], Any], timeout: float = 10) -> None:
        """Until ``check()`` is true (re-checked after every event)."""
        async with asyncio.timeout(timeout):
            while not check():
                self._changed.clear()
                await self._changed.wait()

    async def wait_idle(self, timeout: float = 5) -> None:
        """Until no tracker link is open."""
        async with asyncio.timeout(timeout):
            while self.avl.server.links:
                await asyncio.sleep(0.01)


@asynccontextmanager
async def running_avl(
    data_dir: Path,
    *,
    devices: list[dict[str, Any]] | None = None,
    allow_unknown: bool = True,
    avl: dict[str, Any] | None = None,
) -> AsyncIterator[AvlHarness]:
    """Start the stack on free loopback ports with ``data_dir`` (reuse it to "restart")."""
    registry = DeviceAllowList(devices or [], allow_unknown)
    store = MediaStore(data_dir, Remuxer(enabled=False))
    config = {"host": "127.0.0.1", "port": 0, "idle_timeout": 5, "command_timeout": 5}
    config |= avl or {}
    bus = EventBus()
    service = AvlService(parse(AvlConfig, config, "avl"), data_dir, registry, bus.emit)
    camera = CameraServer(
        CameraConfig(host="127.0.0.1", port=0, idle_timeout=5, metadata_timeout=0.5),
        store,
        registry,
        bus.emit,
    )
    harness = AvlHarness(service, store, camera)
    bus.subscribe(service.on_media_completed, MediaCompleted)

    async def record(event: DomainEvent) -> None:
        await harness.emit(event)  # looked up per event: a test may replace harness.emit

    bus.subscribe(record)
    await service.start()
    await camera.start()
    try:
        yield harness
    finally:
        await camera.stop()
        await service.stop()
        store.close()


class RawTracker:
    """A hand-driven tracker socket for byte-level tests."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, imei: str):
        self.reader, self.writer = reader, writer
        self.conn = AvlTrackerConnection(imei)

    @classmethod
    async def connect(cls, port: int, imei: str, login: bool = True) -> RawTracker:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        tracker = cls(reader, writer, imei)
        if login:
            tracker.conn.login()
            writer.write(tracker.conn.data_to_send())
            assert await tracker.events() == [LoginAnswer(True)]
        return tracker

    async def events(self, timeout: float = 5) -> list[object]:
        """The next events the server's bytes complete."""
        while True:
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
            if not data:
                raise ConnectionError("closed by the server")
            if events := self.conn.receive_data(data):
                return events

    async def send(self, records: list[AvlRecord], timeout: float = 5) -> RecordsAcked:
        """Send one packet and wait for its ACK."""
        self.conn.send_records(records)
        self.writer.write(self.conn.data_to_send())
        (ack,) = await self.events(timeout)
        assert isinstance(ack, RecordsAcked)
        return ack

    async def closed(self, timeout: float = 5) -> bytes:
        """Everything the server sends until it closes the link."""
        return await asyncio.wait_for(self.reader.read(), timeout)

    def close(self) -> None:
        self.writer.transport.abort()
