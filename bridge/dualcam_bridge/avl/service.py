"""The AVL side of the bridge as one object: database, record handling, clips, commands, server.

avl = AvlService(config.avl, config.data_dir, devices, bus.emit)
bus.subscribe(avl.on_media_completed, MediaCompleted)   # SOS ↔ clip links
await avl.start() … await avl.stop()
reply = await avl.router.submit(imei, CameraPhotoRequest(source=3))   # avl.requests
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from pathlib import Path

from ..allowlist import DeviceAllowList
from ..clock import now_utc
from ..config import AvlConfig
from ..events import EventSink, MediaCompleted
from .database import AvlDatabase
from .router import CommandRouter
from .server import AvlServer
from .sos_clips import ClipLink, SosClipLinker
from .tracker_state import TrackerState

log = logging.getLogger(__name__)

DB_NAME = "avl.sqlite3"


class AvlService:
    """Owns ``<data_dir>/avl.sqlite3`` and runs the AVL server and the command router."""

    def __init__(
        self,
        config: AvlConfig,
        data_dir: Path,
        devices: DeviceAllowList,
        emit: EventSink,
    ) -> None:
        self.config = cfg = config
        self.db = AvlDatabase(Path(data_dir) / DB_NAME)
        self.clips = SosClipLinker(self.db, window=cfg.sos_clip_window)
        self.state = TrackerState(self.db, self.clips)
        self.router = CommandRouter(devices, timeout=cfg.command_timeout, ttl=cfg.command_ttl)
        self.server = AvlServer(cfg, self.state, devices, emit, self.router)
        self._emit = emit
        self._started = False

    @property
    def port(self) -> int | None:
        """The AVL port actually bound (None when ``avl.enabled`` is false)."""
        return self.server.port if self._started else None

    async def start(self) -> None:
        """Start the router, then listen (unless disabled)."""
        await self.router.start()
        if self.config.enabled:
            await self.server.start()
            self._started = True

    async def stop(self) -> None:
        """Close every tracker link, end waiting commands, close the database."""
        if self._started:
            await self.server.stop()
            self._started = False
        await self.router.stop()
        self.db.close()

    async def __aenter__(self) -> AvlService:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def on_media_completed(self, media: MediaCompleted) -> None:
        """A stored file: if it is the clip of an SOS, link it and announce ``SosClipLinked``.

        Subscribed to ``MediaCompleted`` on the bus, which delivers what this emits after the
        ``MediaCompleted`` itself has reached every subscriber.
        """
        for link in self.clips.media_completed(media):
            log.info("%s: SOS %s: %s clip %s", link.imei, link.sos_id, link.camera, link.path.name)
            await self._emit(link)

    def find_clip_for_sos(self, sos_id: str, camera: str | None = None) -> ClipLink | None:
        """The clip linked to an SOS (front first), or None while it has not arrived."""
        return self.clips.find_clip_for_sos(sos_id, camera)

    async def prune(self, now: datetime | None = None) -> int:
        """Retention: drop AVL rows older than ``avl.retention_days`` (0 keeps everything).

        Runs in a worker thread, in short batches, so trackers' ACKs never wait for it.
        """
        days = self.config.retention_days
        if days <= 0:
            return 0
        removed = await asyncio.to_thread(self.db.prune, (now or now_utc()) - timedelta(days=days))
        if removed:
            log.info("AVL retention removed %d rows", removed)
        return removed
