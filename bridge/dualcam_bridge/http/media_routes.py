"""``GET``/``HEAD /media/{id}/{variant}``: one stored file by its media id.

The id (a uuid4 hex) and the variant are matched by the route itself; the file is looked up
by id in the media index, in the store's worker thread, and must lie inside ``data_dir``: a
request never names a path. Credentials are checked before the lookup, so ids cannot be
probed without a link. ``web.FileResponse`` sends the bytes with sendfile and answers
``ETag`` / ``If-None-Match`` (304), ``Range`` (206, 416 with ``Content-Range: bytes */n``),
``Accept-Ranges`` and ``Content-Length``; this module adds the type, the disposition and
the cache policy.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Literal, Protocol

from aiohttp import web
from aiohttp.helpers import content_disposition_header

from ..camera.store import MediaStore
from ..events import MediaCompleted
from .auth import Access
from .links import VARIANTS

log = logging.getLogger(__name__)

MEDIA_ROUTE = "/media/{media_id:[0-9a-f]{32}}/{variant:" + "|".join(VARIANTS) + "}"
# A stored file never changes; a cache keeps it no longer than its link lives (and a day).
MAX_AGE_S = 86400
# When the browser MP4 of a clip is queued or being made: ask again in this many seconds.
RETRY_AFTER_S = 10
DerivativeVariant = Literal["poster", "thumbnail"]


class DerivativeMaker(Protocol):
    """Makes posters and thumbnails on demand; knows which browser MP4s are on their way."""

    async def ensure(self, media: MediaCompleted, variant: DerivativeVariant) -> Path | None:
        """The variant's file, made now if missing (and recorded in the index); None when it
        cannot be (no ffmpeg, a broken clip). Requests for the same file may call this at
        once: they should share one job."""
        ...

    def pending(self, media_id: str) -> bool:
        """True while the clip's browser MP4 is queued or being made."""
        ...


class MediaFiles:
    """The ``/media`` handler: credentials → index → the variant's file → FileResponse."""

    def __init__(
        self, store: MediaStore, access: Access, derivatives: DerivativeMaker | None = None
    ) -> None:
        self.store = store
        self.access = access
        self.derivatives = derivatives
        self._root = os.path.abspath(store.data_dir)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        media_id, variant = request.match_info["media_id"], request.match_info["variant"]
        self.access.require_media(request, media_id, variant)
        media = await self.store.in_worker(self.store.index.get, media_id)
        if media is None:
            raise web.HTTPNotFound(text="no such media\n")
        path, mime = await self._variant(media, variant)
        if path is None:
            raise web.HTTPNotFound(text=f"this file has no {variant} variant\n")
        if not self._inside_data_dir(path):
            log.warning("media %s: %s is outside data_dir; not served", media_id, path)
            raise web.HTTPNotFound(text="no such media\n")
        headers = {
            "Content-Type": mime,
            "Content-Disposition": content_disposition_header("inline", filename=path.name),
            "Cache-Control": f"private, max-age={self._max_age(request)}",
            "X-Content-Type-Options": "nosniff",
        }
        return web.FileResponse(path, headers=headers)

    async def _variant(self, media: MediaCompleted, variant: str) -> tuple[Path | None, str]:
        """The file of ``variant`` and its MIME type (None: this file has no such variant)."""
        video = media.kind == "video"
        if variant == "file":
            return media.payload_path, media.mime
        if variant == "raw":
            return (media.path if video else None), "video/hevc"
        if variant == "browser":
            if not video:
                return None, "video/mp4"
            if media.browser_path is None and self._browser_pending(media.id):
                raise web.HTTPServiceUnavailable(
                    text="the browser MP4 is being made\n",
                    headers={"Retry-After": str(RETRY_AFTER_S)},
                )
            return media.browser_path, "video/mp4"
        if variant == "poster" and not video:
            return None, "image/jpeg"
        # The route admits nothing else: poster (of a clip) or thumbnail.
        wanted: DerivativeVariant = "poster" if variant == "poster" else "thumbnail"
        made = media.poster_path if wanted == "poster" else media.thumbnail_path
        if made is None and self.derivatives is not None:
            made = await self.derivatives.ensure(media, wanted)
        return made, "image/jpeg"

    def _browser_pending(self, media_id: str) -> bool:
        return self.derivatives is not None and self.derivatives.pending(media_id)

    def _inside_data_dir(self, path: Path) -> bool:
        # The index is ours, but a path from it is still checked (no I/O: lexical only).
        full = os.path.abspath(path)
        return os.path.commonpath([full, self._root]) == self._root

    @staticmethod
    def _max_age(request: web.Request) -> int:
        exp = request.query.get("exp", "")
        if exp.isdecimal():  # a valid link (checked above): no longer than it lives
            return max(0, min(MAX_AGE_S, int(exp) - int(time.time())))
        return MAX_AGE_S
