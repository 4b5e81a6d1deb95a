"""The proxy view: Home Assistant streams the bridge's files on demand, ranges and all.

The bridge's HTTP service is media_server.py (aiohttp FileResponse on a real socket, the
bridge's link shape); the view is called over Home Assistant's real HTTP server.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import IMEI, fire
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from media_server import MediaServer, media_event
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import (
    ClientSessionGenerator,
    WebSocketGenerator,
)

from custom_components.dualcam.const import CONF_MEDIA_DIR, CONF_STORE_MEDIA, CONF_VEHICLES

# Larger than the view's chunks, so it is relayed in pieces.
CLIP = bytes(range(256)) * 1200
FFMPEG = shutil.which("ffmpeg")


@pytest.fixture
def entry_options(media_dir: Path) -> dict[str, Any]:
    """Only the proxy: no saved copies."""
    return {CONF_STORE_MEDIA: False, CONF_MEDIA_DIR: str(media_dir), CONF_VEHICLES: []}


@pytest.fixture
async def clip(hass: HomeAssistant, loaded: MockConfigEntry, media_server: MediaServer) -> str:
    """A clip the bridge announced; returns the view's base path for it."""
    media_server.add("c1", "file", CLIP, "video/mp4")
    fire(hass, f"{IMEI}/media", media_event(media_server, "c1", IMEI, data=CLIP))
    await hass.async_block_till_done()
    return f"/api/dualcam/bridge_media/{loaded.entry_id}/c1"


async def test_ranges_etag_and_head(
    hass: HomeAssistant,
    clip: str,
    media_server: MediaServer,
    hass_client: ClientSessionGenerator,
) -> None:
    """200 with the exact bytes, 206 + Content-Range, 416, 304 on the ETag, HEAD."""
    client = await hass_client()
    full = await client.get(f"{clip}/file")
    assert full.status == 200
    assert await full.read() == CLIP
    assert full.headers["Content-Type"] == "video/mp4"
    assert full.headers["Content-Length"] == str(len(CLIP))
    assert full.headers["Accept-Ranges"] == "bytes"
    etag = full.headers["ETag"]
    # Home Assistant's login never reaches the bridge.
    assert "Authorization" not in media_server.requests[-1]

    part = await client.get(f"{clip}/file", headers={"Range": "bytes=1000-70999"})
    assert part.status == 206
    assert part.headers["Content-Range"] == f"bytes 1000-70999/{len(CLIP)}"
    assert await part.read() == CLIP[1000:71000]
    assert media_server.requests[-1]["Range"] == "bytes=1000-70999"

    tail = await client.get(f"{clip}/file", headers={"Range": "bytes=-100"})
    assert tail.status == 206 and await tail.read() == CLIP[-100:]

    beyond = await client.get(f"{clip}/file", headers={"Range": f"bytes={len(CLIP)}-"})
    assert beyond.status == 416
    assert beyond.headers["Content-Range"] == f"bytes */{len(CLIP)}"

    cached = await client.get(f"{clip}/file", headers={"If-None-Match": etag})
    assert cached.status == 304 and await cached.read() == b""

    head = await client.head(f"{clip}/best")
    assert head.status == 200
    assert head.headers["Content-Length"] == str(len(CLIP))
    assert await head.read() == b""


