"""The media workers on real files with real ffmpeg: posters, thumbnails, browser MP4s.

Clips are the simulator's samples (720p H.265), stored by a real bridge from a real upload or
indexed directly in a real store; every output is checked with ffprobe and decoded by ffmpeg.
The workers' processes are observed in /proc while they run.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from dualcam_bridge.camera.derivatives import MediaDerivatives
from dualcam_bridge.camera.ffmpeg_jobs import derivative_files, derivative_path
from dualcam_bridge.camera.retention import apply_retention
from dualcam_bridge.camera.store import MediaStore
from dualcam_bridge.clock import now_utc
from dualcam_bridge.events import DomainEvent, MediaCompleted, MediaVariantReady
from dualcam_bridge.simulator import media
from dualcam_bridge.simulator.camera import SimFile, SimulatedCamera, make_captures

from .conftest import is_derivative, no_tracebacks, sha256

pytestmark = pytest.mark.skipif(
    not (shutil.which("ffmpeg") and shutil.which("ffprobe")), reason="ffmpeg is not installed"
)

IMEI = "352094082736950"
_names = itertools.count()


# -- observing -------------------------------------------------------------------------------


def probe(path: Path) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def jpeg_size(path: Path) -> tuple[int, int]:
    (stream,) = probe(path)["streams"]
    assert stream["codec_name"] == "mjpeg", stream["codec_name"]
    assert path.read_bytes()[:2] == b"\xff\xd8"
    return stream["width"], stream["height"]


def top_level_boxes(path: Path) -> list[str]:
    data, boxes, pos = path.read_bytes(), [], 0
    while pos + 8 <= len(data):
        size, kind = int.from_bytes(data[pos : pos + 4], "big"), data[pos + 4 : pos + 8]
        if size == 1:
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
        boxes.append(kind.decode("latin-1"))
        assert size >= 8
        pos += size
    return boxes


def decodes(path: Path) -> bool:
    res = subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
    )
    return res.returncode == 0 and not res.stderr.strip()


class Steps:
    """The ``on_job`` hook: (step, seconds, monotonic end) of every ffmpeg/ffprobe run."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float, float]] = []
        self.changed = asyncio.Event()

    def __call__(self, step: str, seconds: float) -> None:
        self.calls.append((step, seconds, time.monotonic()))
        self.changed.set()

    def count(self, step: str) -> int:
        return sum(call[0] == step for call in self.calls)

    async def wait(self, step: str, n: int, timeout: float = 60) -> None:
        async with asyncio.timeout(timeout):
            while self.count(step) < n:
                self.changed.clear()
                await self.changed.wait()

    def max_overlap(self) -> int:
        edges = sorted(
            [(end - seconds, 1) for _, seconds, end in self.calls]
            + [(end, -1) for _, _, end in self.calls]
        )  # an end sorts before a start at the same instant
        running = peak = 0
        for _, delta in edges:
            running += delta
            peak = max(peak, running)
        return peak


def processing_counts(metrics: str) -> dict[str, int]:
    """Steps timed in ``dualcam_media_processing_seconds``, and how often."""
    found = re.findall(
        r'^dualcam_media_processing_seconds_count\{step="(\w+)"\} (\S+)$', metrics, re.M
    )
    return {step: int(float(n)) for step, n in found}


def children() -> dict[int, tuple[str, int, str]]:
    """This process's children: pid -> (comm, nice, command line)."""
    out = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            pids = (task / "children").read_text().split()
        except OSError:
            continue
        for pid in map(int, pids):
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            comm = stat[stat.index("(") + 1 : stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2 :].split()
            out[pid] = (comm, int(fields[16]), cmdline.decode(errors="replace"))
    return out


class ChildWatch:
    """Samples the ffmpeg children while the workers run: how many at once, their nice."""

    def __init__(self) -> None:
        self.peak = 0
        self.seen: dict[int, tuple[str, int, str]] = {}
        self.io_class: dict[int, str] = {}
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            running = {
                pid: c
                for pid, c in children().items()
                if c[0] in ("ffmpeg", "ffprobe", "nice", "ionice")
            }
            self.peak = max(self.peak, len(running))
            for pid, child in running.items():
                if child[0] == "ffmpeg" and pid not in self.io_class:
                    res = subprocess.run(["ionice", "-p", str(pid)], capture_output=True, text=True)
                    if res.returncode == 0:
                        self.io_class[pid] = res.stdout.strip()
                self.seen.setdefault(pid, child)
            await asyncio.sleep(0.005)

    async def __aenter__(self) -> ChildWatch:
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self._task


