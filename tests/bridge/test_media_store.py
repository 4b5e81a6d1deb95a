"""The media store on real files: resume state, atomic commit, recovery, duplicates, retention."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dualcam_bridge.camera.remux import Remuxer
from dualcam_bridge.camera.retention import apply_retention
from dualcam_bridge.camera.spool import write_json_atomic
from dualcam_bridge.camera.store import MediaStore
from dualcam_bridge.protocol.crc import crc16_dualcam
from dualcam_bridge.protocol.dualcam_frames import FileMetadata

from .conftest import sha256

IMEI = "352094082736916"
WHEN = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)


def meta(ts: datetime = WHEN, file_type: int = 4, trigger: int = 0) -> FileMetadata:
    return FileMetadata(1, file_type, ts, trigger, 0, 0, 0, 54.7, 25.3)


@pytest.fixture
def store(tmp_path: Path) -> MediaStore:
    s = MediaStore(tmp_path / "data", Remuxer(enabled=False))
    yield s
    s.close()


def fill(spool, data: bytes) -> None:
    for i in range(0, len(data), 1024):
        spool.append(data[i : i + 1024])


DATA = bytes(range(256)) * 40  # 10240 bytes = 10 packets


async def test_new_file_starts_at_packet_one(store: MediaStore) -> None:
    spool, point = await store.begin(IMEI, "%photof", 10, crc16_dualcam(DATA), meta())
    assert (point.next_packet, point.crc, point.trusted) == (1, 0, True)
    assert spool.part == store.spool_dir / IMEI / "photof.part"


async def test_reopen_resumes_after_the_stored_packets(store: MediaStore) -> None:
    spool, _ = await store.begin(IMEI, "%photof", 10, 0xBEEF, meta())
    fill(spool, DATA[:4096])
    store.release(spool)
    spool, point = await store.begin(IMEI, "%photof", 10, 0xBEEF, meta())
    assert point.next_packet == 5 and point.crc == crc16_dualcam(DATA[:4096])
    assert point.trusted


async def test_torn_tail_is_cut_back_to_whole_packets(store: MediaStore) -> None:
    spool, _ = await store.begin(IMEI, "%photof", 10, 0xBEEF, meta())
    fill(spool, DATA[:3000])  # a kill in the middle of packet 3
    store.release(spool)
    spool, point = await store.begin(IMEI, "%photof", 10, 0xBEEF, meta())
    assert point.next_packet == 3 and spool.part.stat().st_size == 2048


async def test_last_packet_is_always_fetched_again(store: MediaStore) -> None:
    spool, _ = await store.begin(IMEI, "%photof", 10, 0xBEEF, meta())
    fill(spool, DATA)  # complete, but killed before the commit
    store.release(spool)
    _, point = await store.begin(IMEI, "%photof", 10, 0xBEEF, meta())
    assert point.next_packet == 10


async def test_a_different_file_in_the_same_slot_starts_over_and_keeps_the_old_partial(
    store: MediaStore, caplog
) -> None:
    spool, _ = await store.begin(IMEI, "%photof", 10, 0xBEEF, meta())
    fill(spool, DATA[:4096])
    store.release(spool)
    later = meta(WHEN + timedelta(minutes=10))
    spool, point = await store.begin(IMEI, "%photof", 10, 0xBEEF, later)
    assert point.next_packet == 1 and spool.part.stat().st_size == 0
    (kept,) = (store.failed_dir / IMEI).iterdir()
    assert kept.read_bytes() == DATA[:4096]
    assert "different file" in caplog.text


async def test_without_crc_and_metadata_a_resume_is_untrusted(store: MediaStore) -> None:
    spool, _ = await store.begin(IMEI, "%photof", 10, 0, None)
    fill(spool, DATA[:2048])
    store.release(spool)
    _, point = await store.begin(IMEI, "%photof", 10, 0, None)
    assert point.next_packet == 3 and not point.trusted


async def test_newer_connection_takes_the_spool_over(store: MediaStore) -> None:
    first, _ = await store.begin(IMEI, "%videof", 10, 1, None)
    fill(first, DATA[:1024])
    second, point = await store.begin(IMEI, "%videof", 10, 1, None)
    assert first.closed and point.next_packet == 2
    with pytest.raises(ValueError):
        first.append(b"late")
    fill(second, DATA[1024:])
    assert second.part.read_bytes() == DATA


async def test_commit_is_atomic_and_indexed_before_it_returns(store: MediaStore) -> None:
    spool, _ = await store.begin(IMEI, "%photor", 10, crc16_dualcam(DATA), meta(trigger=9))
    fill(spool, DATA)
    rec = await store.commit(spool, True, None)
    assert rec is not None
    assert rec.path.read_bytes() == DATA  # on disk before anyone hears of it
    assert (
        rec.path
        == store.media_dir / IMEI / "2026-11-26" / f"{IMEI}_rear_photo_20261126T120000Z.jpg"
    )
    assert rec.sha256 == sha256(DATA) and rec.size == len(DATA)
    assert rec.trigger == "periodic" and rec.captured_at == WHEN and rec.camera == "rear"
    assert not spool.part.exists() and not spool.sidecar.exists()
    assert store.index.get(rec.id) == rec
    assert store.index.all(IMEI) == [rec]


async def test_two_files_in_the_same_second_get_distinct_names(store: MediaStore) -> None:
    recs = []
    for n in range(3):
        spool, _ = await store.begin(
            IMEI, "%photof", 1, n + 1, meta(WHEN + timedelta(milliseconds=n))
        )
        spool.append(bytes([n]) * 100)
        recs.append(await store.commit(spool, None, None))
    names = [r.path.name for r in recs]
    assert names == [
        f"{IMEI}_front_photo_20261126T120000Z.jpg",
        f"{IMEI}_front_photo_20261126T120000Z-2.jpg",
        f"{IMEI}_front_photo_20261126T120000Z-3.jpg",
    ]
    assert [r.path.read_bytes()[0] for r in recs] == [0, 1, 2]


async def test_file_offered_again_is_not_stored_twice(store: MediaStore) -> None:
    crc = crc16_dualcam(DATA)
    spool, _ = await store.begin(IMEI, "%photof", 10, crc, meta())
    fill(spool, DATA)
    first = await store.commit(spool, True, None)
    again, point = await store.begin(IMEI, "%photof", 10, crc, meta())
    assert point.next_packet == 10 and point.crc == crc16_dualcam(DATA[:9216])
    again.append(DATA[9216:])
    assert await store.commit(again, True, None) is None  # nothing new to announce
    assert store.index.all() == [first]
    assert not again.part.exists() and not again.sidecar.exists()


async def test_a_duplicate_whose_stored_copy_is_gone_is_fetched_again(
    store: MediaStore,
) -> None:
    crc = crc16_dualcam(DATA)
    spool, _ = await store.begin(IMEI, "%photof", 10, crc, meta())
    fill(spool, DATA)
    first = await store.commit(spool, True, None)
    assert first is not None
    again, _ = await store.begin(IMEI, "%photof", 10, crc, meta())
    again.append(DATA[9216:])
    apply_retention(store, 0, 1e-12, first.received_at)  # retention removes the stored copy
    with pytest.raises(RuntimeError, match="gone"):
        await store.commit(again, True, None)
    store.release(again)
    # The next offer starts over and stores the whole file.
    spool, point = await store.begin(IMEI, "%photof", 10, crc, meta())
    assert point.next_packet == 1
    fill(spool, DATA)
    rec = await store.commit(spool, True, None)
    assert rec is not None and rec.path.read_bytes() == DATA


async def test_recovery_finishes_an_interrupted_commit(tmp_path: Path) -> None:
    store = MediaStore(tmp_path, Remuxer(enabled=False))
    spool, _ = await store.begin(IMEI, "%photof", 10, 7, meta())
    fill(spool, DATA)
    store.release(spool)
    # Killed right after linking into media/, before the index row.
    final = store.media_dir / "x.jpg"
    os.link(spool.part, final)
    spool.info["committing"] = str(final)
    write_json_atomic(spool.sidecar, spool.info)
    store.close()
    store = MediaStore(tmp_path, Remuxer(enabled=False))
    _, point = await store.begin(IMEI, "%photof", 10, 7, meta())  # queued behind recovery
    assert not final.exists()  # never a file in media/ that the index does not know
    assert point.next_packet == 10  # the data is kept; only the last packet comes again
    store.close()


async def test_missing_ffmpeg_warns_once_and_keeps_raw_video(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.WARNING)
    store = MediaStore(tmp_path, Remuxer(ffmpeg="no-such-ffmpeg-binary"))
    for n in range(2):
        spool, _ = await store.begin(
            IMEI, "%videof", 1, n + 1, meta(WHEN + timedelta(seconds=n), 16)
        )
        spool.append(b"\x00\x00\x00\x01\x40\x01")
        rec = await store.commit(spool, None, None)
        assert rec is not None
        assert rec.mp4_path is None and rec.mime == "video/hevc" and rec.path.suffix == ".h265"
    assert caplog.text.count("ffmpeg not found") == 1
    store.close()


async def test_broken_video_keeps_the_raw_file(tmp_path: Path, caplog) -> None:
    remux = Remuxer()
    if not remux.available:
        pytest.skip("ffmpeg is not installed")
    store = MediaStore(tmp_path, remux)
    spool, _ = await store.begin(IMEI, "%videor", 1, 1, meta(file_type=32))
    spool.append(b"not a video at all")
    rec = await store.commit(spool, None, None)
    assert rec is not None and rec.mp4_path is None and rec.path.exists()
    assert list(rec.path.parent.glob("*.mp4")) == []
    assert "could not remux" in caplog.text
    store.close()


async def test_retention_by_age_and_size(store: MediaStore) -> None:
    recs = []
    for n in range(5):
        spool, _ = await store.begin(IMEI, "%photof", 1, n + 1, meta(WHEN + timedelta(seconds=n)))
        spool.append(b"x" * 1000)
        recs.append(await store.commit(spool, None, None))
    now = recs[-1].received_at
    assert apply_retention(store, 0, 0, now) == 0  # 0 = unlimited
    # Size: keep at most ~3000 bytes → the two oldest go.
    assert apply_retention(store, 0, 3000 / 1024**3, now) == 2
    assert [r.id for r in store.index.all()] == [r.id for r in recs[2:]]
    assert not recs[0].path.exists() and recs[2].path.exists()
    # Age: everything is older than one day, a week from now.
    assert apply_retention(store, 1, 0, now + timedelta(days=7)) == 3
    assert store.index.all() == []


async def test_stale_partials_are_dropped_by_age(store: MediaStore) -> None:
    spool, _ = await store.begin(IMEI, "%videof", 10, 1, None)
    fill(spool, DATA[:1024])
    store.release(spool)
    apply_retention(store, 30, 0, datetime.now(UTC))
    assert spool.part.exists()
    apply_retention(store, 30, 0, datetime.now(UTC) + timedelta(days=31))
    assert not spool.part.exists()


def test_an_index_from_before_announcements_is_migrated(tmp_path: Path) -> None:
    import sqlite3
    from datetime import timedelta

    from dualcam_bridge.camera.index import MediaIndex
    from dualcam_bridge.clock import now_utc

    db = sqlite3.connect(tmp_path / "index.sqlite3")
    db.execute(
        "CREATE TABLE media (id TEXT PRIMARY KEY, imei TEXT NOT NULL, camera TEXT NOT NULL, "
        "kind TEXT NOT NULL, path TEXT NOT NULL UNIQUE, size INTEGER NOT NULL, sha256 TEXT NOT "
        "NULL, captured_at TEXT, received_at TEXT NOT NULL, trigger TEXT, latitude REAL, "
        "longitude REAL, duration_s INTEGER, framerate INTEGER, mp4_path TEXT, crc_ok INTEGER, "
        "mp4_size INTEGER, mp4_sha256 TEXT)"
    )
    for mid, age in (("old", timedelta(days=30)), ("recent", timedelta(hours=1))):
        db.execute(
            "INSERT INTO media (id, imei, camera, kind, path, size, sha256, received_at) "
            "VALUES (?, '1', 'front', 'photo', ?, 1, 'x', ?)",
            (mid, f"/{mid}.jpg", (now_utc() - age).isoformat()),
        )
    db.commit()
    db.close()
    index = MediaIndex(tmp_path / "index.sqlite3")
    # Recent rows are announced again (the outbox drops ids it already took), old ones not.
    assert [r.id for r in index.unannounced(now_utc(), 10)] == ["recent"]
    index.mark_announced(["recent"])
    assert index.unannounced(now_utc(), 10) == []
    index.close()


@pytest.mark.parametrize("file_crc", [crc16_dualcam(DATA), 0])
async def test_a_complete_spool_is_committed_at_start_up(tmp_path: Path, file_crc: int) -> None:
    # The bridge died right after the last packet was written: no commit, no device.
    first = MediaStore(tmp_path / "data", Remuxer(enabled=False))
    spool, _ = await first.begin(IMEI, "%photof", 10, file_crc, meta())
    fill(spool, DATA)
    first.release(spool)
    first.close()
    store = MediaStore(tmp_path / "data", Remuxer(enabled=False))
    try:
        (rec,) = await store.finish_recovery()
        assert rec.path.read_bytes() == DATA and rec.captured_at == WHEN
        assert store.index.get(rec.id) == rec
        assert not list(store.spool_dir.rglob("*.part"))
        assert await store.finish_recovery() == []  # announced once
        # The device comes back for that file: it is told the file is stored.
        _, point = await store.begin(IMEI, "%photof", 10, file_crc, meta())
        assert point.next_packet == 10 and point.crc == crc16_dualcam(DATA[:9216])
    finally:
        store.close()


async def test_an_incomplete_or_mismatched_spool_waits_for_the_device(tmp_path: Path) -> None:
    first = MediaStore(tmp_path / "data", Remuxer(enabled=False))
    a, _ = await first.begin(IMEI, "%photof", 10, crc16_dualcam(DATA), meta())
    fill(a, DATA[:9216])  # the last packet is missing
    first.release(a)
    b, _ = await first.begin(IMEI, "%photor", 10, crc16_dualcam(DATA) ^ 1, meta(file_type=8))
    fill(b, DATA)  # every packet, but not the file the START announced
    first.release(b)
    first.close()
    store = MediaStore(tmp_path / "data", Remuxer(enabled=False))
    try:
        assert await store.finish_recovery() == []
        assert store.index.all() == []
        assert len(list(store.spool_dir.rglob("*.part"))) == 2
    finally:
        store.close()
