"""Signed links and their secret, and the default base URL of links."""

from __future__ import annotations

import socket
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dualcam_bridge.http.links import (
    LinkCheck,
    LinkSigner,
    default_public_url,
    load_or_create_secret,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
ID = "0123456789abcdef0123456789abcdef"


def test_the_secret_is_made_once_and_private(tmp_path: Path) -> None:
    secret = load_or_create_secret(tmp_path)
    path = tmp_path / "http-secret"
    assert len(secret) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secret(tmp_path) == secret  # a restart keeps links working


def test_a_link_is_valid_for_its_id_variant_and_lifetime_only() -> None:
    signer = LinkSigner(b"k" * 32, "http://bridge:5080/", timedelta(hours=1))
    url = signer.url(ID, "file", now=NOW)
    assert url.startswith(f"http://bridge:5080/media/{ID}/file?exp=")
    exp, sig = (part.split("=")[1] for part in url.split("?")[1].split("&"))
    assert signer.check(ID, "file", exp, sig, now=NOW) is LinkCheck.VALID
    assert signer.check(ID, "file", exp, sig.upper(), now=NOW) is LinkCheck.VALID
    later = NOW + timedelta(hours=1, seconds=1)
    assert signer.check(ID, "file", exp, sig, now=later) is LinkCheck.EXPIRED
    assert signer.check(ID, "raw", exp, sig, now=NOW) is LinkCheck.INVALID
    assert signer.check("f" * 32, "file", exp, sig, now=NOW) is LinkCheck.INVALID
    assert signer.check(ID, "file", str(int(exp) + 1), sig, now=NOW) is LinkCheck.INVALID
    for bad_exp in (None, "", "-1", "1e9", "9" * 13):
        assert signer.check(ID, "file", bad_exp, sig, now=NOW) is LinkCheck.INVALID
    other = LinkSigner(b"x" * 32, "http://bridge:5080", timedelta(hours=1))
    assert other.check(ID, "file", exp, sig, now=NOW) is LinkCheck.INVALID
    with pytest.raises(ValueError):
        LinkSigner(b"short", "http://x", timedelta(hours=1))


def test_default_public_url() -> None:
    host = socket.gethostname()
    assert default_public_url(5080) == f"http://{host}:5080"
    assert default_public_url(5080, "0.0.0.0") == f"http://{host}:5080"
    assert default_public_url(5080, "::") == f"http://{host}:5080"
    # Bound to one address: reachable only there.
    assert default_public_url(5080, "127.0.0.1") == "http://127.0.0.1:5080"
    assert default_public_url(5080, "::1") == "http://[::1]:5080"
    assert default_public_url(5080, "bridge.lan") == "http://bridge.lan:5080"


async def test_links_use_the_public_url_or_the_bound_port(start_bridge) -> None:
    async with start_bridge() as b:
        assert b.bridge.signer is not None and b.bridge.http_port not in (None, 0)
        assert b.bridge.signer.base_url == f"http://127.0.0.1:{b.bridge.http_port}"
    # Behind a reverse proxy: links name the proxy; the signature covers id, variant, expiry.
    async with start_bridge(http={"public_url": "https://cams.example.com/dualcam/"}) as b:
        assert b.bridge.signer is not None
        url = b.bridge.signer.url(ID, "poster")
        assert url.startswith(f"https://cams.example.com/dualcam/media/{ID}/poster?exp=")
