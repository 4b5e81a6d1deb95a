"""The SQLite outbox on its own: order, durability, the media-id memory, the size bound."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from dualcam_bridge.mqtt.outbox import Outbox, OutMessage, Priority, open_db


def outbox(path: Path, max_bytes: int = 10_000_000) -> Outbox:
    """An outbox on a fresh connection to ``path``."""
    return Outbox(open_db(path), max_bytes)


def drain(box: Outbox) -> list[str]:
    """Send everything one device message at a time, as the publisher does; return topics."""
    sent = []
    while items := box.ready(busy=(), limit=100):
        for item in items:
            sent.append(item.topic)
            box.ack(item)
    return sent


def test_wal_mode_and_tables(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "deep" / "mqtt.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"outbox", "retained", "published_media", "devices"} <= tables


def test_order_per_device_and_one_in_flight_each(tmp_path: Path) -> None:
    def burst() -> list[list[OutMessage]]:
        return [
            [OutMessage("a", f"a/{n}", b"x"), OutMessage("b", f"b/{n}", b"y")] for n in range(3)
        ]

    # Exactly room for one burst: the bound shows whether acks give every byte back.
    box = outbox(tmp_path / "o.db", max_bytes=sum(m.size for pair in burst() for m in pair))
    for pair in burst():
        box.enqueue(pair)
    heads = box.ready(busy=(), limit=10)
    assert [i.topic for i in heads] == ["a/0", "b/0"]
    assert [i.topic for i in box.ready(busy={"a"}, limit=10)] == ["b/0"]
    assert box.ready(busy=(), limit=1)[0].topic == "a/0"
    sent = drain(box)
    assert [t for t in sent if t.startswith("a")] == ["a/0", "a/1", "a/2"]
    assert [t for t in sent if t.startswith("b")] == ["b/0", "b/1", "b/2"]
    assert len(box) == 0
    for pair in burst():
        box.enqueue(pair)
    assert len(box) == 6, "the outbox is empty again: a full burst fits without a drop"


def test_devices_take_turns(tmp_path: Path) -> None:
    box = outbox(tmp_path / "o.db")
    for device in "abc":
        box.enqueue([OutMessage(device, f"{device}/{n}", b"x") for n in range(3)])
    order = []
    while items := box.ready(busy=(), limit=1):  # room for one message at a time
        order.append(items[0].topic)
        box.ack(items[0])
    assert order[:3] == ["a/0", "b/0", "c/0"], "a busy device must not starve the others"


def test_unacknowledged_messages_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    box = outbox(path)
    box.enqueue([OutMessage("a", "a/1", b"one"), OutMessage("a", "a/2", b"two")])
    first = box.ready((), 1)[0]
    box.ack(first)
    box.enqueue([OutMessage("a", "a/3", b"three")])
    # No close, no commit beyond what enqueue/ack did: like a process that was killed.
    again = outbox(path)
    assert len(again) == 2
    items = []
    while ready := again.ready((), 1):
        items.append(ready[0])
        again.ack(ready[0])
    assert [(i.topic, i.payload) for i in items] == [("a/2", b"two"), ("a/3", b"three")]


def test_file_payloads_are_referenced_not_copied(tmp_path: Path) -> None:
    big = tmp_path / "video.mp4"
    big.write_bytes(b"\0" * 1_000_000)
    box = outbox(tmp_path / "o.db", max_bytes=1000)  # the file alone is 1000 times that
    box.enqueue([OutMessage("a", "a/video", path=big, priority=Priority.BULK)])
    assert len(box) == 1, "the reference costs bytes, not the file: nothing dropped"
    item = box.ready((), 1)[0]
    assert item.payload is None and item.path == big
    assert (tmp_path / "o.db").stat().st_size < 100_000


def test_a_media_id_is_accepted_once_ever(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    box = outbox(path)
    assert box.enqueue([OutMessage("a", "a/media", b"1")], media_id="m1")
    assert not box.enqueue([OutMessage("a", "a/media", b"again")], media_id="m1")
    drain(box)
    reopened = outbox(path)
    assert not reopened.enqueue([OutMessage("a", "a/media", b"after restart")], media_id="m1")
    assert len(reopened) == 0


def test_retained_snapshot_holds_the_newest_and_skips_queued_topics(tmp_path: Path) -> None:
    box = outbox(tmp_path / "o.db")
    for n in range(3):
        box.enqueue([OutMessage("a", "a/position", str(n).encode(), retain=True)])
    box.enqueue([OutMessage("a", "a/sos", b"sos")])  # not retained: never in the snapshot
    assert box.retained_snapshot() == []  # the queue will deliver the newest itself
    drain(box)
    [state] = box.retained_snapshot()
    assert (state.topic, state.payload, state.retain) == ("a/position", b"2", True)


def test_size_bound_drops_least_important_oldest_first(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    box = outbox(tmp_path / "o.db", max_bytes=2_600)
    blob = b"x" * 400
    for n in range(3):
        position = OutMessage(
            "a", "a/position", blob + b"%d" % n, retain=True, priority=Priority.STATE
        )
        box.enqueue([position])
    box.enqueue([OutMessage("a", "a/sos", blob + b"0")])
    box.enqueue([OutMessage("a", "a/video", path=tmp_path / "v", priority=Priority.BULK)])
    assert len(box) == 5
    with caplog.at_level(logging.WARNING):
        for n in range(1, 5):
            box.enqueue([OutMessage("a", "a/sos", blob + b"%d" % n)])
    left = []
    while ready := box.ready((), 1):
        left.append((ready[0].topic, ready[0].payload))
        box.ack(ready[0])
    # Positions went first (oldest first), then the video reference; every SOS is kept.
    assert left == [("a/sos", blob + b"%d" % n) for n in range(5)]
    # One warning (then at most one a minute), naming the setting and what went.
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "mqtt.outbox_max_mb" in warning and "1 position" in warning


def test_rollback_keeps_memory_and_disk_in_step(tmp_path: Path) -> None:
    box = outbox(tmp_path / "o.db")
    box.enqueue([OutMessage("a", "a/1", b"1")])
    with pytest.raises(TypeError):
        box.enqueue([OutMessage("a", "a/2", b"2"), OutMessage("a", "a/3", payload=object())])  # type: ignore[arg-type]
    assert len(box) == 1
    assert drain(box) == ["a/1"]
