"""Signed links to stored files: ``<public_url>/media/<id>/<variant>?exp=<unix>&sig=<hmac>``.

A link names a media id from the index and a variant, never a path. Its signature is
HMAC-SHA256 over id, variant and expiry with a secret the bridge generates once into
``data_dir`` (mode 0600), so a link can be handed to any subscriber (a notification, a
Node-RED flow) and stops working when it expires; changing one character breaks it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Literal

from ..clock import now_utc
from ..events import MediaCompleted

# file: the photo JPEG or the clip MP4 (the raw H.265 when no MP4 could be made);
# raw: the camera's own H.265 stream; poster: a JPEG frame of a clip; thumbnail: a small JPEG
# of a photo or of a clip's poster; browser: the clip's H.264 MP4.
Variant = Literal["file", "raw", "poster", "thumbnail", "browser"]
VARIANTS: tuple[Variant, ...] = ("file", "raw", "poster", "thumbnail", "browser")
SECRET_FILE = "http-secret"


class LinkCheck(Enum):
    """The answer to a presented link."""

    VALID = "valid"
    EXPIRED = "expired"
    INVALID = "invalid"  # malformed, tampered, or signed with another secret


def load_or_create_secret(data_dir: Path) -> bytes:
    """The signing secret in ``<data_dir>/http-secret``, created once (0600) when missing."""
    path = Path(data_dir) / SECRET_FILE
    with contextlib.suppress(FileNotFoundError):
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_bytes(32)
    tmp = path.with_name(f".{SECRET_FILE}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(value.hex() + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    try:
        os.link(tmp, path)  # never replaces a secret another process wrote meanwhile
    except FileExistsError:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    finally:
        tmp.unlink(missing_ok=True)
    return value


WILDCARD_HOSTS = ("", "0.0.0.0", "::")


def default_public_url(port: int, host: str | None = None) -> str:
    """``http://<hostname>:<port>``: what other machines on the LAN usually reach.

    A server bound to one address (``http.host: 127.0.0.1``) is reached only there, so that
    address is the base instead of the host name.
    """
    if host is None or host in WILDCARD_HOSTS:
        return f"http://{socket.gethostname()}:{port}"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class LinkSigner:
    """Makes and checks signed links for one bridge."""

    def __init__(self, secret: bytes, base_url: str, ttl: timedelta) -> None:
        if len(secret) < 16:
            raise ValueError("the link secret must be at least 16 bytes")
        self._secret = secret
        self.base_url = base_url.rstrip("/")
        self.ttl = ttl

    def signature(self, media_id: str, variant: str, expires: int) -> str:
        message = f"{media_id}\n{variant}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def path(self, media_id: str, variant: Variant, now: datetime | None = None) -> str:
        """``/media/<id>/<variant>?exp=…&sig=…`` (relative to the base URL)."""
        expires = int(((now or now_utc()) + self.ttl).timestamp())
        sig = self.signature(media_id, variant, expires)
        return f"/media/{media_id}/{variant}?exp={expires}&sig={sig}"

    def url(self, media_id: str, variant: Variant, now: datetime | None = None) -> str:
        """The absolute signed link."""
        return self.base_url + self.path(media_id, variant, now)

    def check(
        self,
        media_id: str,
        variant: str,
        exp: str | None,
        sig: str | None,
        now: datetime | None = None,
    ) -> LinkCheck:
        """Is this (id, variant, exp, sig) a link we signed, and still valid?"""
        if not exp or not sig or not exp.isdecimal() or len(exp) > 12:
            return LinkCheck.INVALID
        expected = self.signature(media_id, variant, int(exp))
        if not hmac.compare_digest(expected, sig.lower()):
            return LinkCheck.INVALID
        if int(exp) < (now or now_utc()).timestamp():
            return LinkCheck.EXPIRED
        return LinkCheck.VALID


@dataclass(frozen=True, slots=True)
class MediaUrls:
    """The links of one stored file as the media event carries them (None: no such variant)."""

    url: str | None = None
    poster_url: str | None = None
    thumbnail_url: str | None = None
    browser_url: str | None = None


def media_urls(
    signer: LinkSigner, media: MediaCompleted, derivatives: bool, now: datetime | None = None
) -> MediaUrls:
    """Signed links of a file. ``derivatives``: posters and thumbnails can be made (ffmpeg);
    the server makes one on first request if its worker has not yet. The browser MP4 is
    linked only once it exists."""
    now = now or now_utc()
    video = media.kind == "video"
    return MediaUrls(
        url=signer.url(media.id, "file", now),
        poster_url=signer.url(media.id, "poster", now) if video and derivatives else None,
        thumbnail_url=signer.url(media.id, "thumbnail", now) if derivatives else None,
        browser_url=signer.url(media.id, "browser", now) if media.browser_path else None,
    )
