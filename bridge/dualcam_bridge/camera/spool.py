"""Partial files in flight, with what is needed to resume them after a reconnect or restart.

A transfer of file ``%videof`` from IMEI X lives in ``<data_dir>/spool/X/videof.part`` with
a sidecar ``videof.json`` naming the file (packets, file CRC, metadata). The resume state is
not written per packet: every packet but the last is exactly 1024 bytes and the DATA CRC is
chained (= the CRC of the whole prefix), so the spool itself says how many packets are done
and what CRC the next one chains from. A reconnect or a bridge restart therefore resumes at
the next packet; a torn tail from a kill is cut back to the last whole packet.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NotRequired, TypedDict, cast

from ..protocol.crc import crc16_dualcam
from ..protocol.dualcam_frames import PACKET_DATA_MAX, FileMetadata

log = logging.getLogger(__name__)

_IOV_MAX = 512
# Read size of the resume scan: the CRC holds the GIL per call, so keep each call short.
_SCAN_CHUNK = 256 * 1024


class SpoolInfo(TypedDict):
    """The sidecar of a partial (``<file>.json``)."""

    imei: str
    file: str
    packets: NotRequired[int]
    file_crc: NotRequired[int]
    metadata: NotRequired[dict[str, Any] | None]
    started_at: NotRequired[str]
    trusted: NotRequired[bool]  # False: no file CRC and no capture time to tell files apart
    duplicate_of: NotRequired[str]  # the media id of the stored copy of a file offered again
    committing: NotRequired[str]  # the media path a commit is linking to (crash recovery)


def read_sidecar(path: Path) -> SpoolInfo | None:
    """The sidecar at ``path``; None when missing or unreadable (the file starts over)."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        log.warning("unreadable spool sidecar %s: starting that file over", path)
        return None
    if not (
        isinstance(data, dict)
        and isinstance(data.get("imei"), str)
        and isinstance(data.get("file"), str)
    ):
        log.warning("spool sidecar %s names no file: starting that file over", path)
        return None
    return cast(SpoolInfo, data)


@dataclass(frozen=True, slots=True)
class ResumePoint:
    """Where a transfer continues: packet number, chained CRC, and whether to trust it."""

    next_packet: int
    crc: int
    trusted: bool


def metadata_to_json(meta: FileMetadata | None) -> dict[str, Any] | None:
    """A JSON-able form of file metadata (for the sidecar)."""
    if meta is None:
        return None
    return {
        "version": meta.version,
        "file_type": meta.file_type,
        "timestamp": meta.timestamp.isoformat(),
        "trigger": meta.trigger,
        "length_s": meta.length_s,
        "framerate": meta.framerate,
        "timezone_min": meta.timezone_min,
        "latitude": meta.latitude,
        "longitude": meta.longitude,
        "trigger_timestamp": (
            meta.trigger_timestamp.isoformat() if meta.trigger_timestamp else None
        ),
    }


def metadata_from_json(data: dict[str, Any] | None) -> FileMetadata | None:
    """Inverse of ``metadata_to_json``."""
    if not data:
        return None
    tts = data.get("trigger_timestamp")
    return FileMetadata(
        version=data["version"],
        file_type=data["file_type"],
        timestamp=datetime.fromisoformat(data["timestamp"]),
        trigger=data["trigger"],
        length_s=data["length_s"],
        framerate=data["framerate"],
        timezone_min=data["timezone_min"],
        latitude=data["latitude"],
        longitude=data["longitude"],
        trigger_timestamp=datetime.fromisoformat(tts) if tts else None,
    )


def write_json_atomic(path: Path, data: SpoolInfo | dict[str, Any]) -> None:
    """Write JSON so that a reader sees the old or the new content, never a torn one."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class SpoolFile:
    """An open partial file: append packets, restart, close (keeping the partial)."""

    def __init__(self, part: Path, sidecar: Path, info: SpoolInfo) -> None:
        self.part = part
        self.sidecar = sidecar
        self.info = info
        self._fd: int | None = os.open(part, os.O_WRONLY | os.O_CREAT, 0o644)
        self.size = os.fstat(self._fd).st_size
        os.lseek(self._fd, self.size, os.SEEK_SET)

    @property
    def imei(self) -> str:
        return self.info["imei"]

    @property
    def file(self) -> str:
        return self.info["file"]

    @property
    def metadata(self) -> FileMetadata | None:
        return metadata_from_json(self.info.get("metadata"))

    @property
    def closed(self) -> bool:
        return self._fd is None

    def append(self, data: bytes) -> None:
        """Append one packet (page cache; fsync happens at commit)."""
        if self._fd is None:
            raise ValueError(f"spool {self.part} is closed")
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self.size += len(data)

    def append_many(self, packets: list[bytes]) -> None:
        """Append several packets with as few system calls as possible."""
        if self._fd is None:
            raise ValueError(f"spool {self.part} is closed")
        for i in range(0, len(packets), _IOV_MAX):
            chunk = packets[i : i + _IOV_MAX]
            total = sum(map(len, chunk))
            written = os.writev(self._fd, chunk)
            if written < total:  # short write: finish the rest one by one
                rest = b"".join(chunk)[written:]
                self.size += written
                self.append(rest)
            else:
                self.size += total

    def truncate(self, size: int) -> None:
        """Cut the partial back to ``size`` bytes (0 = start over)."""
        if self._fd is None:
            raise ValueError(f"spool {self.part} is closed")
        os.ftruncate(self._fd, size)
        os.lseek(self._fd, size, os.SEEK_SET)
        self.size = size

    def sync(self) -> None:
        """fsync the data written so far."""
        if self._fd is not None:
            os.fsync(self._fd)

    def close(self) -> None:
        """Close the handle; the partial stays for a later resume."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def resume_point(self, packets: int) -> ResumePoint:
        """How far the stored prefix goes, cutting any torn tail."""
        whole = min(self.size // PACKET_DATA_MAX, packets - 1)
        if whole <= 0:
            self.truncate(0)
            return ResumePoint(1, 0, True)
        size = whole * PACKET_DATA_MAX
        if size != self.size:
            self.truncate(size)
        crc = 0
        with open(self.part, "rb") as fh:
            while chunk := fh.read(_SCAN_CHUNK):
                crc = crc16_dualcam(chunk, crc)
        return ResumePoint(whole + 1, crc, self.info.get("trusted", False))


def same_file(info: SpoolInfo, packets: int, file_crc: int, meta: FileMetadata | None) -> bool:
    """Is the offered file the one whose partial we hold? (Doubt → no.)"""
    if info.get("packets") != packets or info.get("file_crc") != file_crc:
        return False
    stored = info.get("metadata")
    if stored and meta is not None:
        return stored.get("timestamp") == meta.timestamp.isoformat()
    return True
