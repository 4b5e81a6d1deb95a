"""The bridge's HTTP service: an aiohttp application on ``http.host:http.port``.

    GET/HEAD /media/{id}/{variant}   a stored file (signed link or bearer token)
    GET      /healthz                each part's state; 200 / 503; no credentials
    GET      /metrics                Prometheus text; the bearer token when one is set

The Bridge starts it before the MQTT publisher, because media events carry its links:
``signer`` signs them, and its base URL (``http.public_url``, else this host's name and the
bound port) is known once the port is bound.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse
from prometheus_client import CONTENT_TYPE_LATEST

from ..camera.store import MediaStore
from ..config import HttpConfig
from .auth import Access
from .health import health_handler
from .links import LinkSigner, default_public_url
from .media_routes import MEDIA_ROUTE, DerivativeMaker, MediaFiles
from .metrics import Metrics
from .parts import BridgeParts

log = logging.getLogger(__name__)

# Open downloads get about this long to finish when the bridge stops (players resume with
# a range request).
SHUTDOWN_TIMEOUT_S = 1.0


class HttpServer:
    """``await start()`` / ``await stop()``; ``port`` and ``signer`` once started."""

    def __init__(
        self,
        config: HttpConfig,
        store: MediaStore,
        secret: bytes,
        parts: BridgeParts,
        metrics: Metrics,
        derivatives: DerivativeMaker | None = None,
    ) -> None:
        self.config = config
        base = config.public_url or default_public_url(config.port, config.host)
        self.signer = LinkSigner(secret, base, timedelta(hours=config.link_ttl_hours))
        self.metrics = metrics
        self.access = Access(self.signer, config.token)
        self.media = MediaFiles(store, self.access, derivatives)
        self.app = web.Application()
        self.app.router.add_get(MEDIA_ROUTE, self.media.handle)  # and HEAD
        self.app.router.add_get("/healthz", health_handler(parts))
        self.app.router.add_get("/metrics", self._metrics)
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    @property
    def derivatives(self) -> DerivativeMaker | None:
        """What makes a missing poster or thumbnail (None: they are 404 until made)."""
        return self.media.derivatives

    @derivatives.setter
    def derivatives(self, maker: DerivativeMaker | None) -> None:
        self.media.derivatives = maker

    @property
    def port(self) -> int:
        """The bound port (useful with ``http.port: 0``)."""
        assert self._port is not None, "not started"
        return self._port

    async def start(self) -> None:
        """Listen; the links' default base names the bound port."""
        runner = web.AppRunner(
            self.app,
            access_log_class=_AccessLog,
            handle_signals=False,
            shutdown_timeout=SHUTDOWN_TIMEOUT_S,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.config.host, self.config.port, backlog=256)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        if self.config.public_url is None:
            self.signer.base_url = default_public_url(self._port, self.config.host)
        log.info(
            "http server listening on %s:%d (links: %s)",
            self.config.host,
            self._port,
            self.signer.base_url,
        )

    async def stop(self) -> None:
        """Stop listening; open downloads get a moment to finish."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics(self, request: web.Request) -> web.StreamResponse:
        self.access.require_token(request)
        return web.Response(
            body=self.metrics.render(),
            headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"},
        )


class _AccessLog(AbstractAccessLogger):
    """One DEBUG line per request, without the query: a signed link stays out of the log."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        self.logger.debug(
            "http %s %s %s -> %d (%d bytes, %.3f s)",
            request.remote,
            request.method,
            request.path,
            response.status,
            response.body_length,
            time,
        )