# -- a store with real files -----------------------------------------------------------------


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[MediaStore]:
    s = MediaStore(tmp_path / "data")
    yield s
    s.close()


class Sink:
    def __init__(self) -> None:
        self.events: list[DomainEvent] = []

    async def __call__(self, event: DomainEvent) -> None:
        self.events.append(event)


async def add(
    store: MediaStore, kind: str, data: bytes, duration: float | None = 2.0
) -> MediaCompleted:
    """A file stored and indexed as the store would (the raw clip, no MP4)."""
    n = next(_names)
    folder = store.media_dir / IMEI / "2026-01-01"
    folder.mkdir(parents=True, exist_ok=True)
    ext = "jpg" if kind == "photo" else "h265"
    path = folder / f"{IMEI}_front_{kind}_20260101T0000{n:02d}Z.{ext}"
    path.write_bytes(data)
    rec = MediaCompleted(
        id=uuid.uuid4().hex,
        imei=IMEI,
        camera="front",
        kind=kind,  # type: ignore[arg-type]
        path=path,
        size=len(data),
        sha256=sha256(data),
        received_at=now_utc(),
        duration_s=duration if kind == "video" else None,
        framerate=25 if kind == "video" else None,
    )
    await store.in_worker(store.index.add, rec, True)
    return rec


