"""The bridge as one object: store + servers (+ publishers), started and stopped together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from dataclasses import asdict

from .allowlist import DeviceAllowList
from .announcements import Announcements
from .avl.service import AvlService
from .bus import EventBus
from .camera.derivatives import MediaDerivatives
from .camera.disk import DiskMonitor, is_disk_full
from .camera.remux import Remuxer
from .camera.retention import apply_retention
from .camera.server import CameraServer
from .camera.store import MediaStore
from .clock import now_utc
from .config import Config
from .events import MediaCompleted, MediaVariantReady
from .http.links import LinkSigner, MediaUrls, load_or_create_secret, media_urls
from .http.metrics import Metrics
from .http.server import HttpServer
from .mqtt import BridgeInfo, EmbeddedBroker, MqttPublisher
from .mqtt.publisher import PublishedHook
from .mqtt.topics import bridge_health_payload

log = logging.getLogger(__name__)


class Bridge:
    """``async with Bridge(config) as bridge:`` runs everything the config asks for."""

    def __init__(self, config: Config, on_published: PublishedHook | None = None) -> None:
        self.config = config
        self.mqtt: MqttPublisher | None = None
        self.broker: EmbeddedBroker | None = None
        self._on_published = on_published
        # Closed until every subscriber (MQTT) is up: an early record is ACKed only once it
        # is in the MQTT outbox.
        self.bus = EventBus(open=False)
        self.emit = self.bus.emit
        self.subscribe = self.bus.subscribe
        self.devices = DeviceAllowList(
            [asdict(device) for device in config.devices], config.allow_unknown_devices
        )
        media = config.media
        self.store = MediaStore(config.data_dir, Remuxer(media.ffmpeg, enabled=media.remux_mp4))
        self.announcements = Announcements(self.store, self.emit)
        # Disk pressure is a state: transfers wait while data_dir is full; once there is room
        # again, the announcements a full outbox delayed go out.
        self.disk = DiskMonitor(config.data_dir, media.min_free_mb, self.announcements.wake)
        self.camera = CameraServer(config.camera, self.store, self.devices, self.emit, self.disk)
        self.avl = AvlService(config.avl, config.data_dir, self.devices, self.emit)
        self.bus.subscribe(self.avl.on_media_completed, MediaCompleted)  # SOS ↔ clip links
        self._init_http()
        # Posters, thumbnails, browser MP4s: ffmpeg in a bounded queue at the lowest priority;
        # the HTTP service asks them for a missing still and whether a browser MP4 is coming.
        self.derivatives = MediaDerivatives(
            self.store,
            self.emit,
            ffmpeg=media.ffmpeg,
            browser_mp4=media.browser_mp4 == "always",
            jobs=media.media_jobs,
            on_job=self.metrics.observe_processing,
            disk_full=lambda: self.disk.full,
        )
        if self.http is not None:
            self.http.derivatives = self.derivatives
        self._tasks: list[asyncio.Task[None]] = []

    # -- HTTP: signed links, /healthz, /metrics ------------------------------------------------

    def _init_http(self) -> None:
        self.metrics = Metrics(self)  # one registry per bridge
        self.store.on_step = self.metrics.observe_processing
        self.bus.subscribe(self.metrics.on_media, MediaCompleted)
        self.http: HttpServer | None = None
        if self.config.http.enabled:
            secret = load_or_create_secret(self.config.data_dir)
            self.http = HttpServer(self.config.http, self.store, secret, self, self.metrics)
        self._ffmpeg = shutil.which(self.config.media.ffmpeg) is not None

    @property
    def signer(self) -> LinkSigner | None:
        """Signs the links in media events (None with ``http.enabled: false``)."""
        return self.http.signer if self.http is not None else None

    @property
    def http_port(self) -> int | None:
        """The HTTP port actually bound (None with ``http.enabled: false``)."""
        return self.http.port if self.http is not None else None

    def _media_urls(self, media: MediaCompleted) -> MediaUrls:
        assert self.http is not None
        # Poster and thumbnail links only when something can make them on request.
        derivatives = self._ffmpeg and self.http.derivatives is not None
        return media_urls(self.http.signer, media, derivatives=derivatives)

    async def start(self) -> None:
        await self.disk.check()
        await self.camera.start()
        await self.avl.start()
        if self.http is not None:
            try:
                await self.http.start()  # before MQTT: media events carry its links
            except BaseException:
                await self._stop_servers()
                raise
        mqtt = self.config.mqtt
        if mqtt.enabled:
            self.mqtt = MqttPublisher(
                mqtt,
                self.config.data_dir / "mqtt.sqlite3",
                bridge_info=BridgeInfo(
                    camera_port=self.camera.port,
                    avl_port=self.avl.port,
                    configured_devices=tuple(d.imei for d in self.config.devices),
                ),
                handle_command=self.avl.router.submit,
                on_published=self._on_published,
                on_media_accepted=self.announcements.accepted,
                links=self._media_urls if self.http is not None else None,
            )
            try:
                if mqtt.embedded:
                    log.info("mqtt.host is not set: starting the embedded MQTT broker")
                    self.broker = EmbeddedBroker(mqtt.broker_host, mqtt.broker_port)
                    await self.broker.start()
                await self.mqtt.start()
            except BaseException:
                await self._stop_servers()
                await self._stop_broker()
                raise
            self.disk.on_change = self._publish_health
            self._publish_health()
            self.bus.subscribe(self.mqtt.handle_event)
            self.bus.subscribe(self.announcements.on_media, MediaCompleted)
            self.bus.subscribe(self.announcements.on_media, MediaVariantReady)
        # Last: the original's event is in the outbox before its derivatives are queued.
        self.bus.subscribe(self.derivatives.on_media, MediaCompleted)
        recovered = await self.store.finish_recovery()
        self.bus.open()
        for media in recovered:  # complete spools committed at start-up
            await self.emit(media)
        await self.derivatives.start()
        self._tasks.append(asyncio.create_task(self._retention_loop(), name="retention"))
        self._tasks.append(asyncio.create_task(self.disk.run(), name="disk"))
        if self.mqtt is not None:
            # The index is the source of truth: what it holds and MQTT never took goes out.
            self._tasks.append(asyncio.create_task(self.announcements.run(), name="announce"))

    def _publish_health(self) -> None:
        """``P/bridge/health`` from the disk state (at start and on every change)."""
        if self.mqtt is not None:
            disk = self.disk
            payload = bridge_health_payload(disk.full, disk.free_mb, disk.min_free_mb, now_utc())
            self.mqtt.set_health(payload)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.derivatives.stop()  # kills running ffmpeg jobs, removes their temp files
        await self._stop_servers()
        if self.mqtt is not None:
            await self.mqtt.stop()
        with contextlib.suppress(Exception):  # else the next start announces them again
            await self.announcements.flush()
        await self._stop_broker()
        self.store.close()

    async def _stop_servers(self) -> None:
        await self.camera.stop()
        await self.avl.stop()
        if self.http is not None:
            await self.http.stop()

    async def _stop_broker(self) -> None:
        # After the publisher, so its goodbye (``offline``) still reaches the broker.
        if self.broker is not None:
            await self.broker.stop()
            self.broker = None

    async def __aenter__(self) -> Bridge:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _retention_loop(self) -> None:
        media = self.config.media
        while True:
            try:
                await self.store.in_worker(
                    apply_retention, self.store, media.max_age_days, media.max_total_gb
                )
                await self.avl.prune()
            except Exception as exc:
                if is_disk_full(exc):
                    self.disk.write_failed(exc)  # the disk state logs it, once
                else:
                    log.exception("retention pass failed")
            await asyncio.sleep(media.retention_interval)
