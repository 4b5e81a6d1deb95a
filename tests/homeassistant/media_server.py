"""A stand-in for the bridge's HTTP service: real files over a real socket, the same URLs.

`GET`/`HEAD <base>/media/<id>/<variant>?exp=<unix>&sig=<hex>` served with aiohttp's
FileResponse (ranges, ETag/If-None-Match, 206/304/416 as the bridge's server answers them);
403 for a wrong signature or an expired link, 404 for an unknown id or variant. The
signature is an HMAC like the bridge's, with a test secret.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web

SECRET = b"test-secret-of-the-bridge-0123456789"


def signature(media_id: str, variant: str, expires: int) -> str:
    """HMAC-SHA256 over id, variant and expiry, as the bridge signs its links."""
    message = f"{media_id}\n{variant}\n{expires}".encode()
    return hmac.new(SECRET, message, hashlib.sha256).hexdigest()


@dataclass
class MediaServer:
    """Files by (media id, variant), served on 127.0.0.1."""

    root: Path
    files: dict[tuple[str, str], tuple[Path, str]] = field(default_factory=dict)
    # Headers of every request, in order (what the proxy forwarded).
    requests: list[dict[str, str]] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def base(self) -> str:
        """The bridge's public_url."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Listen on a free loopback port."""
        app = web.Application()
        app.router.add_get("/media/{media_id}/{variant}", self._serve)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop listening (a later start() reuses the port)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def add(self, media_id: str, variant: str, data: bytes, content_type: str) -> Path:
        """Serve data as this variant of media_id."""
        path = self.root / f"{media_id}.{variant}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.files[(media_id, variant)] = (path, content_type)
        return path

    def link(self, media_id: str, variant: str, ttl: int = 3600, sig: str | None = None) -> str:
        """A signed link, valid for ttl seconds (negative: already expired)."""
        expires = int(time.time()) + ttl
        sig = sig or signature(media_id, variant, expires)
        return f"{self.base}/media/{media_id}/{variant}?exp={expires}&sig={sig}"

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(dict(request.headers))
        media_id, variant = request.match_info["media_id"], request.match_info["variant"]
        exp, sig = request.query.get("exp", ""), request.query.get("sig", "")
        if not exp.isdecimal() or not hmac.compare_digest(
            sig, signature(media_id, variant, int(exp))
        ):
            return web.Response(status=403, text="bad signature")
        if int(exp) < time.time():
            return web.Response(status=403, text="link expired")
        if (served := self.files.get((media_id, variant))) is None:
            return web.Response(status=404)
        path, content_type = served
        return web.FileResponse(path, headers={"Content-Type": content_type})


def recent(time_of_day: str) -> str:
    """Yesterday (UTC) at this time: recent enough for the media index's age limit."""
    day = (datetime.now(UTC) - timedelta(days=1)).date()
    return f"{day.isoformat()}T{time_of_day}.000Z"


def media_event(
    server: MediaServer,
    media_id: str,
    imei: str,
    *,
    kind: str = "video",
    camera: str = "front",
    variant: str = "original",
    data: bytes = b"",
    mime: str | None = None,
    captured_at: str | None = "05:30:00",
    received_at: str = "10:02:03",
    trigger: str | None = "crash",
    ttl: int = 3600,
) -> dict[str, object]:
    """A `P/<imei>/media` event (README "MQTT topics") with links to what the server has.

    captured_at and received_at are times of yesterday (UTC); captured_at None: no metadata.
    """

    def link(name: str) -> str | None:
        return server.link(media_id, name, ttl) if (media_id, name) in server.files else None

    return {
        "id": media_id,
        "imei": imei,
        "camera": camera,
        "kind": kind,
        "variant": variant,
        "mime": mime or ("video/mp4" if kind == "video" else "image/jpeg"),
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "captured_at": recent(captured_at) if captured_at else None,
        "received_at": recent(received_at),
        "path": f"/var/lib/dualcam/media/{imei}/{media_id}",
        "url": link("file"),
        "poster_url": link("poster"),
        "thumbnail_url": link("thumbnail"),
        "browser_url": link("browser") if variant == "browser" else None,
        "duration_s": 10.0 if kind == "video" else None,
        "trigger": trigger,
        "latitude": 54.6872,
        "longitude": 25.2797,
    }
