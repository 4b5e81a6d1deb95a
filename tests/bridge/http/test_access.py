"""Who gets a file: a signed link for that id and variant, or the bearer token; nothing else.

And no request reaches a path: ``..`` (plain or encoded), absolute paths, a link signed for
another id, an index row pointing outside ``data_dir``, a file in ``media/`` the index does
not know. Requests are sent raw where a client library would normalise the path.
"""

from __future__ import annotations

import logging
import shutil
from datetime import timedelta

import aiohttp
import pytest

from dualcam_bridge.clock import now_utc

from .conftest import add_record, base_url, raw_request, upload

TOKEN = "a-token-of-at-least-16-characters"


async def status_of(client: aiohttp.ClientSession, url: str, **headers: str) -> tuple[int, bytes]:
    async with client.get(url, headers=headers) as resp:
        return resp.status, await resp.read()


async def test_links_are_checked_before_anything_else(
    start_bridge, client: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "dualcam_bridge.http")
    caplog.set_level(logging.DEBUG, "aiohttp.access")
    async with start_bridge() as b:
        stored = await upload(b, photos=1, videos=1)
        photo = next(r for r in stored if r.kind == "photo")
        clip = next(r for r in stored if r.kind == "video")
        signer = b.bridge.signer
        assert signer is not None
        good = signer.url(photo.id, "file")
        assert (await status_of(client, good))[0] == 200

        # No credentials: 401 with the challenge, whether or not the id exists (no probing).
        for media_id in (photo.id, "0" * 32):
            async with client.get(f"{base_url(b)}/media/{media_id}/file") as resp:
                assert resp.status == 401
                assert resp.headers["WWW-Authenticate"] == "Bearer"
                assert await resp.read() != photo.path.read_bytes()[: resp.content_length or 0]

        path, query = good.split("?")
        exp, sig = (part.split("=")[1] for part in query.split("&"))
        flipped = sig[:10] + ("0" if sig[10] != "0" else "1") + sig[11:]
        expired = signer.url(photo.id, "file", now=now_utc() - signer.ttl - timedelta(seconds=5))
        refused = {
            "tampered signature": f"{path}?exp={exp}&sig={flipped}",
            "later expiry, same signature": f"{path}?exp={int(exp) + 3600}&sig={sig}",
            "signature only": f"{path}?sig={sig}",
            "expiry only": f"{path}?exp={exp}",
            "short signature": f"{path}?exp={exp}&sig={sig[:32]}",
            "expired": expired,
            "link of another id": good.replace(photo.id, clip.id),
            "link of another variant": signer.url(photo.id, "raw").replace("/raw?", "/file?"),
            "link of the clip, on the photo": signer.url(clip.id, "file").replace(
                clip.id, photo.id
            ),
        }
        for what, url in refused.items():
            status, body = await status_of(client, url)
            assert status == 403, what
            assert not body.startswith(b"\xff\xd8"), what
        assert (await status_of(client, expired))[1] == b"the link has expired\n"
        # Refusals are logged with the client, never with the signature.
        lines = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
        assert lines and all("127.0.0.1" in line and sig not in line for line in lines)
        # Nor does the access log hold a link (its query is left out).
        access = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
        assert any(f"GET /media/{photo.id}/file -> 200" in line for line in access)
        assert not any("sig=" in line or "exp=" in line for line in access)

        # A link we signed for an id the index does not hold: 404, after the check.
        assert (await status_of(client, signer.url("f" * 32, "file")))[0] == 404