async def test_errors(
    hass: HomeAssistant,
    clip: str,
    loaded: MockConfigEntry,
    media_server: MediaServer,
    hass_client: ClientSessionGenerator,
    hass_client_no_auth: ClientSessionGenerator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Login required; 404 for what is not there, 410 for an expired link, 502 for the rest."""
    assert (await (await hass_client_no_auth()).get(f"{clip}/file")).status == 401
    client = await hass_client()
    base = f"/api/dualcam/bridge_media/{loaded.entry_id}"
    for url in (
        f"{base}/nope/file",  # unknown id
        f"{clip}/poster",  # the bridge sent no poster link
        f"{clip}/raw",  # not a variant of the view
        f"{base}/c1%2F..%2Fx/file",  # not an id
        "/api/dualcam/bridge_media/other-entry/c1/file",
    ):
        assert (await client.get(url)).status in (400, 404), url

    # The bridge no longer has it.
    media_server.files.pop(("c1", "file"))
    assert (await client.get(f"{clip}/file")).status == 404
    assert "Cannot play video c1 of Van 1 from the bridge: the bridge no longer" in caplog.text

    # An expired link is not even tried; the log says why, once.
    media_server.add("x1", "file", CLIP, "video/mp4")
    fire(hass, f"{IMEI}/media", media_event(media_server, "x1", IMEI, data=CLIP, ttl=-10))
    # A tampered link (or a bridge with a new secret): the bridge says 403.
    media_server.add("t1", "file", CLIP, "video/mp4")
    tampered = media_event(media_server, "t1", IMEI, data=CLIP)
    fire(hass, f"{IMEI}/media", {**tampered, "url": tampered["url"][:-4] + "0000"})
    await hass.async_block_till_done()
    requests = len(media_server.requests)
    for _ in range(2):
        assert (await client.get(f"{base}/x1/file")).status == 410
    assert len(media_server.requests) == requests
    assert caplog.text.count("Cannot play video x1 of Van 1 from the bridge: its link expired") == 1
    assert (await client.get(f"{base}/t1/file")).status == 502
    assert "video t1 of Van 1 from the bridge: the bridge refused its link (403" in caplog.text

    # The bridge is down.
    await media_server.stop()
    assert (await client.get(f"{base}/t1/best")).status == 502
    assert (await client.get(f"{base}/t1/best")).status == 502
    assert caplog.text.count("video t1 of Van 1 from the bridge: the bridge is unreachable") == 1


@pytest.fixture(scope="session")
def h264_clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real H.264 MP4 (yuv420p, +faststart), as the bridge's browser variant is made."""
    if FFMPEG is None:
        pytest.skip("ffmpeg is not installed (scripts/test-ha installs it in the chroot)")
    out = tmp_path_factory.mktemp("h264") / "clip.mp4"
    subprocess.run(
        [FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10",
         "-t", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart",
         str(out)],
        check=True,
    )  # fmt: skip
    return out.read_bytes()


async def test_browser_clip_plays_through_the_view(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    media_server: MediaServer,
    h264_clip: bytes,
    hass_ws_client: WebSocketGenerator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """The media browser's player: resolve (signed URL), then range requests as a <video> does.

    The H.264 MP4 comes back byte for byte, assembled from ranges.
    """
    assert await async_setup_component(hass, "media_source", {})
    media_server.add("c1", "file", b"hevc original", "video/mp4")
    media_server.add("c1", "browser", h264_clip, "video/mp4")
    fire(hass, f"{IMEI}/media", media_event(media_server, "c1", IMEI, data=b"hevc original"))
    fire(hass, f"{IMEI}/media", media_event(media_server, "c1", IMEI, variant="browser"))
    await hass.async_block_till_done()

    ws = await hass_ws_client(hass)
    item = loaded.runtime_data.media_index.get("c1")
    content_id = f"media-source://dualcam/{loaded.entry_id}/{IMEI}/{item.day}/c1"
    await ws.send_json(
        {"id": 1, "type": "media_source/resolve_media", "media_content_id": content_id}
    )
    answer = await ws.receive_json()
    assert answer["success"], answer
    url, mime = answer["result"]["url"], answer["result"]["mime_type"]
    assert mime == "video/mp4"
    assert url.startswith(f"/api/dualcam/bridge_media/{loaded.entry_id}/c1/browser?authSig=")

    # The signed URL works without a login, as the frontend's <video> fetches it.
    player = await hass_client_no_auth()
    size = len(h264_clip)
    pieces = []
    for start in range(0, size, 4096):
        end = min(start + 4095, size - 1)
        answer_part = await player.get(url, headers={"Range": f"bytes={start}-{end}"})
        assert answer_part.status == 206
        assert answer_part.headers["Content-Range"] == f"bytes {start}-{end}/{size}"
        pieces.append(await answer_part.read())
    played = b"".join(pieces)
    assert played == h264_clip
    # An H.264 MP4 with its index up front (faststart): what every browser decodes.
    assert played.find(b"moov") < played.find(b"mdat") and b"avc1" in played[:8192]
