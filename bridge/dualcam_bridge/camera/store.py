"""The durable media store: spool → fsync → atomic link into ``media/`` → index.

Layout under ``data_dir``::

    spool/<imei>/<file>.part|.json    transfers in flight (resumable)
    failed/<imei>/…                   partials the device replaced with another file
    media/<imei>/<YYYY-MM-DD>/<imei>_<camera>_<photo|video>_<UTC time>.<jpg|h265|mp4>
    index.sqlite3                     one row per completed file

A file appears in ``media/`` only once complete and fsynced (it is hard-linked there, which
never overwrites and never exposes a partial); ``commit`` returns its record only after its
index row is committed, and the caller announces it.

Nothing slow runs on the event loop: opening a transfer (resume scan, duplicate check),
committing (fsync, sha256, link, index), recovery and retention run in one worker thread,
which also keeps every SQLite access of the index serialized. Only appending packets (page
cache writes) and closing a handle stay on the loop; a spool handle is closed only on the
loop, so a takeover can never close an fd under an append.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import os
import sqlite3
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from ..clock import now_utc
from ..events import TRIGGER_NAMES, MediaCompleted
from ..protocol.crc import crc16_dualcam
from ..protocol.dualcam_frames import PACKET_DATA_MAX, FileMetadata, file_camera, file_kind
from .durable import link_durably
from .index import MediaIndex
from .remux import Remuxer
from .spool import (
    ResumePoint,
    SpoolFile,
    SpoolInfo,
    metadata_to_json,
    read_sidecar,
    same_file,
    write_json_atomic,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
_READ_CHUNK = 1 << 20
# Told how long a processing step took: ("commit" | "remux" | "probe", seconds); ``/metrics``
# listens.
StepTimer = Callable[[str, float], None]


class MediaStore:
    """Owns ``data_dir``: partial transfers, completed files and their index."""

    def __init__(self, data_dir: Path, remuxer: Remuxer | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.spool_dir = self.data_dir / "spool"
        self.failed_dir = self.data_dir / "failed"
        self.media_dir = self.data_dir / "media"
        for d in (self.spool_dir, self.failed_dir, self.media_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.index = MediaIndex(self.data_dir / "index.sqlite3")
        self.remuxer = remuxer or Remuxer()
        self._open: dict[tuple[str, str], SpoolFile] = {}
        self._recovered: list[MediaCompleted] = []  # complete spools committed at start-up
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="media-store")
        self.on_step: StepTimer | None = None
        # First job of the worker: every begin/commit queued behind it sees a recovered spool.
        self._worker.submit(self.recover)

    def close(self) -> None:
        """Finish the worker's queued jobs, close every handle and the index."""
        self._worker.shutdown(wait=True)
        for spool in list(self._open.values()):
            spool.close()
        self._open.clear()
        self.index.close()

    async def in_worker(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn(*args)`` in the store's worker thread (serialized with the store's I/O)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, functools.partial(fn, *args))

    # -- transfers ---------------------------------------------------------------------------

    async def begin(
        self, imei: str, file_id: str, packets: int, file_crc: int, meta: FileMetadata | None
    ) -> tuple[SpoolFile, ResumePoint]:
        """Open the spool for an offered file; says where to resume.

        Only one transfer per (IMEI, file) is open at a time: a newer connection takes the
        spool over from an older one, whose handle is closed first.
        """
        key = (imei, file_id)
        if (old := self._open.pop(key, None)) is not None:
            old.close()
        spool, point = await self.in_worker(self._begin, imei, file_id, packets, file_crc, meta)
        if (other := self._open.get(key)) is not None and other is not spool:
            other.close()  # a begin for the same file that ran before ours in the worker
        self._open[key] = spool
        return spool, point

    def _begin(
        self, imei: str, file_id: str, packets: int, file_crc: int, meta: FileMetadata | None
    ) -> tuple[SpoolFile, ResumePoint]:
        folder = self.spool_dir / imei
        folder.mkdir(parents=True, exist_ok=True)
        name = file_id.lstrip("%")
        part, sidecar = folder / f"{name}.part", folder / f"{name}.json"
        identity = _identity(imei, file_id, packets, file_crc, meta)
        if identity and (dup := self._already_stored(identity)) is not None:
            # The device did not hear our answer to its last packet and offers the file
            # again: fetch only that packet (so the session ends cleanly), store nothing.
            part.unlink(missing_ok=True)
            dup_info: SpoolInfo = {"imei": imei, "file": file_id, "duplicate_of": dup[0]}
            write_json_atomic(sidecar, dup_info)
            return SpoolFile(part, sidecar, dup_info), ResumePoint(packets, dup[1], True)
        info = read_sidecar(sidecar)
        if info is not None and part.exists() and not same_file(info, packets, file_crc, meta):
            self._move_to_failed(imei, part, sidecar, "the device offers a different file")
            info = None
        if info is None or not part.exists():
            part.unlink(missing_ok=True)
            info = {
                "imei": imei,
                "file": file_id,
                "packets": packets,
                "file_crc": file_crc,
                "metadata": metadata_to_json(meta),
                "started_at": now_utc().isoformat(),
                # Without a file CRC or capture time we cannot tell two files apart.
                "trusted": file_crc != 0 or meta is not None,
            }
            write_json_atomic(sidecar, info)
        elif meta is not None and info.get("metadata") is None:
            info["metadata"] = metadata_to_json(meta)
            write_json_atomic(sidecar, info)
        spool = SpoolFile(part, sidecar, info)
        return spool, spool.resume_point(packets)

    def release(self, spool: SpoolFile) -> None:
        """Close a transfer's handle, keeping the partial for a later resume."""
        spool.close()
        key = (spool.imei, spool.file)
        if self._open.get(key) is spool:
            del self._open[key]

    async def commit(
        self, spool: SpoolFile, crc_ok: bool | None, meta: FileMetadata | None
    ) -> MediaCompleted | None:
        """Make a complete spool a media file, index it, remux a video; returns its record.

        None when the device offered a file it had already delivered (nothing new stored).
        Raises RuntimeError when another connection took the spool over, OSError when the
        disk fails; the partial is kept in both cases.
        """
        if spool.closed:
            raise RuntimeError(f"{spool.part} was taken over by another connection")
        # From now on the commit owns the handle: a takeover opens a new one and waits for
        # the worker, where this commit runs first.
        if self._open.get((spool.imei, spool.file)) is spool:
            del self._open[(spool.imei, spool.file)]
        started = time.monotonic()
        rec = await self.in_worker(self._commit, spool, crc_ok, meta)
        if rec is None:
            return None
        self._step_done("commit", started)
        return await self._with_mp4(rec)

    def _step_done(self, step: str, started: float) -> None:
        if self.on_step is not None:
            self.on_step(step, time.monotonic() - started)

    async def _with_mp4(self, rec: MediaCompleted) -> MediaCompleted:
        """A stored video with its MP4 beside it; without, when the MP4 cannot be made."""
        if rec.kind != "video":
            return rec
        started = time.monotonic()
        if not (mp4 := await self.remuxer.to_mp4(rec.path, rec.framerate)):
            return rec
        self._step_done("remux", started)
        # The stream's own length, before the media event goes out; the metadata's otherwise.
        started = time.monotonic()
        if (duration := await self.remuxer.probe_duration(mp4)) is not None:
            self._step_done("probe", started)
        try:
            mp4_sha, mp4_size = await self.in_worker(_sha256_of, mp4)
            await self.in_worker(self.index.set_mp4, rec.id, mp4, mp4_size, mp4_sha)
        except (OSError, sqlite3.Error) as exc:  # the disk filled up: the raw file is stored
            log.info("%s: keeping %s without its MP4: %s", rec.imei, rec.path.name, exc)
            mp4.unlink(missing_ok=True)
            return rec
        rec = replace(rec, mp4_path=mp4, mp4_size=mp4_size, mp4_sha256=mp4_sha)
        if duration is None:
            return rec
        try:
            await self.in_worker(self.index.set_duration, rec.id, duration)
        except sqlite3.Error as exc:  # the index keeps the metadata's length, and so do we
            log.info("%s: cannot note the length of %s: %s", rec.imei, rec.path.name, exc)
            return rec
        return replace(rec, duration_s=duration)

    def _commit(
        self, spool: SpoolFile, crc_ok: bool | None, meta: FileMetadata | None
    ) -> MediaCompleted | None:
        if dup_id := spool.info.get("duplicate_of"):
            spool.close()
            spool.part.unlink(missing_ok=True)
            spool.sidecar.unlink(missing_ok=True)
            if (dup := self.index.get(dup_id)) is None:
                # Retention took the stored copy meanwhile: the device sends the file again.
                raise RuntimeError(f"the stored copy of {spool.file} is gone")
            log.info("%s: %s offered again, already stored as %s", spool.imei, spool.file, dup.path)
            return None
        received_at = now_utc()
        meta = meta or spool.metadata
        spool.sync()
        spool.close()
        sha, size = _sha256_of(spool.part)
        camera, kind = file_camera(spool.file), file_kind(spool.file)
        # Commits run one at a time in the worker, so no other commit can take the name.
        final = _free_name(self._final_path(spool.imei, camera, kind, meta, received_at))
        spool.info["committing"] = str(final)
        write_json_atomic(spool.sidecar, spool.info)
        link_durably(spool.part, final)
        rec = MediaCompleted(
            id=uuid.uuid4().hex,
            imei=spool.imei,
            camera=camera,  # type: ignore[arg-type]
            kind=kind,  # type: ignore[arg-type]
            path=final,
            size=size,
            sha256=sha,
            received_at=received_at,
            captured_at=meta.timestamp if meta else None,
            trigger=TRIGGER_NAMES.get(meta.trigger, str(meta.trigger)) if meta else None,
            latitude=meta.latitude if meta else None,
            longitude=meta.longitude if meta else None,
            duration_s=meta.length_s if meta and kind == "video" else None,
            framerate=meta.framerate if meta and kind == "video" else None,
        )
        try:
            self.index.add(rec, crc_ok)  # the commit point
        except BaseException:
            final.unlink(missing_ok=True)  # not indexed (disk full): the retry links it again
            raise
        info = spool.info
        if "packets" in info and "file_crc" in info:
            identity = _identity(spool.imei, spool.file, info["packets"], info["file_crc"], meta)
            if identity:
                try:
                    self.index.add_completed_transfer(identity, rec.id, received_at)
                except sqlite3.Error as exc:  # the file is stored; only a re-offer's dedup is lost
                    log.info("%s: %s: cannot note the transfer: %s", rec.imei, spool.file, exc)
        spool.part.unlink(missing_ok=True)
        spool.sidecar.unlink(missing_ok=True)
        log.info("stored %s %s %s: %s (%d bytes)", rec.imei, camera, kind, final, size)
        return rec

    def _already_stored(self, identity: tuple[str, str, int, int, str]) -> tuple[str, int] | None:
        """(media id, CRC of all packets but the last) of a stored file with this identity."""
        media_id = self.index.find_completed_transfer(identity)
        rec = self.index.get(media_id) if media_id else None
        if rec is None or not rec.path.exists():
            return None
        remaining = (identity[2] - 1) * PACKET_DATA_MAX
        crc = 0
        with open(rec.path, "rb") as fh:
            while remaining > 0 and (chunk := fh.read(min(remaining, _READ_CHUNK))):
                crc = crc16_dualcam(chunk, crc)
                remaining -= len(chunk)
        return rec.id, crc

    # -- naming, recovery --------------------------------------------------------------------

    def _final_path(
        self, imei: str, camera: str, kind: str, meta: FileMetadata | None, received: datetime
    ) -> Path:
        when = meta.timestamp if meta else received
        folder = self.media_dir / imei / when.strftime("%Y-%m-%d")
        folder.mkdir(parents=True, exist_ok=True)
        ext = "jpg" if kind == "photo" else "h265"
        return folder / f"{imei}_{camera}_{kind}_{when.strftime('%Y%m%dT%H%M%SZ')}.{ext}"

    def _move_to_failed(self, imei: str, part: Path, sidecar: Path, why: str) -> None:
        folder = self.failed_dir / imei
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{part.stem}_{now_utc().strftime('%Y%m%dT%H%M%S%fZ')}.part"
        log.warning("%s: keeping the partial %s as %s: %s", imei, part.name, target, why)
        os.replace(part, target)
        sidecar.unlink(missing_ok=True)

    def recover(self) -> None:
        """Finish commits a crash interrupted; commit spools that are complete.

        Runs in the worker when the store opens; call it directly only with no job running.
        """
        for sidecar in self.spool_dir.glob("*/*.json"):
            info = read_sidecar(sidecar)
            if not info:
                continue
            if committing := info.get("committing"):
                self._recover_commit(sidecar, info, Path(committing))
            if sidecar.exists():
                self._commit_if_complete(sidecar)

    def _recover_commit(self, sidecar: Path, info: SpoolInfo, final: Path) -> None:
        part = sidecar.with_suffix(".part")
        if self.index.has_path(final):
            part.unlink(missing_ok=True)
            sidecar.unlink(missing_ok=True)
        else:
            # Linked, not indexed: drop the stray link; the spool is committed again (below,
            # when complete, or when the device re-sends the last packet).
            if final.exists():
                final.unlink()
            info.pop("committing")
            write_json_atomic(sidecar, info)
        log.info("recovered an interrupted commit of %s", final.name)

    def _commit_if_complete(self, sidecar: Path) -> None:
        """Commit a spool holding every packet its START announced (the file CRC agreeing).

        A camera that counted the end of the link after its last packet as delivery never
        comes back for the file; one that does is told it is stored (the duplicate path).
        """
        info = read_sidecar(sidecar)
        part = sidecar.with_suffix(".part")
        if not info or "duplicate_of" in info or not part.exists():
            return
        packets, file_crc = info.get("packets"), info.get("file_crc")
        if packets is None or file_crc is None:
            return
        size = part.stat().st_size
        # Every packet but the last is whole; the last holds 1..PACKET_DATA_MAX bytes.
        if not (packets - 1) * PACKET_DATA_MAX < size <= packets * PACKET_DATA_MAX:
            return
        crc = 0
        with open(part, "rb") as fh:
            while chunk := fh.read(_READ_CHUNK):
                crc = crc16_dualcam(chunk, crc)
        if file_crc != 0 and crc != file_crc:
            return  # a torn last packet: the device re-sends it
        spool = SpoolFile(part, sidecar, info)
        rec = self._commit(spool, True if file_crc else None, None)
        if rec is not None:
            log.info("%s: committed the complete spool of %s at start-up", rec.imei, info["file"])
            self._recovered.append(rec)

    async def finish_recovery(self) -> list[MediaCompleted]:
        """The files ``recover`` committed (videos remuxed), to announce; once."""
        recovered: list[MediaCompleted] = await self.in_worker(list, self._recovered)
        self._recovered.clear()
        out: list[MediaCompleted] = []
        for rec in recovered:
            out.append(await self._with_mp4(rec))
        return out


def _identity(
    imei: str, file_id: str, packets: int, file_crc: int, meta: FileMetadata | None
) -> tuple[str, str, int, int, str] | None:
    """What tells a file apart from any other; None when we cannot be sure (no capture time)."""
    if meta is None:
        return None
    return (imei, file_id, packets, file_crc, meta.timestamp.isoformat())


def _sha256_of(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_READ_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _free_name(path: Path) -> Path:
    """``path``, or ``<stem>-2<suffix>`` … when taken (two files in the same second)."""
    candidate, n = path, 1
    while candidate.exists() or candidate.with_suffix(".mp4").exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate
