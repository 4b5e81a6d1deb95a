"""SOS ↔ clip links: same IMEI, matching trigger, inside the window, in either order."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dualcam_bridge.avl.database import AvlDatabase, to_ms
from dualcam_bridge.avl.sos_clips import SosClipLinker
from dualcam_bridge.avl.tracker_state import TrackerState
from dualcam_bridge.events import MediaCompleted, SosClipLinked, SosTriggered
from dualcam_bridge.protocol.codec8 import AvlRecord

IMEI = "352094082736916"
OTHER = "352094082736917"
T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def sos_record(second: float = 0, value: int = 3) -> AvlRecord:
    return AvlRecord(
        T0 + timedelta(seconds=second), 2, 25.2797, 54.6872, 112, 0, 11, 50, 499, {499: value}
    )


def clip(
    media_id: str,
    *,
    camera: str = "front",
    captured: float | None = -5,
    received: float = 60,
    trigger: str | None = "crash",
    kind: str = "video",
    imei: str = IMEI,
) -> MediaCompleted:
    return MediaCompleted(
        id=media_id,
        imei=imei,
        camera=camera,  # type: ignore[arg-type]
        kind=kind,  # type: ignore[arg-type]
        path=Path(f"/media/{media_id}.h265"),
        size=1,
        sha256="0",
        received_at=T0 + timedelta(seconds=received),
        captured_at=None if captured is None else T0 + timedelta(seconds=captured),
        trigger=trigger,
    )


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[tuple[TrackerState, SosClipLinker]]:
    db = AvlDatabase(tmp_path / "avl.sqlite3")
    linker = SosClipLinker(db, window=120, pre_roll=15, upload_allowance=1800)
    yield TrackerState(db, linker), linker
    db.close()


def trigger(state: TrackerState, record: AvlRecord, imei: str = IMEI) -> tuple[str, list]:
    handled = state.handle(imei, [record])
    state.delivered(handled)
    (sos,) = [e for e in handled.events if isinstance(e, SosTriggered)]
    assert sos.id is not None
    return sos.id, [e for e in handled.events if isinstance(e, SosClipLinked)]


def test_sos_then_its_crash_clips(parts) -> None:
    state, linker = parts
    sos_id, early = trigger(state, sos_record())
    assert early == [] and linker.find_clip_for_sos(sos_id) is None
    (front,) = linker.media_completed(clip("f1"))  # recorded 5 s before the trigger
    assert front == SosClipLinked(IMEI, sos_id, "f1", "front", Path("/media/f1.h265"), "crash")
    (rear,) = linker.media_completed(clip("r1", camera="rear", captured=-4))
    assert rear.camera == "rear"
    found = linker.find_clip_for_sos(sos_id)
    assert found is not None and (found.media_id, found.camera) == ("f1", "front")
    assert linker.find_clip_for_sos(sos_id, "rear").media_id == "r1"  # type: ignore[union-attr]
    assert [c.media_id for c in linker.clips_for_sos(sos_id)] == ["f1", "r1"]
    linked = "SELECT sos_id FROM sos_clips WHERE media_id = 'r1'"
    assert linker.db.conn.execute(linked).fetchall() == [(sos_id,)]
    # A second crash clip of the same camera is not the clip of the same SOS again.
    assert linker.media_completed(clip("f2", captured=30)) == []


def test_a_clip_that_arrived_first_is_linked_when_its_sos_comes(parts) -> None:
    state, linker = parts
    assert linker.media_completed(clip("f1", captured=-3)) == []
    sos_id, links = trigger(state, sos_record())
    assert [(link.sos_id, link.media_id) for link in links] == [(sos_id, "f1")]
    assert linker.find_clip_for_sos(sos_id).media_id == "f1"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "candidate",
    [
        clip("x", trigger="din1"),  # another cause
        clip("x", trigger="periodic"),
        clip("x", trigger=None),
        clip("x", kind="photo"),  # a photo is not the clip
        clip("x", imei=OTHER),
        clip("x", captured=-16),  # before the pre-roll
        clip("x", captured=121),  # after the window
        clip("x", captured=None, received=-16),  # received before the SOS happened
        clip("x", captured=None, received=1921),  # beyond window + upload allowance
    ],
)
def test_what_does_not_link(parts, candidate: MediaCompleted) -> None:
    state, linker = parts
    sos_id, _ = trigger(state, sos_record())
    assert linker.media_completed(candidate) == []
    assert linker.find_clip_for_sos(sos_id) is None


def test_without_capture_time_the_upload_time_counts(parts) -> None:
    state, linker = parts
    sos_id, _ = trigger(state, sos_record())
    (link,) = linker.media_completed(clip("f1", captured=None, received=900))
    assert link.sos_id == sos_id


@pytest.mark.parametrize(("value", "name"), [(0, "server_request"), (1, "din1"), (2, "din2")])
def test_each_cause_links_its_own_trigger(parts, value: int, name: str) -> None:
    state, linker = parts
    sos_id, _ = trigger(state, sos_record(value=value))
    assert linker.media_completed(clip("c", trigger="crash")) == []
    (link,) = linker.media_completed(clip("m", trigger=name))
    assert (link.sos_id, link.trigger) == (sos_id, name)


def test_the_latest_fitting_sos_gets_the_clip(parts) -> None:
    state, linker = parts
    first, _ = trigger(state, sos_record(0))
    second, _ = trigger(state, sos_record(60))
    (link,) = linker.media_completed(clip("f", captured=58))  # pre-roll of the second crash
    assert link.sos_id == second
    (older,) = linker.media_completed(clip("g", captured=10))
    assert older.sos_id == first


def test_links_survive_a_restart(tmp_path: Path) -> None:
    db = AvlDatabase(tmp_path / "avl.sqlite3")
    sos_id, _ = trigger(TrackerState(db, SosClipLinker(db)), sos_record())
    db.close()
    db = AvlDatabase(tmp_path / "avl.sqlite3")
    linker = SosClipLinker(db)
    (link,) = linker.media_completed(clip("f1"))
    assert link.sos_id == sos_id
    assert (link.imei, link.trigger) == (IMEI, "crash")
    stored = db.conn.execute("SELECT imei, value, timestamp_ms FROM sos").fetchall()
    assert stored == [(IMEI, 3, to_ms(T0))]
    db.close()
