"""Records → events: camera state, SOS, position; exactly once, across restarts; retention."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dualcam_bridge.avl.database import AvlDatabase
from dualcam_bridge.avl.sos_clips import SosClipLinker
from dualcam_bridge.avl.tracker_state import TrackerState, record_key
from dualcam_bridge.events import CameraStateChanged, Position, PositionUpdated, SosTriggered
from dualcam_bridge.protocol.codec8 import AvlRecord

IMEI = "352094082736916"
OTHER = "352094082736917"
T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def rec(
    second: float,
    io: dict[int, int | bytes] | None = None,
    event: int = 0,
    lat: float = 54.6872,
    lon: float = 25.2797,
) -> AvlRecord:
    return AvlRecord(T0 + timedelta(seconds=second), 0, lon, lat, 112, 90, 11, 54, event, io or {})


def pos(second: float, lat: float = 54.6872, lon: float = 25.2797) -> Position:
    """The position ``rec`` carries, written out field by field."""
    when = T0 + timedelta(seconds=second)
    return Position(
        latitude=lat, longitude=lon, altitude=112, angle=90, speed=54, satellites=11, timestamp=when
    )


def kinds(events: list[object]) -> list[str]:
    return [type(e).__name__ for e in events]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "avl.sqlite3"


@pytest.fixture
def state(db_path: Path) -> Iterator[TrackerState]:
    db = AvlDatabase(db_path)
    yield TrackerState(db, SosClipLinker(db))
    db.close()


def handle(state: TrackerState, records: list[AvlRecord], imei: str = IMEI) -> list[object]:
    """Handle and deliver, like the server does before it ACKs."""
    handled = state.handle(imei, records)
    state.delivered(handled)
    return list(handled.events)


def test_camera_states_first_seen_then_only_changes(state: TrackerState) -> None:
    first = handle(state, [rec(0, {498: 3, 497: 1})])
    assert [e for e in first if isinstance(e, CameraStateChanged)] == [
        CameraStateChanged(IMEI, "front", 3, T0),
        CameraStateChanged(IMEI, "rear", 1, T0),
    ]
    assert handle(state, [rec(1, {498: 3, 497: 1}), rec(2, {498: 3, 497: 1})]) == [
        PositionUpdated(IMEI, pos(2))
    ]
    changed = handle(state, [rec(3, {498: 4, 497: 1}), rec(4, {498: 4, 497: 0})])
    states = [(e.camera, e.value) for e in changed if isinstance(e, CameraStateChanged)]
    assert states == [("front", 4), ("rear", 0)]
    assert state.camera_state(IMEI, "front") == 4 and state.camera_state(OTHER, "front") is None


def test_state_is_per_tracker(state: TrackerState) -> None:
    handle(state, [rec(0, {498: 3})])
    events = handle(state, [rec(0, {498: 3})], imei=OTHER)
    assert CameraStateChanged(OTHER, "front", 3, T0) in events


def test_an_older_record_does_not_override_a_newer_state(state: TrackerState) -> None:
    handle(state, [rec(10, {498: 3})])
    late = handle(state, [rec(5, {498: 1})])  # buffered history arriving late
    assert not [e for e in late if isinstance(e, CameraStateChanged)]
    assert state.camera_state(IMEI, "front") == 3


def test_a_resent_record_produces_nothing(state: TrackerState) -> None:
    packet = [rec(0, {498: 3, 499: 3}, event=499), rec(1, {498: 1})]
    assert kinds(handle(state, packet)) == [
        "CameraStateChanged",
        "SosTriggered",
        "CameraStateChanged",
        "PositionUpdated",
    ]
    again = state.handle(IMEI, packet)
    assert again.events == [] and again.duplicates == 2 and again.new == 0


def test_a_record_twice_in_one_packet_counts_once(state: TrackerState) -> None:
    sos = rec(0, {499: 3}, event=499)
    handled = state.handle(IMEI, [sos, sos])
    assert kinds(handled.events).count("SosTriggered") == 1 and handled.duplicates == 1


def test_restart_emits_nothing_for_unchanged_state_or_a_resend(db_path: Path) -> None:
    packet = [rec(0, {498: 3, 497: 3}), rec(1, {499: 3}, event=499)]
    db = AvlDatabase(db_path)
    assert len(handle(TrackerState(db), packet)) == 4
    db.close()
    db = AvlDatabase(db_path)  # the bridge restarted
    restarted = TrackerState(db)
    assert restarted.handle(IMEI, packet).events == []
    assert handle(restarted, [rec(2, {498: 3, 497: 3})]) == [PositionUpdated(IMEI, pos(2))]
    assert restarted.last_position(IMEI) == pos(2)
    db.close()


def test_events_not_yet_delivered_come_again_with_the_resend(db_path: Path) -> None:
    # The bridge stored the records, then died before the events went out (and before ACK).
    packet = [rec(0, {498: 2}), rec(1, {499: 1}, event=499)]
    db = AvlDatabase(db_path)
    lost = TrackerState(db).handle(IMEI, packet).events
    db.close()
    db = AvlDatabase(db_path)
    state = TrackerState(db)
    redelivered = state.handle(IMEI, packet)
    assert redelivered.events == lost and redelivered.new == 0
    state.delivered(redelivered)
    assert state.handle(IMEI, packet).events == []
    db.close()


def test_sos_carries_position_time_and_a_stable_id(state: TrackerState) -> None:
    record = rec(7, {499: 3, 498: 3}, event=499, lat=-33.5, lon=-70.25)
    (sos,) = [e for e in handle(state, [record]) if isinstance(e, SosTriggered)]
    assert (sos.value, sos.trigger, sos.timestamp) == (3, "crash", record.timestamp)
    assert sos.position == pos(7, lat=-33.5, lon=-70.25)
    assert sos.id == record_key(IMEI, record).hex()


@pytest.mark.parametrize(("event", "is_sos"), [(499, True), (0, True), (239, False)])
def test_sos_needs_499_as_the_event_or_an_unset_event(
    state: TrackerState, event: int, is_sos: bool
) -> None:
    events = handle(state, [rec(0, {499: 1, 239: 1}, event=event)])
    assert any(isinstance(e, SosTriggered) for e in events) is is_sos


def test_no_fix_is_no_position(state: TrackerState) -> None:
    events = handle(state, [rec(0, {499: 2}, event=499, lat=0, lon=0)])
    assert events == [SosTriggered(IMEI, 2, T0, None, events[0].id)]
    assert state.last_position(IMEI) is None


def test_position_only_for_the_newest_record(state: TrackerState) -> None:
    assert handle(state, [rec(5), rec(3), rec(4)]) == [PositionUpdated(IMEI, pos(5))]
    assert handle(state, [rec(1)]) == []  # older than what we know
    assert handle(state, [rec(6, lat=55.0)]) == [PositionUpdated(IMEI, pos(6, lat=55.0))]


def test_record_key_is_the_record_identity() -> None:
    base = rec(0, {498: 3, 1: 0, 11: b"\x01\x02"})
    same = rec(0, {11: b"\x01\x02", 1: 0, 498: 3})  # IO order does not matter
    assert record_key(IMEI, base) == record_key(IMEI, same)
    for other in (
        rec(0, {498: 4, 1: 0, 11: b"\x01\x02"}),
        rec(0.001, {498: 3, 1: 0, 11: b"\x01\x02"}),
    ):
        assert record_key(IMEI, other) != record_key(IMEI, base)
    assert record_key(OTHER, base) != record_key(IMEI, base)


def test_records_are_stored_and_pruned_by_retention(state: TrackerState) -> None:
    handle(state, [rec(0, {498: 3, 11: b"\xaa"}), rec(1, {499: 3}, event=499)])
    unhandled = state.handle(IMEI, [rec(2, {499: 1}, event=499)])  # not delivered yet
    db = state.db
    assert db.count("records") == 3 and db.count("sos") == 2
    assert db.prune(datetime.now(UTC) - timedelta(days=1)) == 0
    removed = db.prune(datetime.now(UTC) + timedelta(seconds=1))
    assert removed == 4  # 2 handled records + 2 SOS
    assert db.count("records") == 1  # the one still owing its events stays
    assert state.camera_state(IMEI, "front") == 3  # the state itself is not history
    state.release(unhandled)  # its delivery failed
    assert state.handle(IMEI, [rec(2, {499: 1}, event=499)]).events == unhandled.events


def test_pruning_goes_in_batches_beside_a_writer_on_its_own_connection(
    state: TrackerState,
) -> None:
    """Retention runs in a worker thread: batches, its own connection, writers keep going."""
    handle(state, [rec(i, {239: 1}) for i in range(45)])
    db = state.db
    writer_done = threading.Event()

    def write_more() -> None:
        # The loop's connection, writing while the other thread prunes (WAL + busy timeout).
        handle(state, [rec(100 + i, {239: 1}) for i in range(20)])
        writer_done.set()

    cutoff = datetime.now(UTC) + timedelta(seconds=1)
    with ThreadPoolExecutor(1) as pool:
        pruning = pool.submit(db.prune, cutoff, 10)  # 45 rows: five batches
        write_more()
        assert pruning.result(timeout=30) >= 45
    assert writer_done.is_set()
    # What the writer added after the pruner passed is left for the next pass; all goes then.
    assert db.count("records") <= 20
    db.prune(cutoff, 10)
    assert db.count("records") == 0


def test_a_resend_during_delivery_is_not_delivered_twice(state: TrackerState) -> None:
    packet = [rec(0, {499: 3}, event=499)]
    delivering = state.handle(IMEI, packet)
    assert len(delivering.events) == 2  # SOS + position
    assert state.handle(IMEI, packet).events == []  # resent on another link meanwhile
    state.release(delivering)  # the first delivery failed before it marked anything
    again = state.handle(IMEI, packet)
    assert again.events == delivering.events  # owed, so delivered now
    state.delivered(again)
    state.release(again)
    assert state.handle(IMEI, packet).events == []
