"""Posters, thumbnails and browser MP4s of stored media, made by ffmpeg in a bounded queue.

For each photo a small JPEG thumbnail; for each clip a JPEG poster (a frame about a second
in), a thumbnail of it and, with ``media.browser_mp4: always``, an H.264 MP4 that every
browser plays (the HEVC MP4 and the raw stream stay as they are). Files sit beside the
original (``<stem>.poster.jpg``, ``<stem>.thumb.jpg``, ``<stem>.browser.mp4``), each written
to a temp name, fsynced and renamed, then recorded in the index; a ready browser MP4 goes on
the bus as ``MediaVariantReady`` (its media event, announced durably by ``announcements``).

At most ``jobs`` ffmpeg processes run at once, each at the lowest CPU and I/O priority
(:mod:`.ffmpeg_jobs`). The queue is bounded: what does not fit is not lost, since the index
says what is missing and a scan (at start, periodically, and once the queue drains after an
overflow) queues it again, newest first. ``ensure`` makes a poster or thumbnail now, ahead of
queued work, for the HTTP service; ``pending`` says a browser MP4 is on its way.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..events import EventSink, MediaCompleted, MediaVariantReady
from .durable import publish_file
from .ffmpeg_jobs import (
    POSTER_AT_S,
    Variant,
    browser_args,
    clip_input,
    derivative_path,
    has_bytes,
    poster_args,
    run_tool,
    temp_path,
    thumbnail_args,
)
from .store import MediaStore

log = logging.getLogger(__name__)


Still = Literal["poster", "thumbnail"]
# (step, seconds) after each ffmpeg run; steps: poster, thumbnail, browser. (The store
# reports its own steps, the clip's probe among them, through ``MediaStore.on_step``.)
JobHook = Callable[[str, float], None]

QUEUE_LIMIT = 200  # jobs waiting or running; more are left to the next scan
SCAN_BATCH = 50
SCAN_INTERVAL_S = 600.0
STILL_TIMEOUT_S = 60.0
BROWSER_TIMEOUT_S = 120.0  # plus BROWSER_TIMEOUT_PER_S for each second of clip
BROWSER_TIMEOUT_PER_S = 10.0
RETRY_FAILED_S = 3600.0  # a file ffmpeg could not handle is tried again this much later,
MAX_ATTEMPTS = 3  # at most this often per run of the bridge
DISK_RETRY_S = 60.0  # after a write refused for lack of space
DISK_PAUSE_S = 2.0  # while data_dir is full, workers look this often whether it has room

_URGENT, _STILL, _BROWSER = 0, 1, 2  # queue priorities: asked for now, stills, transcodes
_JobQueue = asyncio.PriorityQueue[tuple[int, int, "_Job"]]


def _recorded(media: MediaCompleted, variant: Variant) -> Path | None:
    if variant == "poster":
        return media.poster_path
    if variant == "thumbnail":
        return media.thumbnail_path
    return media.browser_path


@dataclass(eq=False, slots=True)
class _Job:
    media: MediaCompleted
    variant: Variant
    done: asyncio.Future[Path | None]
    urgent: bool
    started: bool = False


class MediaDerivatives:
    """The media workers: ``on_media`` (a bus subscriber) queues, ``start`` runs, ``ensure``
    makes a still now, ``pending`` tells a browser MP4 in the making."""

    def __init__(
        self,
        store: MediaStore,
        emit: EventSink,
        *,
        ffmpeg: str = "ffmpeg",
        browser_mp4: bool = True,
        jobs: int = 1,
        on_job: JobHook | None = None,
        disk_full: Callable[[], bool] | None = None,
        queue_limit: int = QUEUE_LIMIT,
        scan_interval: float = SCAN_INTERVAL_S,
    ) -> None:
        self._store = store
        self._emit = emit
        self.ffmpeg = shutil.which(ffmpeg)
        self.browser_mp4 = browser_mp4
        self.jobs = max(1, jobs)
        self.on_job = on_job  # settable later (the HTTP service's metrics)
        self._disk_full = disk_full
        self.queue_limit = queue_limit
        self.scan_interval = scan_interval
        self.still_timeout = STILL_TIMEOUT_S
        self.browser_timeout = BROWSER_TIMEOUT_S
        self._queue: _JobQueue = asyncio.PriorityQueue()
        # Stills someone waits for (an HTTP request) have a worker of their own: a poster
        # takes a fraction of a second, and must not wait behind a long transcode.
        self._urgent: _JobQueue = asyncio.PriorityQueue()
        self._order = itertools.count()
        self._jobs: dict[tuple[str, Variant], _Job] = {}
        self._failed: dict[str, tuple[int, float]] = {}  # media id -> (attempts, retry at)
        self._overflow = False  # jobs were left out: scan again once the queue drains
        self._scan_now = asyncio.Event()
        self._idle = asyncio.Event()  # no job queued or running
        self._idle.set()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def available(self) -> bool:
        """ffmpeg was found."""
        return self.ffmpeg is not None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the workers and the scan of the index (which runs at once)."""
        if self._tasks:
            return
        if self.ffmpeg is None:
            log.warning("ffmpeg not found: no posters, thumbnails or browser MP4s are made")
            return
        if self.browser_mp4 and not await self._has_h264_encoder():
            # Said once here, rather than once for every clip that would fail.
            log.warning("%s has no libx264 encoder: no browser MP4s are made", self.ffmpeg)
            self.browser_mp4 = False
        for n in range(self.jobs):
            self._tasks.append(asyncio.create_task(self._work(self._queue), name=f"media-job-{n}"))
        self._tasks.append(asyncio.create_task(self._work(self._urgent), name="media-job-urgent"))
        self._tasks.append(asyncio.create_task(self._scan_loop(), name="media-job-scan"))

    async def _has_h264_encoder(self) -> bool:
        assert self.ffmpeg is not None
        try:
            listed = await run_tool([self.ffmpeg, "-hide_banner", "-encoders"], STILL_TIMEOUT_S)
        except OSError:
            return False
        return listed.ok and b" libx264 " in listed.stdout

    async def stop(self) -> None:
        """Cancel the workers (their ffmpeg processes are killed, temp files removed)."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for job in self._jobs.values():
            if not job.done.done():
                job.done.set_result(None)
        self._jobs.clear()
        self._idle.set()
        for queue in (self._queue, self._urgent):
            while not queue.empty():
                queue.get_nowait()

    # -- what others call --------------------------------------------------------------------

    async def on_media(self, media: MediaCompleted) -> None:
        """A bus subscriber for ``MediaCompleted``: queues what the file lacks, nothing more."""
        self.enqueue(media)

    def enqueue(self, media: MediaCompleted) -> int:
        """Queue the derivatives ``media`` lacks; how many jobs were queued (or joined)."""
        if self.ffmpeg is None or self._gave_up(media.id):
            return 0
        queued = 0
        for variant in self._wanted(media):
            queued += self._submit(media, variant, urgent=False) is not None
        return queued

    async def ensure(self, media: MediaCompleted, variant: Still) -> Path | None:
        """The file's poster or thumbnail, made now (ahead of queued work) when missing.

        None when it cannot be made: a photo has no poster, ffmpeg is missing, the file
        does not decode, the disk is full. Callers asking for the same one share a job.
        """
        if variant == "poster" and media.kind != "video":
            return None
        for known in (_recorded(media, variant), derivative_path(media.path, variant)):
            if known is not None and known.exists():
                return known
        if not self._tasks or self._gave_up(media.id) or self._no_room():
            return None
        job = self._submit(media, variant, urgent=True)
        # Shielded: a caller that gives up (a client gone) does not cancel the others' job.
        return None if job is None else await asyncio.shield(job.done)

    async def wait_idle(self) -> None:
        """Until no job is queued or running (a scan may queue more later)."""
        await self._idle.wait()

    def pending(self, media_id: str) -> bool:
        """The file's browser MP4 is queued or being made."""
        return (media_id, "browser") in self._jobs

    async def scan(self) -> int:
        """Queue what the index lacks (newest first, one batch); how many jobs were queued."""
        if self.ffmpeg is None:
            return 0
        self._overflow = False
        room = min(SCAN_BATCH, self.queue_limit - len(self._jobs))
        if room <= 0:
            self._overflow = True
            return 0
        skip = {mid for mid in self._failed if self._gave_up(mid)}
        limit = room + len(skip)
        rows = await self._store.in_worker(
            self._store.index.missing_derivatives, self.browser_mp4, limit
        )
        queued = sum(self.enqueue(rec) for rec in rows if rec.id not in skip)
        if len(rows) == limit:
            self._overflow = True  # maybe more: the next batch once this one is done
        return queued

    # -- queue -------------------------------------------------------------------------------

    def _wanted(self, media: MediaCompleted) -> list[Variant]:
        wanted: list[Variant] = []
        if media.kind == "video":
            if media.poster_path is None:
                wanted.append("poster")
            if media.thumbnail_path is None:
                wanted.append("thumbnail")
            if self.browser_mp4 and media.browser_path is None:
                wanted.append("browser")
        elif media.thumbnail_path is None:
            wanted.append("thumbnail")
        return wanted

    def _submit(self, media: MediaCompleted, variant: Variant, urgent: bool) -> _Job | None:
        key = (media.id, variant)
        if (job := self._jobs.get(key)) is not None:
            if urgent and not job.urgent and not job.started:
                job.urgent = True  # a copy for the urgent worker; the other worker skips it
                self._urgent.put_nowait((_URGENT, next(self._order), job))
            return job
        if not urgent and len(self._jobs) >= self.queue_limit:
            if not self._overflow:
                log.warning(
                    "media jobs: %d queued, the queue is full; the rest are made later"
                    " (the index keeps what is missing)",
                    len(self._jobs),
                )
            self._overflow = True
            return None
        job = _Job(media, variant, asyncio.get_running_loop().create_future(), urgent)
        self._jobs[key] = job
        self._idle.clear()
        priority = _URGENT if urgent else _BROWSER if variant == "browser" else _STILL
        (self._urgent if urgent else self._queue).put_nowait((priority, next(self._order), job))
        return job

    async def _work(self, queue: _JobQueue) -> None:
        while True:
            _, _, job = await queue.get()
            while self._no_room():  # writes would fail: wait (a disk state logs it)
                await asyncio.sleep(DISK_PAUSE_S)
            if job.started or job.done.done():
                continue  # moved ahead (``ensure``) or run by a thumbnail job: made already
            await self._execute(job)
            if not self._jobs:
                self._idle.set()
                if self._overflow:
                    self._scan_now.set()

    async def _execute(self, job: _Job) -> Path | None:
        """Run one job; its callers learn the result (None when it failed)."""
        job.started = True
        result: Path | None = None
        try:
            result = await self._produce(job.media, job.variant)
        except (OSError, sqlite3.Error) as exc:  # the environment (disk, index)
            self._fail(job.media, job.variant, str(exc))
        except Exception:  # a bug: say where, keep the worker
            log.exception("%s: the %s job of %s failed", *self._name(job.media, job.variant))
        finally:
            self._jobs.pop((job.media.id, job.variant), None)
            if not job.done.done():
                job.done.set_result(result)
        return result

    async def _poster_of(self, rec: MediaCompleted) -> Path | None:
        """A clip's poster for its thumbnail: its job run here (taken from the queue, so a
        single worker never waits for itself), or awaited when another worker runs it."""
        job = self._jobs.get((rec.id, "poster"))
        if job is not None and job.started:
            return await asyncio.shield(job.done)
        if job is None:
            job = _Job(rec, "poster", asyncio.get_running_loop().create_future(), urgent=True)
            self._jobs[(rec.id, "poster")] = job
        return await self._execute(job)

    async def _scan_loop(self) -> None:
        while True:
            self._scan_now.clear()
            try:
                await self.scan()
            except sqlite3.Error as exc:  # the index on a full disk: the next scan retries
                log.info("media jobs: cannot read the index: %s", exc)
            # Not wait_for: see Announcements.run (a cancel meeting a wake-up).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.scan_interval):
                    await self._scan_now.wait()

    # -- making ------------------------------------------------------------------------------

    async def _produce(self, media: MediaCompleted, variant: Variant) -> Path | None:
        """Make (unless there) and record one derivative; announce a browser MP4."""
        if self._gave_up(media.id):
            return None  # its failure was logged once
        index = self._store.index
        rec = await self._store.in_worker(index.get, media.id)
        if rec is None:
            return None  # retention removed it meanwhile
        recorded = _recorded(rec, variant)
        if recorded is not None and recorded.exists():
            return recorded
        target = derivative_path(rec.path, variant)
        # Made before but not recorded (a crash, a full index): only recorded now.
        if not target.exists() and not await self._make(rec, variant, target):
            return None
        size = target.stat().st_size
        await self._store.in_worker(index.set_derivative, rec.id, variant, target, size)
        if (fresh := await self._store.in_worker(index.get, rec.id)) is None:
            target.unlink(missing_ok=True)  # retention removed the file while we worked
            return None
        if variant == "browser":
            await self._emit(MediaVariantReady(fresh, "browser"))
        return target

    async def _make(self, rec: MediaCompleted, variant: Variant, target: Path) -> bool:
        """Run ffmpeg into a temp name, then fsync and rename it to ``target``."""
        assert self.ffmpeg is not None
        tmp = temp_path(target)
        clip = rec.mp4_path if rec.mp4_path is not None and rec.mp4_path.exists() else rec.path
        try:
            if variant == "browser":
                timeout = self.browser_timeout + BROWSER_TIMEOUT_PER_S * (rec.duration_s or 60)
                args = browser_args(self.ffmpeg, clip_input(clip, rec.framerate), tmp)
                ok = await self._run(rec, variant, args, timeout)
            elif variant == "poster":
                ok = await self._poster(rec, clip, tmp)
            else:
                source = rec.path if rec.kind == "photo" else await self._poster_of(rec)
                if source is None:
                    return False  # no poster: why was logged
                args = thumbnail_args(self.ffmpeg, source, tmp)
                ok = await self._run(rec, variant, args, self.still_timeout)
            if ok and not has_bytes(tmp):
                self._fail(rec, variant, "ffmpeg wrote nothing")
                return False
            if ok:
                await asyncio.to_thread(publish_file, tmp, target)
            return ok
        finally:
            tmp.unlink(missing_ok=True)  # a failure, or cancelled (the bridge stops)

    async def _poster(self, rec: MediaCompleted, clip: Path, tmp: Path) -> bool:
        assert self.ffmpeg is not None
        source = clip_input(clip, rec.framerate)
        short = rec.duration_s is not None and rec.duration_s <= POSTER_AT_S
        at = 0.0 if short else POSTER_AT_S
        if not await self._run(rec, "poster", poster_args(self.ffmpeg, source, at, tmp)):
            return False
        if at and not has_bytes(tmp):  # shorter than a second after all: its first frame
            return await self._run(rec, "poster", poster_args(self.ffmpeg, source, 0.0, tmp))
        return True

    async def _run(
        self, rec: MediaCompleted, step: Variant, args: list[str], timeout: float | None = None
    ) -> bool:
        result = await run_tool(args, timeout or self.still_timeout)
        self._report(step, result.seconds)
        if not result.ok:
            self._fail(rec, step, result.error)
        return result.ok

    # -- failures ----------------------------------------------------------------------------

    def _fail(self, rec: MediaCompleted, step: Variant, why: str) -> None:
        """One line naming the device and file; the file's other jobs are skipped for now."""
        attempts, _ = self._failed.get(rec.id, (0, 0.0))
        now = time.monotonic()
        if "No space left" in why or self._no_room():
            # Not the file's fault: again once there is room (the disk state says why).
            self._failed[rec.id] = (attempts, now + DISK_RETRY_S)
            log.info("%s: the %s of %s waits for disk space", *self._name(rec, step))
            return
        self._failed[rec.id] = (attempts + 1, now + RETRY_FAILED_S)
        log.warning("%s: cannot make the %s of %s: %s", *self._name(rec, step), why)

    def _gave_up(self, media_id: str) -> bool:
        if (failed := self._failed.get(media_id)) is None:
            return False
        attempts, retry_at = failed
        return attempts >= MAX_ATTEMPTS or time.monotonic() < retry_at

    def _no_room(self) -> bool:
        return self._disk_full is not None and self._disk_full()

    def _report(self, step: str, seconds: float) -> None:
        if self.on_job is not None:
            self.on_job(step, seconds)

    @staticmethod
    def _name(rec: MediaCompleted, step: str) -> tuple[str, str, str]:
        return rec.imei, step, rec.path.name