def clip(seconds: int = 2, tag: str = "") -> bytes:
    """A valid H.265 stream of ``seconds`` (the 2 s sample, repeated)."""
    return media.video("front", tag or uuid.uuid4().hex) * (seconds // 2)


async def wait_event(b, predicate, timeout: float = 60) -> None:
    async with asyncio.timeout(timeout):
        while not any(predicate(e) for e in b.events):
            b.changed.clear()
            await b.changed.wait()


# -- the whole bridge ------------------------------------------------------------------------


async def test_a_photo_and_a_clip_get_their_derivatives(start_bridge) -> None:
    photo, video = make_captures(IMEI, 1, 1)
    # The metadata says 30 s; the stream holds 6 s: the media event says what the stream says.
    video = SimFile("%videof", clip(6), replace(video.metadata, length_s=30))
    async with start_bridge() as b, aiohttp.ClientSession() as client:
        await SimulatedCamera("127.0.0.1", b.port, IMEI, [photo, video]).run()
        await b.wait_for_media(2)
        await wait_event(b, lambda e: isinstance(e, MediaVariantReady))
        await b.bridge.derivatives.wait_idle()
        pic, vid = sorted(b.media, key=lambda m: m.kind)
        index = b.bridge.store.index
        fresh_pic, fresh_vid = index.get(pic.id), index.get(vid.id)
        total = index.total_size()
        # Each step timed once in /metrics (the store's and the workers').
        async with client.get(f"http://127.0.0.1:{b.bridge.http_port}/metrics") as resp:
            steps = processing_counts(await resp.text())
        # What the links serve is what was made.
        signer = b.bridge.signer
        assert signer is not None and fresh_vid is not None and fresh_vid.browser_path
        served = {}
        for variant in ("browser", "poster", "thumbnail"):
            async with client.get(signer.url(vid.id, variant)) as resp:
                assert resp.status == 200, variant
                served[variant] = await resp.read()
    assert fresh_pic is not None and fresh_vid is not None

    # The first media event already carries the probed length; so does the index.
    assert vid.duration_s == 6.0 and fresh_vid.duration_s == 6.0
    assert vid.mp4_path is not None and vid.poster_path is None and vid.browser_path is None
    assert steps == {
        "commit": 2, "remux": 1, "probe": 1, "poster": 1, "thumbnail": 2, "browser": 1
    }  # fmt: skip

    # Photo: a 320 px thumbnail, nothing else.
    assert fresh_pic.thumbnail_path == derivative_path(pic.path, "thumbnail")
    assert jpeg_size(fresh_pic.thumbnail_path) == (320, 180)
    assert fresh_pic.poster_path is None and fresh_pic.browser_path is None

    # Clip: a full-size poster, its thumbnail, and the H.264 MP4.
    assert fresh_vid.poster_path == derivative_path(vid.path, "poster")
    assert jpeg_size(fresh_vid.poster_path) == (1280, 720)
    assert jpeg_size(fresh_vid.thumbnail_path) == (320, 180)
    browser = fresh_vid.browser_path
    assert browser == vid.path.with_name(vid.path.stem + ".browser.mp4")
    assert fresh_vid.browser_size == browser.stat().st_size
    info = probe(browser)
    (stream,) = info["streams"]  # no audio
    assert stream["codec_name"] == "h264" and stream["pix_fmt"] == "yuv420p"
    assert (stream["width"], stream["height"]) == (1280, 720)
    boxes = top_level_boxes(browser)
    assert boxes.index("moov") < boxes.index("mdat")  # faststart: plays while it loads
    assert decodes(browser)
    original = float(probe(vid.mp4_path)["format"]["duration"])
    assert abs(float(info["format"]["duration"]) - original) < 0.15

    # One browser event, with the variant's path and size; the originals are untouched.
    (ready,) = [e for e in b.events if isinstance(e, MediaVariantReady)]
    assert ready.variant == "browser" and ready.media.id == vid.id
    assert ready.media.browser_path == browser
    assert ready.media.browser_size == browser.stat().st_size
    assert sha256(vid.path.read_bytes()) == vid.sha256
    assert sha256(vid.mp4_path.read_bytes()) == vid.mp4_sha256
    assert sha256(pic.path.read_bytes()) == pic.sha256
    assert served["browser"] == browser.read_bytes()
    assert served["poster"] == fresh_vid.poster_path.read_bytes()
    assert served["thumbnail"] == fresh_vid.thumbnail_path.read_bytes()
    # Retention counts every byte on disk; no temp file is left.
    files = [p for p in (b.data_dir / "media").rglob("*") if p.is_file()]
    assert total == sum(p.stat().st_size for p in files)
    assert not [p for p in files if p.name.endswith(".tmp")]
    assert sum(map(is_derivative, files)) == 4


async def test_browser_mp4_never_makes_none(start_bridge) -> None:
    async with start_bridge(media={"browser_mp4": "never"}) as b:
        files = make_captures(IMEI, 0, 1)
        await SimulatedCamera("127.0.0.1", b.port, IMEI, files).run()
        await b.wait_for_media(1)
        await b.bridge.derivatives.wait_idle()
        (vid,) = b.media
        fresh = b.bridge.store.index.get(vid.id)
        assert not b.bridge.derivatives.pending(vid.id)
    assert fresh is not None and fresh.poster_path and fresh.thumbnail_path
    assert fresh.browser_path is None and not derivative_path(vid.path, "browser").exists()
    assert not any(isinstance(e, MediaVariantReady) for e in b.events)


async def test_a_broken_clip_is_one_log_line(start_bridge, caplog) -> None:
    caplog.set_level(logging.INFO)
    (video,) = make_captures(IMEI, 0, 1)
    broken = b"\xff" * 30_000  # no H.265 start code anywhere
    async with start_bridge() as b:
        files = [SimFile("%videof", broken, video.metadata)]
        await SimulatedCamera("127.0.0.1", b.port, IMEI, files).run()
        await b.wait_for_media(1)
        await b.bridge.derivatives.wait_idle()
        (vid,) = b.media
        derivatives = b.bridge.derivatives
        assert await derivatives.ensure(vid, "poster") is None  # not tried again
        assert await derivatives.ensure(vid, "thumbnail") is None
        assert not derivatives.pending(vid.id)
    lines = [r for r in caplog.records if r.name == "dualcam_bridge.camera.derivatives"]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert lines[0].levelno == logging.WARNING
    assert IMEI in lines[0].getMessage() and vid.path.name in lines[0].getMessage()
    no_tracebacks(caplog)
    assert vid.path.read_bytes() == broken  # the original is untouched
    assert not [p for p in derivative_files(vid.path) if p.exists()]
    assert not any(isinstance(e, MediaVariantReady) for e in b.events)


async def test_retention_removes_derivatives_and_counts_them(start_bridge) -> None:
    async with start_bridge() as b:
        await SimulatedCamera("127.0.0.1", b.port, IMEI, make_captures(IMEI, 1, 1)).run()
        await b.wait_for_media(2)
        await wait_event(b, lambda e: isinstance(e, MediaVariantReady))
        await b.bridge.derivatives.wait_idle()
        store = b.bridge.store
        pic, vid = sorted(b.media, key=lambda m: m.kind)
        # A budget that the originals and MP4s alone fit, but not with their derivatives:
        # the oldest file goes, with its thumbnail, and the rest then fits.
        originals = pic.size + vid.size + (vid.mp4_size or 0)
        photo_bytes = pic.size + derivative_path(pic.path, "thumbnail").stat().st_size
        budget = store.index.total_size() - photo_bytes
        assert budget >= originals
        gb = (budget + 0.5) / 1024**3
        assert await store.in_worker(apply_retention, store, 0, gb) == 1
        assert not pic.path.exists() and not derivative_path(pic.path, "thumbnail").exists()
        kept = [derivative_path(vid.path, v) for v in ("poster", "thumbnail", "browser")]
        assert all(p.exists() for p in kept)
        assert await store.in_worker(apply_retention, store, 0, 1e-12) == 1
        assert store.index.total_size() == 0
    assert [p for p in (b.data_dir / "media").rglob("*") if p.is_file()] == []


# -- the workers on their own ----------------------------------------------------------------


@pytest.mark.parametrize("jobs", [1, 2])
async def test_jobs_at_once_are_bounded_and_at_the_lowest_priority(store, jobs: int) -> None:
    clips = [await add(store, "video", clip(4), 4.0) for _ in range(3)]
    steps = Steps()
    workers = MediaDerivatives(store, Sink(), jobs=jobs, on_job=steps)
    for rec in clips:
        workers.enqueue(rec)
    async with ChildWatch() as watch:
        await workers.start()
        await workers.wait_idle()
    await workers.stop()
    assert steps.count("browser") == 3 and steps.count("poster") == 3
    assert steps.max_overlap() <= jobs
    assert 1 <= watch.peak <= jobs
    ffmpeg = [child for child in watch.seen.values() if child[0] == "ffmpeg"]
    assert ffmpeg and all(nice == 19 for _, nice, _ in ffmpeg)
    assert watch.io_class and set(watch.io_class.values()) == {"idle"}


async def test_ensure_does_not_wait_for_queued_work_and_shares_one_job(store) -> None:
    clips = [await add(store, "video", clip(2)) for _ in range(3)]
    photo = await add(store, "photo", media.photo("rear", "x"))
    steps = Steps()
    workers = MediaDerivatives(store, Sink(), on_job=steps)
    for rec in clips:
        workers.enqueue(rec)  # 3 posters, 3 thumbnails, 3 transcodes queued
    assert workers.pending(clips[0].id)
    await workers.start()
    try:
        # Three callers at once for the last clip's thumbnail: one job, on the urgent
        # worker, done while the queued work (three transcodes among it) is still going.
        got = await asyncio.gather(*(workers.ensure(clips[-1], "thumbnail") for _ in range(3)))
        assert all(workers.pending(rec.id) for rec in clips)
        assert steps.count("browser") == 0
        assert got == [derivative_path(clips[-1].path, "thumbnail")] * 3
        assert jpeg_size(got[0]) == (320, 180)
        assert await workers.ensure(photo, "poster") is None  # a photo has none
        # Known now: answered without a job.
        poster = derivative_path(clips[-1].path, "poster")
        assert await workers.ensure(clips[-1], "poster") == poster
        await workers.wait_idle()
    finally:
        await workers.stop()
    # Each once: the clips' (the last one's shared by its callers) and the photo's, which
    # the scan at start found in the index.
    assert steps.count("thumbnail") == 4 and steps.count("poster") == 3
    assert not workers.pending(clips[0].id)
    fresh = await store.in_worker(store.index.get, clips[-1].id)
    assert fresh is not None and fresh.thumbnail_path == got[0]


async def test_without_ffmpeg_nothing_is_made_and_one_warning(store, caplog) -> None:
    rec = await add(store, "photo", media.photo("front", "y"))
    workers = MediaDerivatives(store, Sink(), ffmpeg="no-such-ffmpeg-binary")
    await workers.start()
    assert workers.enqueue(rec) == 0
    assert await workers.ensure(rec, "thumbnail") is None
    await workers.stop()
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "ffmpeg not found" in caplog.text


async def test_a_full_queue_delays_and_the_scan_catches_up(store, caplog) -> None:
    caplog.set_level(logging.INFO)
    photos = [await add(store, "photo", media.photo("front", f"p{n}")) for n in range(5)]
    steps = Steps()
    workers = MediaDerivatives(store, Sink(), on_job=steps, queue_limit=2)
    assert [workers.enqueue(rec) for rec in photos] == [1, 1, 0, 0, 0]
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "queue is full" in warnings[0]
    await workers.start()
    try:
        await steps.wait("thumbnail", 5)
        await workers.wait_idle()
    finally:
        await workers.stop()
    rows = [await store.in_worker(store.index.get, rec.id) for rec in photos]
    assert all(r is not None and r.thumbnail_path and r.thumbnail_path.exists() for r in rows)
    assert steps.count("thumbnail") == 5  # each once
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1


async def test_a_clip_shorter_than_a_second_gets_its_first_frame(store, tmp_path: Path) -> None:
    short = tmp_path / "short.h265"
    src = tmp_path / "src.h265"
    src.write_bytes(clip(2))
    subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-f", "hevc", "-framerate", "25", "-i", str(src),
         "-frames:v", "10", "-c", "copy", "-f", "hevc", str(short)],
        check=True,
    )  # fmt: skip
    rec = await add(store, "video", short.read_bytes(), duration=None)  # length unknown
    steps = Steps()
    workers = MediaDerivatives(store, Sink(), browser_mp4=False, on_job=steps)
    workers.enqueue(rec)
    await workers.start()
    await workers.wait_idle()
    await workers.stop()
    assert steps.count("poster") == 2  # nothing a second in; then the first frame
    assert jpeg_size(derivative_path(rec.path, "poster")) == (1280, 720)


