"""ffmpeg/ffprobe command lines for the media workers, how their processes run, and how
their output files are named (beside the original) and made durable.

Every process runs at the lowest CPU priority (nice 19: started through coreutils' ``nice``,
so not one instruction of ffmpeg runs higher; without it, set on the pid right after spawn)
and, where util-linux's ``ionice`` exists, in the idle I/O class: a transcode never slows a
transfer or the MQTT link. A process that outlives its
timeout, or whose caller is cancelled (the bridge stopping), is killed and waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

DEFAULT_FRAMERATE = 25
THUMBNAIL_WIDTH = 320
POSTER_AT_S = 1.0  # a frame this far in: past a possibly black or half-built first frame
_STDERR_TAIL = 300  # characters of ffmpeg's complaint kept for the log line

# Each execs the next: nice 19, then the idle I/O class (``-t``: run the command even where
# the class cannot be set), then the tool; one pid throughout.
_NICE, _IONICE = shutil.which("nice"), shutil.which("ionice")
_LOW_PRIORITY = [
    *([_NICE, "-n", "19"] if _NICE else []),
    *([_IONICE, "-t", "-c3"] if _IONICE else []),
]


@dataclass(frozen=True, slots=True)
class ToolResult:
    """How one ffmpeg/ffprobe run ended."""

    ok: bool
    seconds: float
    stdout: bytes = b""
    error: str = ""  # a one-line summary of why not ok (stderr's tail, or the timeout)
    timed_out: bool = False


def find_ffprobe(ffmpeg: str | None) -> str | None:
    """ffprobe beside the configured ffmpeg (a path), else the one on PATH."""
    if ffmpeg and os.sep in ffmpeg:
        sibling = Path(ffmpeg).with_name("ffprobe")
        if sibling.is_file() and os.access(sibling, os.X_OK):
            return str(sibling)
    return shutil.which("ffprobe")


async def run_tool(args: list[str], timeout: float) -> ToolResult:
    """Run ``args`` at nice 19 / idle I/O; kills it on timeout or cancellation."""
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *_LOW_PRIORITY,
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    if _NICE is None:
        with contextlib.suppress(OSError):  # it may have exited already
            os.setpriority(os.PRIO_PROCESS, proc.pid, 19)
    try:
        async with asyncio.timeout(timeout):
            out, err = await proc.communicate()
    except TimeoutError:
        await _kill(proc)
        seconds = time.monotonic() - started
        return ToolResult(False, seconds, error=f"timed out after {timeout:g} s", timed_out=True)
    except BaseException:  # cancelled: the bridge stops; no orphan keeps the CPU
        await asyncio.shield(_kill(proc))
        raise
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        return ToolResult(False, seconds, out, _summary(err) or f"exit status {proc.returncode}")
    return ToolResult(True, seconds, out)


async def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    await proc.wait()


def _summary(stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines()]
    text = " / ".join(line for line in lines if line)
    return text if len(text) <= _STDERR_TAIL else "…" + text[-_STDERR_TAIL:]


# -- command lines ---------------------------------------------------------------------------


def _base(ffmpeg: str) -> list[str]:
    return [ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]


def clip_input(src: Path, framerate: int | None) -> list[str]:
    """Input options of a stored clip: its MP4, or the camera's raw H.265 (Annex B)."""
    if src.suffix == ".mp4":
        return ["-i", str(src)]
    fps = framerate if framerate and 1 <= framerate <= 120 else DEFAULT_FRAMERATE
    return ["-f", "hevc", "-framerate", str(fps), "-i", str(src)]


def poster_args(ffmpeg: str, clip: list[str], at: float, dst: Path) -> list[str]:
    """One JPEG frame ``at`` seconds in (decoded up to there: raw streams cannot seek)."""
    return [
        *_base(ffmpeg),
        *clip,
        "-ss",
        f"{at:.3f}",
        "-map",
        "0:v:0",
        "-frames:v",
        "1",
        "-q:v",
        "3",
        "-f",
        "image2",
        "-update",
        "1",
        str(dst),
    ]


def thumbnail_args(ffmpeg: str, jpeg: Path, dst: Path) -> list[str]:
    """A JPEG ``THUMBNAIL_WIDTH`` wide (never enlarged; even height for any decoder)."""
    return [
        *_base(ffmpeg),
        "-i",
        str(jpeg),
        "-vf",
        f"scale='min({THUMBNAIL_WIDTH},iw)':-2",
        "-frames:v",
        "1",
        "-q:v",
        "5",
        "-f",
        "image2",
        "-update",
        "1",
        str(dst),
    ]


def browser_args(ffmpeg: str, clip: list[str], dst: Path) -> list[str]:
    """The H.264 MP4 every browser plays: yuv420p, ``moov`` first, no audio."""
    return [
        *_base(ffmpeg),
        *clip,
        "-map",
        "0:v:0",
        "-an",
        "-sn",
        "-dn",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "23",
        "-pix_fmt",
        "yuv420p",
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
        str(dst),
    ]


def duration_args(ffprobe: str, src: Path) -> list[str]:
    """The container's duration in seconds, alone on stdout."""
    return [
        ffprobe,
        "-v",
        "error",
        "-show_entries",
        "format=duration",
        "-of",
        "default=noprint_wrappers=1:nokey=1",
        str(src),
    ]


def parse_duration(stdout: bytes) -> float | None:
    """ffprobe's ``format=duration`` as seconds with one decimal; None when it has none."""
    try:
        seconds = float(stdout.decode(errors="replace").strip().splitlines()[0])
    except (ValueError, IndexError):
        return None
    return round(seconds, 1) if math.isfinite(seconds) and seconds > 0 else None


# -- output files ----------------------------------------------------------------------------

Variant = Literal["poster", "thumbnail", "browser"]
SUFFIXES: dict[Variant, str] = {
    "poster": ".poster.jpg",
    "thumbnail": ".thumb.jpg",
    "browser": ".browser.mp4",
}
TEMP_SUFFIX = ".tmp"


def derivative_path(original: Path, variant: Variant) -> Path:
    """Where a stored file's derivative lives: beside it, ``<stem><suffix>``."""
    return original.with_name(original.stem + SUFFIXES[variant])


def derivative_files(original: Path) -> list[Path]:
    """Every name a derivative of ``original`` may have (temps included), for deletion."""
    finals = [derivative_path(original, variant) for variant in SUFFIXES]
    return [*finals, *map(temp_path, finals)]


def temp_path(final: Path) -> Path:
    """Where ffmpeg writes before the rename: never a name a reader takes for done."""
    return final.with_name(final.name + TEMP_SUFFIX)


def has_bytes(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except OSError:
        return False
