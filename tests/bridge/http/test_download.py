"""A photo and a clip uploaded over the camera protocol, fetched by the URL in their media event.

Real parts only: the simulated DualCam speaks the protocol to the bridge, the bridge publishes
to mosquitto, a subscriber reads the media events, and an aiohttp client downloads each file
from the event's ``url`` over TCP. Then every HTTP feature a player relies on, for real:
HEAD, byte ranges (206, suffix, open end, 416), ETag (304), the headers.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import aiohttp

from ..mqtt.helpers import Collector
from .conftest import base_url, upload


def mqtt_section(broker) -> dict:
    return {"host": "127.0.0.1", "port": broker.port, "client_id": f"bridge-{broker.port}"}


async def test_files_download_from_the_url_in_their_media_event(
    mosquitto, start_bridge, client: aiohttp.ClientSession
) -> None:
    async with (
        Collector(mosquitto.port, "dualcam/+/media") as sub,
        start_bridge(mqtt=mqtt_section(mosquitto)) as b,
    ):
        stored = await upload(b, photos=1, videos=1)
        await sub.wait_for(lambda ms: len(ms) >= 2, what="two media events")
        events = [json.loads(m.payload) for m in sub.messages]
        assert {e["kind"] for e in events} == {"photo", "video"}
        for event in events:
            rec = next(r for r in stored if r.id == event["id"])
            url = event["url"]
            assert url.startswith(base_url(b) + f"/media/{rec.id}/file?exp=")
            assert event["browser_url"] is None  # the H.264 MP4 is not made yet
            on_disk = Path(event["path"]).read_bytes()
            async with client.get(url) as resp:
                body = await resp.read()
                assert resp.status == 200
                headers = resp.headers
            # Byte-identical to the stored file the event describes.
            assert body == on_disk and hashlib.sha256(body).hexdigest() == event["sha256"]
            assert rec.payload_path == Path(event["path"])
            assert headers["Content-Type"] == event["mime"]
            assert event["mime"] == ("image/jpeg" if rec.kind == "photo" else "video/mp4")
            assert int(headers["Content-Length"]) == event["size"] == len(body)
            assert headers["Accept-Ranges"] == "bytes"
            assert headers["ETag"].startswith('"')
            name = Path(event["path"]).name
            assert headers["Content-Disposition"] == f'inline; filename="{name}"'
            directive, max_age = headers["Cache-Control"].split(", ")
            assert directive == "private" and 0 < int(max_age.removeprefix("max-age=")) <= 86400

            async with client.head(url) as resp:
                assert resp.status == 200
                assert await resp.read() == b""
                assert int(resp.headers["Content-Length"]) == len(on_disk)
                assert resp.headers["ETag"] == headers["ETag"]
                assert resp.headers["Content-Type"] == event["mime"]


async def test_byte_ranges_and_etags(start_bridge, client: aiohttp.ClientSession) -> None:
    async with start_bridge() as b:
        (clip,) = await upload(b, photos=0, videos=1)
        assert b.bridge.signer is not None
        url = b.bridge.signer.url(clip.id, "file")
        data = clip.payload_path.read_bytes()
        n = len(data)
        assert n > 4000

        async def get(**headers: str) -> tuple[int, bytes, aiohttp.typedefs.LooseHeaders]:
            async with client.get(url, headers=headers) as resp:
                return resp.status, await resp.read(), resp.headers

        for rng, start, end in [
            ("bytes=0-99", 0, 99),  # the head of an MP4 a player reads first
            ("bytes=1000-1999", 1000, 1999),
            (f"bytes={n - 300}-", n - 300, n - 1),  # open end
            ("bytes=-500", n - 500, n - 1),  # suffix: the last 500 bytes
            (f"bytes=10-{n + 5000}", 10, n - 1),  # an end past the file is cut to it
        ]:
            status, body, headers = await get(Range=rng)
            assert status == 206, rng
            assert body == data[start : end + 1], rng
            assert headers["Content-Range"] == f"bytes {start}-{end}/{n}"
            assert int(headers["Content-Length"]) == end - start + 1

        for rng in (f"bytes={n}-", f"bytes={n + 10}-{n + 20}", "bytes=50-10"):
            status, body, headers = await get(Range=rng)
            assert status == 416, rng
            assert headers["Content-Range"] == f"bytes */{n}"
            assert not body.startswith(data[:16])

        status, body, headers = await get()
        etag = headers["ETag"]
        status, body, headers = await get(**{"If-None-Match": etag})
        assert status == 304 and body == b""
        assert headers["ETag"] == etag and "private" in headers["Cache-Control"]
        status, body, _ = await get(**{"If-None-Match": '"something-else"'})
        assert status == 200 and body == data
        # A range with a validator the file still has: 206.
        status, body, _ = await get(Range="bytes=0-9", **{"If-Range": headers["Last-Modified"]})
        assert status == 206 and body == data[:10]


async def test_raw_variant_and_what_a_photo_lacks(
    start_bridge, client: aiohttp.ClientSession
) -> None:
    """``raw`` is the clip's H.265 stream; a photo has no stream, poster or browser MP4 (404).
    (Posters, thumbnails and browser MP4s: test_derivatives.py.)"""
    async with start_bridge() as b:
        stored = await upload(b, photos=1, videos=1)
        photo = next(r for r in stored if r.kind == "photo")
        clip = next(r for r in stored if r.kind == "video")
        signer = b.bridge.signer
        assert signer is not None and clip.mp4_path is not None

        async with client.get(signer.url(clip.id, "raw")) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"] == "video/hevc"
            assert await resp.read() == clip.path.read_bytes()
            assert resp.headers["Content-Disposition"] == f'inline; filename="{clip.path.name}"'
        for variant in ("raw", "poster", "browser"):
            async with client.get(signer.url(photo.id, variant)) as resp:
                assert resp.status == 404, variant
                assert "no " + variant in await resp.text()
