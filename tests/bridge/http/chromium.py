"""A real Chromium (Debian's ``chromium``, driven by Playwright) that tries to play a video.

``playback(url)`` opens a blank page, points a ``<video>`` at ``url`` and reports what the
browser did: whether it could decode the stream (``readyState`` ≥ 2, ``videoWidth`` > 0),
whether ``currentTime`` advanced while playing, or which ``MediaError`` it raised. Tests skip
when Chromium or Playwright is not installed (``.ci/run`` installs both).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# Resolves with what the element reached: decoded enough to play (and played a little), or
# an error, or nothing within the time limit.
_PLAY = """async ([src, limitMs]) => {
  const v = document.createElement('video');
  v.muted = true;
  v.playsInline = true;
  v.preload = 'auto';
  document.body.appendChild(v);
  const outcome = await new Promise((resolve) => {
    v.addEventListener('error', () => resolve({error: v.error ? v.error.code : -1}));
    v.addEventListener('canplay', () => resolve({canplay: true}));
    setTimeout(() => resolve({timeout: true}), limitMs);
    v.src = src;
  });
  let started = v.currentTime;
  if (outcome.canplay) {
    started = v.currentTime;
    await v.play();
    const until = performance.now() + limitMs;
    while (v.currentTime <= started + 0.2 && performance.now() < until && !v.ended) {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    ...outcome,
    readyState: v.readyState,
    videoWidth: v.videoWidth,
    videoHeight: v.videoHeight,
    started: started,
    currentTime: v.currentTime,
    duration: Number.isFinite(v.duration) ? v.duration : null,
  };
}"""


@dataclass(frozen=True)
class Playback:
    """What Chromium made of one video URL."""

    ready_state: int
    video_width: int
    video_height: int
    advanced_s: float  # how far currentTime moved while playing
    error: int | None  # MediaError code (4 = MEDIA_ERR_SRC_NOT_SUPPORTED)
    duration: float | None

    @property
    def plays(self) -> bool:
        return (
            self.error is None
            and self.ready_state >= 2
            and self.video_width > 0
            and self.advanced_s > 0.1
        )


def require_chromium() -> Any:
    """The Playwright module, or skip the test (no Chromium / no Playwright here)."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return pytest.importorskip("playwright.async_api")


async def playback(urls: list[str], limit_s: float = 10.0) -> list[Playback]:
    """Try each URL in a fresh page of one headless Chromium."""
    pw = require_chromium()
    results: list[Playback] = []
    async with pw.async_playwright() as p:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            for url in urls:
                page = await browser.new_page()
                await page.set_content("<!doctype html><title>clip</title><body></body>")
                raw = await page.evaluate(_PLAY, [url, int(limit_s * 1000)])
                await page.close()
                results.append(
                    Playback(
                        ready_state=raw["readyState"],
                        video_width=raw["videoWidth"],
                        video_height=raw["videoHeight"],
                        advanced_s=raw["currentTime"] - raw["started"],
                        error=raw.get("error"),
                        duration=raw["duration"],
                    )
                )
        finally:
            await browser.close()
    return results
