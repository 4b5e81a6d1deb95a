"""A crash clip received over the real protocol plays in a real Chromium from its browser_url.

The simulated DualCam uploads an H.265 clip; the bridge stores it, publishes its media event
to mosquitto, makes the H.264 MP4 and publishes the second event with ``browser_url``. A
headless Chromium (Debian's, driven by Playwright) then loads each link into a ``<video>``:
the H.264 one must decode and play (``readyState`` ≥ 2, ``videoWidth`` > 0, ``currentTime``
advancing), and the HEVC original must not — the reason the browser variant exists, and the
proof that the test tells the two apart.
"""

from __future__ import annotations

import json

from ..mqtt.helpers import Collector
from .chromium import playback, require_chromium
from .conftest import upload


async def test_the_browser_variant_plays_in_chromium_and_the_hevc_original_does_not(
    mosquitto, start_bridge
) -> None:
    require_chromium()
    mqtt = {"host": "127.0.0.1", "port": mosquitto.port, "client_id": f"b-{mosquitto.port}"}
    async with (
        Collector(mosquitto.port, "dualcam/+/media") as sub,
        start_bridge(mqtt=mqtt) as b,
    ):
        (clip,) = await upload(b, photos=0, videos=1)
        await sub.wait_for(
            lambda ms: len(ms) >= 2, what="the original and browser events", timeout=60
        )
        events = {e["variant"]: e for e in (json.loads(m.payload) for m in sub.messages)}
        original, browser = events["original"], events["browser"]
        assert original["id"] == browser["id"] == clip.id
        assert original["mime"] == "video/mp4"  # the HEVC remux

        h264, hevc = await playback([browser["browser_url"], original["url"]])

    assert h264.plays, h264
    assert (h264.video_width, h264.video_height) == (1280, 720)
    assert h264.duration is not None and abs(h264.duration - original["duration_s"]) < 0.5
    assert not hevc.plays and hevc.error == 4, hevc  # MEDIA_ERR_SRC_NOT_SUPPORTED