async def test_stop_kills_a_running_transcode_and_removes_its_temp(store) -> None:
    rec = await add(store, "video", clip(30), 30.0)
    workers = MediaDerivatives(store, Sink())
    workers.enqueue(rec)
    await workers.start()
    async with asyncio.timeout(60):
        while not (running := [p for p, c in children().items() if "libx264" in c[2]]):
            await asyncio.sleep(0.01)
    (pid,) = running
    temp = derivative_path(rec.path, "browser").with_name(rec.path.stem + ".browser.mp4.tmp")
    assert workers.pending(rec.id)
    await workers.stop()
    assert not Path(f"/proc/{pid}").exists()  # killed and reaped
    assert not temp.exists() and not derivative_path(rec.path, "browser").exists()
    assert not workers.pending(rec.id)
    fresh = await store.in_worker(store.index.get, rec.id)
    assert fresh is not None and fresh.browser_path is None
    assert sha256(rec.path.read_bytes()) == rec.sha256
    # The stills came first (they are quick); nothing else is beside the clip.
    stills = {derivative_path(rec.path, v).name for v in ("poster", "thumbnail")}
    assert set(os.listdir(rec.path.parent)) == {rec.path.name, *stills}


async def test_a_job_past_its_timeout_is_killed_logged_once_and_not_retried(store, caplog) -> None:
    rec = await add(store, "video", clip(2))
    workers = MediaDerivatives(store, Sink(), browser_mp4=False)
    workers.still_timeout = 0.001  # no ffmpeg makes a poster this fast
    workers.enqueue(rec)
    await workers.start()
    await workers.wait_idle()
    assert workers.enqueue(rec) == 0  # given up for now (a scan skips it too)
    assert await workers.scan() == 0
    assert await workers.ensure(rec, "thumbnail") is None
    await workers.stop()
    (line,) = [r for r in caplog.records if r.name == "dualcam_bridge.camera.derivatives"]
    assert line.levelno == logging.WARNING and "timed out" in line.getMessage()
    assert rec.path.name in line.getMessage() and IMEI in line.getMessage()
    assert not [p for p in derivative_files(rec.path) if p.exists()]
    assert not [pid for pid, c in children().items() if c[0] in ("ffmpeg", "nice", "ionice")]


