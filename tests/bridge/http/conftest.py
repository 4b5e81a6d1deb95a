"""HTTP tests: a real bridge, real uploads over the camera protocol, a real aiohttp client."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from dualcam_bridge.events import MediaCompleted
from dualcam_bridge.simulator.camera import Faults, SimulatedCamera, make_captures

from ..conftest import RunningBridge
from ..mqtt.conftest import mosquitto  # noqa: F401 - a fixture, used by name

IMEI = "352094082736916"


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    # auto_decompress off: the bytes on the wire are what the test compares.
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        yield session


async def upload(
    b: RunningBridge,
    imei: str = IMEI,
    photos: int = 1,
    videos: int = 1,
    faults: Faults | None = None,
) -> list[MediaCompleted]:
    """Files from a simulated camera over the real protocol; their records once announced."""
    before = len(b.media)
    files = make_captures(imei, photos, videos)
    cam = SimulatedCamera("127.0.0.1", b.port, imei, files, faults, seed=1)
    async with asyncio.timeout(30):
        await cam.run()
    await b.wait_for_media(before + photos + videos)
    return b.media[before:]


async def get_json(client: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, Any]]:
    async with client.get(url) as resp:
        return resp.status, await resp.json()


def base_url(b: RunningBridge) -> str:
    port = b.bridge.http_port
    assert port is not None
    return f"http://127.0.0.1:{port}"


async def raw_request(port: int, target: str, headers: str = "") -> tuple[int, bytes]:
    """One request with ``target`` exactly as written (a client library would normalise it)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            f"GET {target} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n".encode()
        )
        await writer.drain()
        async with asyncio.timeout(10):
            data = await reader.read(-1)
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


async def add_record(
    b: RunningBridge, path: Path, kind: str = "video", **fields: Any
) -> MediaCompleted:
    """An index row written directly (no bus event, so no media worker ever touches it)."""
    rec = MediaCompleted(
        id=uuid.uuid4().hex,
        imei=IMEI,
        camera="front",
        kind=kind,  # type: ignore[arg-type]
        path=path,
        size=path.stat().st_size if path.exists() else 0,
        sha256="0" * 64,
        received_at=datetime.now(UTC),
        **fields,
    )
    store = b.bridge.store
    await store.in_worker(store.index.add, rec, True)
    return rec
