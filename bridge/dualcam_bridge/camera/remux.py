"""Remux the camera's raw H.265 stream into an MP4 (HEVC, ``hvc1``; no re-encode).

The MP4 is the same stream in a container players can seek; few browsers decode HEVC, so
the media workers (:mod:`.derivatives`) also make an H.264 copy for them.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

from .durable import publish_file
from .ffmpeg_jobs import duration_args, find_ffprobe, parse_duration, run_tool

log = logging.getLogger(__name__)

DEFAULT_FRAMERATE = 25
PROBE_TIMEOUT_S = 30.0


class Remuxer:
    """Runs ffmpeg ``-c copy`` (no re-encode); warns once when ffmpeg is missing."""

    def __init__(self, ffmpeg: str = "ffmpeg", enabled: bool = True, timeout: float = 120) -> None:
        self.enabled = enabled
        self.binary = shutil.which(ffmpeg) if enabled else None
        self.timeout = timeout
        self._warned = not enabled  # switched off on purpose: nothing to warn about
        self.ffprobe = find_ffprobe(self.binary) if self.binary else None

    @property
    def available(self) -> bool:
        return self.binary is not None

    async def to_mp4(self, src: Path, framerate: int | None) -> Path | None:
        """Write ``src`` with an ``.mp4`` suffix beside it; None when that is not possible."""
        if self.binary is None:
            if not self._warned:
                log.warning("ffmpeg not found on PATH: videos are kept as raw H.265 only")
                self._warned = True
            return None
        fps = framerate if framerate and 1 <= framerate <= 120 else DEFAULT_FRAMERATE
        dst = src.with_suffix(".mp4")
        tmp = dst.with_name(dst.stem + ".tmp.mp4")
        args = [
            self.binary,
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "hevc",
            "-framerate",
            str(fps),
            "-i",
            str(src),
            "-c",
            "copy",
            "-tag:v",
            "hvc1",
            "-movflags",
            "+faststart",
            str(tmp),
        ]
        proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            _, err = await asyncio.wait_for(proc.communicate(), self.timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            log.warning("ffmpeg timed out remuxing %s", src)
            tmp.unlink(missing_ok=True)
            return None
        if proc.returncode != 0 or not tmp.exists() or tmp.stat().st_size == 0:
            log.warning("ffmpeg could not remux %s: %s", src, err.decode(errors="replace").strip())
            tmp.unlink(missing_ok=True)
            return None
        try:  # off the loop: fsyncing megabytes takes a while
            await asyncio.to_thread(publish_file, tmp, dst)
        except OSError as exc:
            log.warning("cannot keep the MP4 of %s: %s", src, exc)
            tmp.unlink(missing_ok=True)
            return None
        return dst

    async def probe_duration(self, mp4: Path) -> float | None:
        """The clip's length from its stream (ffprobe), one decimal; None when unknown."""
        if self.ffprobe is None:
            return None
        try:
            result = await run_tool(duration_args(self.ffprobe, mp4), PROBE_TIMEOUT_S)
        except OSError as exc:  # cannot even start it (gone, no processes left)
            log.info("cannot run ffprobe on %s: %s", mp4.name, exc)
            return None
        if not result.ok:
            log.info("ffprobe could not read the length of %s: %s", mp4.name, result.error)
            return None
        return parse_duration(result.stdout)
