"""Posters, thumbnails and browser MP4s: served when made, made on request, 503 while queued.

The server asks a ``DerivativeMaker`` for a missing poster or thumbnail. The one here is small
but real: it runs ffmpeg and records the result in the index, as the media workers do. The
bridge's own media workers (``camera/derivatives``, tested in tests/bridge/test_derivatives.py)
are stopped first and the rows are written straight into the index (no bus event), so the
stand-in is the only maker and nothing races the test.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import aiohttp
import pytest

from dualcam_bridge.events import MediaCompleted
from dualcam_bridge.simulator import media

from ..conftest import RunningBridge
from ..mqtt.helpers import Collector
from .conftest import add_record, upload

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")


class FfmpegDerivatives:
    """Makes a poster (a frame 1 s into a clip) or a thumbnail (160 px wide) with ffmpeg."""

    def __init__(self, b: RunningBridge, out_dir: Path | None = None) -> None:
        self.store = b.bridge.store
        self.out_dir = out_dir or self.store.data_dir / "derived"
        self.calls: list[tuple[str, str]] = []
        self.queued: set[str] = set()

    async def ensure(self, media: MediaCompleted, variant: str) -> Path | None:
        self.calls.append((media.id, variant))
        self.out_dir.mkdir(exist_ok=True)
        dst = self.out_dir / f"{media.path.stem}.{variant}.jpg"
        seek = ["-ss", "1"] if variant == "poster" else []
        proc = await asyncio.create_subprocess_exec(
            *["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *seek],
            *["-i", str(media.payload_path), "-frames:v", "1", "-vf", "scale=160:-2", str(dst)],
            stdin=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        if await proc.wait() != 0 or not dst.exists():
            return None  # a broken clip
        await self.store.in_worker(self.store.index.set_derivative, media.id, variant, dst)
        return dst

    def pending(self, media_id: str) -> bool:
        return media_id in self.queued


async def use_maker(b: RunningBridge, maker: FfmpegDerivatives | None) -> None:
    """``maker`` (None: none at all) instead of the bridge's media workers, which stop."""
    assert b.bridge.http is not None
    await b.bridge.derivatives.stop()
    b.bridge.http.derivatives = maker


async def stored_clip(b: RunningBridge, name: str = "clip") -> MediaCompleted:
    """A real clip (H.265 + its MP4) in data_dir, indexed without a bus event."""
    folder = b.data_dir / "media" / "test"
    folder.mkdir(parents=True, exist_ok=True)
    raw = folder / f"{name}.h265"
    raw.write_bytes(media.video("front", name))
    mp4 = await b.bridge.store.remuxer.to_mp4(raw, 25)
    assert mp4 is not None
    return await add_record(b, raw, kind="video", mp4_path=mp4, mp4_size=mp4.stat().st_size)


async def stored_photo(b: RunningBridge) -> MediaCompleted:
    folder = b.data_dir / "media" / "test"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "photo.jpg"
    path.write_bytes(media.photo("rear", "photo"))
    return await add_record(b, path, kind="photo")


async def fetch(client: aiohttp.ClientSession, url: str) -> tuple[int, bytes, dict[str, str]]:
    async with client.get(url) as resp:
        return resp.status, await resp.read(), dict(resp.headers)


async def test_poster_and_thumbnail_are_made_on_first_request(
    start_bridge, client: aiohttp.ClientSession
) -> None:
    async with start_bridge() as b:
        assert b.bridge.http is not None and b.bridge.signer is not None
        maker = FfmpegDerivatives(b)
        await use_maker(b, maker)
        clip, photo = await stored_clip(b), await stored_photo(b)
        signer = b.bridge.signer
        for rec, variant in ((clip, "poster"), (clip, "thumbnail"), (photo, "thumbnail")):
            url = signer.url(rec.id, variant)
            status, body, headers = await fetch(client, url)
            assert status == 200, variant
            assert body[:2] == b"\xff\xd8" and headers["Content-Type"] == "image/jpeg"
            name = f"{rec.path.stem}.{variant}.jpg"
            assert headers["Content-Disposition"] == f'inline; filename="{name}"'
            assert body == (b.data_dir / "derived" / name).read_bytes()
            # Made once: the index has it now, the next request is served from it.
            assert (await fetch(client, url))[1] == body
        assert maker.calls == [(clip.id, "poster"), (clip.id, "thumbnail"), (photo.id, "thumbnail")]


