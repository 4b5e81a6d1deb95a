"""Disk pressure is a state: uploads wait without CLOSE, a few log lines, every file once after.

Two real ways in: ``media.min_free_mb`` above the free space of ``data_dir`` (statvfs), and a
``data_dir`` on a small tmpfs that really runs out of space mid-transfer (ENOSPC).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from dualcam_bridge.camera.disk import free_mb, is_disk_full
from dualcam_bridge.simulator import media
from dualcam_bridge.simulator.camera import Faults, SimFile, SimulatedCamera, make_captures

from .conftest import media_files, no_tracebacks, sha256

IMEI = "352094082736916"


class RecordingCamera(SimulatedCamera):
    """Notes how each connection ended: True = the server sent CLOSE (the file is dropped)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.closed: list[bool] = []

    async def session(self) -> bool:
        try:
            finished = await super().session()
        except (ConnectionError, OSError):
            finished = False
        self.closed.append(finished)
        return finished


def loud(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


async def wait_until(predicate, timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


def test_disk_full_errors_are_recognised() -> None:
    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (x)")
    db.execute("PRAGMA max_page_count = 2")
    with pytest.raises(sqlite3.Error) as full:
        db.executemany("INSERT INTO t VALUES (?)", [(b"x" * 4000,)] * 10)
    assert is_disk_full(full.value)


async def test_below_the_floor_uploads_wait_then_arrive_once(
    start_bridge, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    files = make_captures(IMEI, 2, 1)
    async with start_bridge(media={"min_free_mb": 1e12}) as b:
        disk = b.bridge.disk
        assert disk.full
        cam = RecordingCamera(
            "127.0.0.1", b.port, IMEI, files, Faults(max_reconnects=1000, reconnect_delay=0.05)
        )
        upload = asyncio.create_task(cam.run())
        await wait_until(lambda: len(cam.closed) >= 5)
        # Refused politely: the link dropped, never CLOSE; nothing spooled, nothing stored.
        assert not any(cam.closed) and not cam.result.delivered
        assert media_files(b.data_dir) == [] and b.media == []
        (warning,) = loud(caplog)
        assert "is full" in warning and "media.min_free_mb: 1e+12" in warning
        assert str(b.data_dir) in warning and "MB" in warning
        # Space is back (the floor lowered): one line, and the camera's next try goes through.
        disk.min_free_mb = 0
        assert not await disk.check()
        await asyncio.wait_for(upload, 30)
        await b.wait_for_media(3)
    assert len(cam.result.delivered) == 3
    assert sorted(m.sha256 for m in b.media) == sorted(sha256(f.data) for f in files)
    assert len(media_files(b.data_dir)) == len(files) + 1  # + the video's MP4
    assert any("MB free again" in r.getMessage() for r in caplog.records)
    assert len(loud(caplog)) == 1
    no_tracebacks(caplog)
    assert not any(r.exc_info for r in caplog.records)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """``tmp_path/data`` on its own 4 MB tmpfs (needs root, as in a container)."""
    data = tmp_path / "data"
    data.mkdir()
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(data)], capture_output=True
    )
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {res.stderr.decode().strip()}")
    try:
        yield data
    finally:
        subprocess.run(["umount", "-l", str(data)], check=False)


async def test_a_real_full_disk_is_a_state_not_a_traceback(
    small_disk: Path, start_bridge, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    photo, clip = make_captures(IMEI, 1, 1)
    # A 45 kB photo and a 1.9 MB video.
    files = [photo, SimFile("%videof", media.video("front", "disk full") * 12, clip.metadata)]
    # No MP4 beside the clip: room for the raw video only (a failed MP4 leaves the raw file).
    async with start_bridge(media={"min_free_mb": 0, "remux_mp4": False}) as b:
        disk = b.bridge.disk
        disk.interval, disk.hold = 0.1, 0.5
        # Leave 1.5 MB: the photo fits, the video's spool runs out of space (ENOSPC).
        filler = small_disk / "filler"
        free = int(free_mb(small_disk) * 1024 * 1024)
        filler.write_bytes(b"\0" * (free - 1_500_000))
        cam = RecordingCamera(
            "127.0.0.1", b.port, IMEI, files, Faults(max_reconnects=1000, reconnect_delay=0.05)
        )
        upload = asyncio.create_task(cam.run())
        await wait_until(lambda: disk.full)
        await b.wait_for_media(1)
        await asyncio.sleep(0.5)  # the camera keeps trying meanwhile
        assert not upload.done() and [m.kind for m in b.media] == ["photo"]
        assert disk.full  # 0 MB free: under 1 MB nothing fits, whatever the floor
        filler.unlink()  # space is back
        await asyncio.wait_for(upload, 30)
        await b.wait_for_media(2)
    assert not any(cam.closed[:-1]) and cam.closed[-1]  # CLOSE only once all is delivered
    assert sorted(m.sha256 for m in b.media) == sorted(sha256(f.data) for f in files)
    assert len(media_files(b.data_dir)) == 2
    warnings = loud(caplog)
    assert 1 <= len(warnings) <= 3 and "is full" in warnings[0], warnings
    assert "No space left" in warnings[0] and "media.min_free_mb: 0" in warnings[0]
    assert any(f"camera {IMEI}" in m and "no space left" in m for m in map(str, caplog.messages))
    assert any("MB free again" in m for m in caplog.messages)
    no_tracebacks(caplog)
    assert not any(r.exc_info for r in caplog.records)