async def test_the_index_says_what_is_missing_and_what_to_announce(store) -> None:
    index = store.index
    old, new = await add(store, "video", b"x"), await add(store, "photo", b"y")
    assert [r.id for r in index.missing_derivatives(True, 10)] == [new.id, old.id]
    index.set_derivative(new.id, "thumbnail", derivative_path(new.path, "thumbnail"), 7)
    index.set_derivative(old.id, "poster", derivative_path(old.path, "poster"), 100)
    index.set_derivative(old.id, "thumbnail", derivative_path(old.path, "thumbnail"), 10)
    assert [r.id for r in index.missing_derivatives(True, 10)] == [old.id]  # no browser MP4
    assert index.missing_derivatives(False, 10) == []
    index.set_derivative(old.id, "browser", derivative_path(old.path, "browser"), 1000)
    assert index.missing_derivatives(True, 10) == []
    assert index.total_size() == old.size + new.size + 7 + 100 + 10 + 1000
    # A browser event is due once its original was announced, and after the in-flight window.
    now = now_utc()
    assert index.unannounced_browser(now + timedelta(seconds=1), 10) == []  # original first
    index.mark_announced([old.id, new.id])
    assert index.unannounced_browser(now - timedelta(seconds=30), 10) == []  # in flight
    (due,) = index.unannounced_browser(now + timedelta(seconds=1), 10)
    assert due.id == old.id and due.browser_path == derivative_path(old.path, "browser")
    assert due.browser_size == 1000
    index.mark_browser_announced([old.id])
    assert index.unannounced_browser(now + timedelta(seconds=1), 10) == []
