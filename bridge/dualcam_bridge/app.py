"""The bridge as one object: store + servers (+ publishers), started and stopped together."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from .allowlist import DeviceAllowList
from .avl.service import AvlService
from .camera.remux import Remuxer
from .camera.retention import apply_retention
from .camera.server import CameraServer, CameraServerConfig
from .camera.store import MediaStore
from .config import Config
from .events import BridgeEvent, EventHandler
from .mqtt import BridgeInfo, MqttPublisher, MqttSettings
from .mqtt.publisher import PublishedHook

log = logging.getLogger(__name__)


class Bridge:
    """``async with Bridge(config) as bridge:`` runs everything the config asks for."""

    def __init__(self, config: Config, on_published: PublishedHook | None = None) -> None:
        self.config = config
        self.mqtt_settings = MqttSettings.from_config(config.mqtt)
        self.mqtt: MqttPublisher | None = None
        self._on_published = on_published
        # Events wait for this: nothing is emitted before every subscriber (MQTT) is up, so an
        # early record is ACKed only once it is in the MQTT outbox.
        self._ready = asyncio.Event()
        self.devices = DeviceAllowList(config.devices, config.allow_unknown_devices)
        media = config.media
        self.store = MediaStore(
            config.data_dir, Remuxer(media["ffmpeg"], enabled=media["remux_mp4"])
        )
        self._subscribers: list[EventHandler] = []
        self.camera = CameraServer(
            CameraServerConfig.from_dict(config.camera), self.store, self.devices, self.emit
        )
        self.store.on_media_completed(self.emit)
        self.avl = AvlService(config.avl, config.data_dir, self.devices, self.emit)
        # Registered after emit: subscribers see the MediaCompleted before its SosClipLinked.
        self.store.on_media_completed(self.avl.on_media_completed)
        self._tasks: list[asyncio.Task] = []

    def subscribe(self, handler: EventHandler) -> None:
        """Receive every domain event (media, progress, device, AVL…)."""
        self._subscribers.append(handler)

    async def emit(self, event: BridgeEvent) -> None:
        """Hand an event to every subscriber, in order (waits until the bridge is up)."""
        await self._ready.wait()
        for handler in self._subscribers:
            try:
                await handler(event)
            except Exception:
                log.exception("event subscriber failed for %s", type(event).__name__)

    async def start(self) -> None:
        await self.camera.start()
        await self.avl.start()
        if self.mqtt_settings.enabled:
            self.mqtt = MqttPublisher(
                self.mqtt_settings,
                self.config.data_dir / "mqtt.sqlite3",
                bridge_info=BridgeInfo(
                    camera_port=self.camera.port,
                    avl_port=self.avl.port,
                    configured_devices=tuple(d["imei"] for d in self.config.devices),
                ),
                handle_command=self.avl.router,
                on_published=self._on_published,
            )
            try:
                await self.mqtt.start()
            except BaseException:
                await self._stop_servers()
                raise
            self._subscribers.insert(0, self.mqtt.handle_event)
        self._ready.set()
        self._tasks.append(asyncio.create_task(self._retention_loop(), name="retention"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._stop_servers()
        if self.mqtt is not None:
            await self.mqtt.stop()
        self.store.close()

    async def _stop_servers(self) -> None:
        await self.camera.stop()
        await self.avl.stop()

    async def __aenter__(self) -> Bridge:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _retention_loop(self) -> None:
        media = self.config.media
        while True:
            try:
                apply_retention(self.store, media["max_age_days"], media["max_total_gb"])
                self.avl.prune()
            except Exception:
                log.exception("retention pass failed")
            await asyncio.sleep(media["retention_interval"])
