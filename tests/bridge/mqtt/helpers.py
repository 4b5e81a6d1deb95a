"""Test tools: a recording subscriber, a closable TCP gate, and a simulated fleet's events."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

from dualcam_bridge.events import (
    CameraStateChanged,
    DeviceSeen,
    MediaCompleted,
    Position,
    PositionUpdated,
    SosTriggered,
    TrackerAvailability,
)

IMEIS = [f"35630704244{n:04d}" for n in range(1, 8)]
T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    """Poll ``predicate`` every 10 ms; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        await asyncio.sleep(0.01)


@dataclass
class Received:
    """A message as a subscriber saw it, with when."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    at: float
    exact_qos: bool = True  # False where the broker forwards at the subscription's QoS


class Collector:
    """A real MQTT subscriber that records every message it gets."""

    def __init__(
        self,
        port: int,
        topic: str = "#",
        *,
        v5: bool = False,
        retain_as_published: bool = False,
        exact_qos: bool = True,
        **client_kwargs: Any,
    ) -> None:
        self.port = port
        self.exact_qos = exact_qos
        self.topic = topic
        self.v5 = v5
        self.retain_as_published = retain_as_published
        self.client_kwargs = client_kwargs
        self.messages: list[Received] = []
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Collector:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.disconnect()

    async def connect(self) -> None:
        """Connect and subscribe (QoS 1, so the delivered QoS is the publisher's)."""
        protocol = aiomqtt.ProtocolVersion.V5 if self.v5 else aiomqtt.ProtocolVersion.V311
        client = aiomqtt.Client("127.0.0.1", self.port, protocol=protocol, **self.client_kwargs)
        await client.__aenter__()
        if self.v5:
            opts = SubscribeOptions(qos=1, retainAsPublished=self.retain_as_published)
            await client.subscribe(self.topic, options=opts)
        else:
            await client.subscribe(self.topic, qos=1)
        self._client = client
        self._task = asyncio.create_task(self._read(client))

    async def disconnect(self) -> None:
        """Stop reading and disconnect (quietly if the broker is gone)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.__aexit__(None, None, None)
        self._client = self._task = None

    async def publish(self, topic: str, payload: bytes | str, **kwargs: Any) -> None:
        """Publish through this subscriber's connection."""
        assert self._client is not None
        await self._client.publish(topic, payload, **kwargs)

    async def _read(self, client: aiomqtt.Client) -> None:
        with contextlib.suppress(aiomqtt.MqttError):
            async for m in client.messages:
                payload = m.payload if isinstance(m.payload, bytes) else str(m.payload).encode()
                self.messages.append(
                    Received(
                        str(m.topic), payload, m.qos, m.retain, time.monotonic(), self.exact_qos
                    )
                )

    def on(self, topic: str) -> list[Received]:
        """Messages on one topic, in arrival order."""
        return [m for m in self.messages if m.topic == topic]

    def payloads(self, topic: str) -> list[bytes]:
        """Payloads on one topic, in arrival order."""
        return [m.payload for m in self.on(topic)]

    async def wait_for(
        self, predicate: Callable[[list[Received]], bool], timeout: float = 10.0, what: str = ""
    ) -> None:
        """Wait until ``predicate(messages)`` holds."""
        await wait_until(lambda: predicate(self.messages), timeout, what)

    async def wait_count(self, topic: str, n: int, timeout: float = 10.0) -> list[Received]:
        """Wait for at least ``n`` messages on ``topic``."""
        await wait_until(lambda: len(self.on(topic)) >= n, timeout, f"{n} messages on {topic}")
        return self.on(topic)


class Gate:
    """A loopback TCP forwarder to a broker that the test can shut (and open again).

    In the outage test it sits between the bridge and the broker, so the test decides when the
    bridge may reconnect: after the test's own subscriber is back on the restarted broker.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.is_open = True
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        """Listen on a free loopback port."""
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening and drop every connection."""
        self.shut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def shut(self) -> None:
        """Refuse new connections and cut the current ones."""
        self.is_open = False
        for writer in list(self._writers):
            writer.transport.abort()

    def open(self) -> None:
        """Let connections through again."""
        self.is_open = True

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.is_open:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            self._writers -= {writer, up_writer}


@dataclass
class Fleet:
    """Builds a simulated fleet's events, writing real media files under ``root``."""

    root: Path
    clock: datetime = T0
    counter: int = 0
    files: dict[str, Path] = field(default_factory=dict)

    def tick(self, seconds: float = 1.0) -> datetime:
        """Advance the fleet's clock."""
        self.clock += timedelta(seconds=seconds)
        return self.clock

    def photo(self, imei: str, camera: str = "front", size: int = 2048) -> MediaCompleted:
        """A JPEG-looking photo on disk and its MediaCompleted."""
        body = b"\xff\xd8\xff\xe0" + os.urandom(size) + b"\xff\xd9"
        return self._media(imei, camera, "photo", body, ".jpg")

    def video(
        self, imei: str, camera: str = "rear", size: int = 8192, mp4: bool = True
    ) -> MediaCompleted:
        """A video on disk (with an MP4 beside it when ``mp4``) and its MediaCompleted."""
        raw = b"\x00\x00\x00\x01" + os.urandom(size)
        event = self._media(imei, camera, "video", raw, ".h265", duration_s=10)
        if not mp4:
            return event
        mp4_path = event.path.with_suffix(".mp4")
        mp4_path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(size))
        return replace(event, mp4_path=mp4_path)

    def _media(
        self, imei: str, camera: str, kind: str, body: bytes, suffix: str, **extra: Any
    ) -> MediaCompleted:
        self.counter += 1
        media_id = f"m{self.counter:05d}"
        path = self.root / imei / f"{media_id}_{camera}_{kind}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        self.files[media_id] = path
        return MediaCompleted(
            id=media_id,
            imei=imei,
            camera=camera,  # type: ignore[arg-type]
            kind=kind,  # type: ignore[arg-type]
            path=path,
            size=len(body),
            sha256=hashlib.sha256(body).hexdigest(),
            received_at=self.tick(),
            trigger="server_request",
            **extra,
        )

    def position(self, imei: str, lat: float = 54.6872, lon: float = 25.2797) -> PositionUpdated:
        """A position fix."""
        return PositionUpdated(imei, Position(lat, lon, 112, 90, 42, 11, self.tick()))

    def sos(self, imei: str, value: int = 3, with_position: bool = True) -> SosTriggered:
        """An AVL 499 SOS record."""
        pos = Position(54.7, 25.3, 100, 180, 60, 9, self.clock) if with_position else None
        return SosTriggered(imei, value, self.tick(), pos)

    def camera_state(self, imei: str, camera: str = "front", value: int = 1) -> CameraStateChanged:
        """An AVL 497/498 camera state."""
        return CameraStateChanged(imei, camera, value, self.tick())  # type: ignore[arg-type]

    def availability(self, imei: str, online: bool = True) -> TrackerAvailability:
        """The tracker's AVL link up or down."""
        return TrackerAvailability(imei, online, self.tick())

    def seen(
        self, imei: str, name: str | None = "Truck", protocol_id: int | None = 8
    ) -> DeviceSeen:
        """A device identified itself."""
        return DeviceSeen(imei, name, protocol_id, self.tick())
