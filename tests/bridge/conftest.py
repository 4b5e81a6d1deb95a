"""Shared fixtures: a real bridge on a loopback port, real files in a temp data dir."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from dualcam_bridge.app import Bridge
from dualcam_bridge.camera.ffmpeg_jobs import SUFFIXES, TEMP_SUFFIX
from dualcam_bridge.config import validate
from dualcam_bridge.events import DomainEvent, MediaCompleted


class RunningBridge:
    """A started Bridge plus what it announced."""

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge
        self.media: list[MediaCompleted] = []
        self.events: list[DomainEvent] = []
        self.changed = asyncio.Event()

    @property
    def port(self) -> int:
        return self.bridge.camera.port

    @property
    def data_dir(self) -> Path:
        return self.bridge.config.data_dir

    async def record(self, event: DomainEvent) -> None:
        self.events.append(event)
        if isinstance(event, MediaCompleted):
            self.media.append(event)
        self.changed.set()

    async def wait_for_media(self, count: int, timeout: float = 20) -> None:
        async with asyncio.timeout(timeout):
            while len(self.media) < count:
                self.changed.clear()
                await self.changed.wait()

    async def wait_idle(self, timeout: float = 5) -> None:
        """Until no camera connection is open."""
        async with asyncio.timeout(timeout):
            while self.bridge.camera.connections:
                await asyncio.sleep(0.01)


BridgeFactory = Callable[..., Any]


@pytest.fixture
def bridge_config(tmp_path: Path) -> Callable[..., dict[str, Any]]:
    def make(**overrides: Any) -> dict[str, Any]:
        camera = {"host": "127.0.0.1", "port": 0, "idle_timeout": 5, "metadata_timeout": 0.5}
        camera.update(overrides.pop("camera", {}))
        avl = {"host": "127.0.0.1", "port": 0, **overrides.pop("avl", {})}
        # Loopback on a free port: several bridges run at once (tests/bridge/http tests it).
        http = {"host": "127.0.0.1", "port": 0, **overrides.pop("http", {})}
        # MQTT is tested on its own (tests/bridge/mqtt) and end to end (test_mqtt_bridge.py).
        mqtt = overrides.pop("mqtt", {"enabled": False})
        return {
            "data_dir": str(tmp_path / "data"),
            "camera": camera,
            "avl": avl,
            "mqtt": mqtt,
            "http": http,
            **overrides,
        }

    return make


@pytest.fixture
def start_bridge(bridge_config) -> BridgeFactory:
    """``async with start_bridge(**config) as b:`` — a running bridge on a free port."""

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[RunningBridge]:
        config = validate(bridge_config(**overrides))
        async with Bridge(config) as bridge:
            running = RunningBridge(bridge)
            bridge.subscribe(running.record)
            yield running

    return start


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    """Device input must never produce a traceback in the log."""
    bad = [r for r in caplog.records if r.exc_info or r.levelno >= logging.CRITICAL]
    assert not bad, [r.getMessage() for r in bad]


def is_derivative(path: Path) -> bool:
    """A poster, thumbnail or browser MP4 (or its temp), made by the media workers."""
    return any(path.name.endswith((s, s + TEMP_SUFFIX)) for s in SUFFIXES.values())


def media_files(data_dir: Path) -> list[Path]:
    """The stored files and their MP4s; the derivatives made beside them (in the
    background, so their number depends on timing) are tested in test_derivatives.py."""
    files = (data_dir / "media").rglob("*")
    return sorted(p for p in files if p.is_file() and not is_derivative(p))