async def test_a_derivative_that_cannot_be_made_is_404(
    start_bridge, client: aiohttp.ClientSession, tmp_path: Path
) -> None:
    async with start_bridge() as b:
        assert b.bridge.http is not None and b.bridge.signer is not None
        signer = b.bridge.signer
        await use_maker(b, None)
        clip = await stored_clip(b)
        # No maker: missing means 404.
        assert (await fetch(client, signer.url(clip.id, "poster")))[0] == 404
        # A broken clip: ffmpeg fails, the maker answers None.
        broken_raw = clip.path.with_name("broken.h265")
        broken_raw.write_bytes(b"\x00" * 4096)
        broken_mp4 = broken_raw.with_suffix(".mp4")
        broken_mp4.write_bytes(b"\x00" * 4096)
        broken = await add_record(b, broken_raw, kind="video", mp4_path=broken_mp4)
        b.bridge.http.derivatives = FfmpegDerivatives(b)
        assert (await fetch(client, signer.url(broken.id, "poster")))[0] == 404
        # A maker that wrote outside data_dir is not trusted either.
        b.bridge.http.derivatives = FfmpegDerivatives(b, out_dir=tmp_path / "elsewhere")
        status, body, _ = await fetch(client, signer.url(clip.id, "poster"))
        assert status == 404 and not body.startswith(b"\xff\xd8")


async def test_browser_mp4_served_when_made_503_while_queued(
    start_bridge, client: aiohttp.ClientSession
) -> None:
    async with start_bridge() as b:
        assert b.bridge.http is not None and b.bridge.signer is not None
        signer = b.bridge.signer
        await use_maker(b, None)
        clip = await stored_clip(b)
        url = signer.url(clip.id, "browser")
        assert (await fetch(client, url))[0] == 404  # no maker: nothing is coming
        maker = FfmpegDerivatives(b)
        b.bridge.http.derivatives = maker
        assert (await fetch(client, url))[0] == 404  # a maker, but this clip is not queued
        maker.queued.add(clip.id)
        status, body, headers = await fetch(client, url)
        assert status == 503 and headers["Retry-After"] == "10"
        assert b"being made" in body
        # Made (a stand-in file: serving is what is tested here; test_browser does H.264).
        made = clip.path.with_name("clip.browser.mp4")
        shutil.copy(clip.payload_path, made)
        store = b.bridge.store
        await store.in_worker(store.index.set_derivative, clip.id, "browser", made, 1)
        maker.queued.clear()
        status, body, headers = await fetch(client, url)
        assert status == 200 and body == made.read_bytes()
        assert headers["Content-Type"] == "video/mp4"
        assert headers["Content-Disposition"] == 'inline; filename="clip.browser.mp4"'


async def test_media_event_links_the_poster_when_it_can_be_made(
    mosquitto, start_bridge, client: aiohttp.ClientSession
) -> None:
    mqtt = {"host": "127.0.0.1", "port": mosquitto.port, "client_id": "bridge-posters"}
    async with Collector(mosquitto.port, "dualcam/+/media") as sub, start_bridge(mqtt=mqtt) as b:
        assert b.bridge.http is not None
        b.bridge.http.derivatives = FfmpegDerivatives(b)
        await upload(b, photos=1, videos=1)
        await sub.wait_for(lambda ms: len(ms) >= 2, what="two media events")
        events = {e["kind"]: e for e in (json.loads(m.payload) for m in sub.messages)}
        assert events["photo"]["poster_url"] is None  # photos have a thumbnail only
        urls = [events["video"]["poster_url"], events["video"]["thumbnail_url"]]
        urls.append(events["photo"]["thumbnail_url"])
        for url in urls:
            status, body, headers = await fetch(client, url)
            assert status == 200 and body[:2] == b"\xff\xd8", url
            assert headers["Content-Type"] == "image/jpeg"