async def test_bearer_token(start_bridge, client: aiohttp.ClientSession) -> None:
    async with start_bridge(http={"token": TOKEN}) as b:
        (photo,) = await upload(b, photos=1, videos=0)
        url = f"{base_url(b)}/media/{photo.id}/file"
        status, body = await status_of(client, url, Authorization=f"Bearer {TOKEN}")
        assert status == 200 and body == photo.path.read_bytes()
        assert (await status_of(client, url, Authorization=f"bearer  {TOKEN} "))[0] == 200
        assert (await status_of(client, url, Authorization=f"Bearer {TOKEN}x"))[0] == 403
        assert (await status_of(client, url, Authorization=f"Bearer {TOKEN[:-1]}"))[0] == 403
        assert (await status_of(client, url, Authorization="Basic dXNlcjpwYXNz"))[0] == 401
        assert (await status_of(client, url, Authorization="Bearer"))[0] == 401
        # Either credential is enough: a good token with a bad link, a good link with no token.
        assert b.bridge.signer is not None
        link = b.bridge.signer.url(photo.id, "file")
        assert (await status_of(client, link + "0", Authorization=f"Bearer {TOKEN}"))[0] == 200
        assert (await status_of(client, link))[0] == 200
        # Unknown ids are 404 for the token holder.
        unknown = url.replace(photo.id, "e" * 32)
        assert (await status_of(client, unknown, Authorization=f"Bearer {TOKEN}"))[0] == 404


async def test_a_bearer_token_without_one_configured_is_refused(
    start_bridge, client: aiohttp.ClientSession
) -> None:
    async with start_bridge() as b:
        (photo,) = await upload(b, photos=1, videos=0)
        url = f"{base_url(b)}/media/{photo.id}/file"
        assert (await status_of(client, url, Authorization=f"Bearer {TOKEN}"))[0] == 403


async def test_no_path_outside_the_index_can_be_reached(
    start_bridge, client: aiohttp.ClientSession, tmp_path
) -> None:
    secret = b"root:x:0:0:secret outside the data dir\n"
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(secret)
    async with start_bridge() as b:
        (photo,) = await upload(b, photos=1, videos=0)
        signer = b.bridge.signer
        port = b.bridge.http_port
        assert signer is not None and port is not None
        data_dir = b.data_dir
        # A file inside media/ that the index does not know.
        stray = photo.path.with_name("stray.jpg")
        shutil.copy(outside, stray)
        query = signer.path(photo.id, "file").split("?")[1]
        index_head = (data_dir / "index.sqlite3").read_bytes()[:16]
        assert index_head == b"SQLite format 3\x00"
        targets = [
            f"/media/{photo.id}/../../index.sqlite3",
            f"/media/{photo.id}/file/../../../index.sqlite3?{query}",
            f"/media/{photo.id}/../../../../{outside}",
            "/media/%2e%2e/%2e%2e/index.sqlite3",
            f"/media/{photo.id}/%2e%2e%2f%2e%2e%2findex.sqlite3?{query}",
            f"/media/{photo.id}%2f..%2f..%2findex.sqlite3/file?{query}",
            f"/media/..%2f..%2f{photo.id}/file?{query}",
            f"/media/{photo.id}/file%00.jpg?{query}",
            f"/media/{photo.id.upper()}/file?{query}",  # ids are lowercase hex only
            f"/media/{photo.id}0/file?{query}",
            f"/media//{outside}",
            f"/media/{outside}/file",
            f"/media{outside}",
            str(outside),
            f"/{stray.relative_to(data_dir)}",
            f"/media/{stray.relative_to(data_dir / 'media')}",
            "/../../../etc/passwd",
            "/etc/passwd",
            f"http://127.0.0.1{outside}",
            "/index.sqlite3",
        ]
        for target in targets:
            status, body = await raw_request(port, target)
            assert status == 404, target
            assert secret not in body and index_head not in body, target

        # An index row that points outside data_dir (a damaged or hand-edited index), with a
        # valid link: still nothing.
        for path in (outside, data_dir / "media" / ".." / ".." / outside.name):
            rec = await add_record(b, path, kind="photo")
            status, body = await status_of(client, signer.url(rec.id, "file"))
            assert status == 404 and secret not in body, path
        # The same row kind inside data_dir is served: the check above is what refused them.
        inside = await add_record(b, stray, kind="photo")
        status, body = await status_of(client, signer.url(inside.id, "file"))
        assert status == 200 and body == secret
