"""The clock-injected per-tracker queue: FIFO, one in flight, matching, timeout, TTL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dualcam_bridge.avl.command_queue import CommandQueue
from dualcam_bridge.avl.command_text import (
    CAMREQ_INVALID,
    CommandError,
    request_photo,
    request_video,
)
from dualcam_bridge.avl.replies import CameraRequestAccepted

IMEI = "356307042441013"
OTHER = "350612071913857"
START = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)


def test_fifo_one_in_flight_and_matching() -> None:
    queue = CommandQueue()
    first = queue.submit(IMEI, request_photo("front"), now=0)
    second = queue.submit(IMEI, request_video("rear", START, 10), now=1)
    assert queue.next_command(IMEI, now=2) is None  # offline: waits
    queue.connected(IMEI)
    assert queue.next_command(IMEI, now=3) == first
    assert queue.next_command(IMEI, now=3) is None  # one in flight
    assert queue.in_flight(IMEI) == first and queue.queued(IMEI) == (second,)
    outcome = queue.response(IMEI, "Request for photo from source 1 received", now=4)
    assert outcome is not None and outcome.ok and outcome.command == first
    assert outcome.status == "completed" and outcome.at == 4
    assert isinstance(outcome.result, CameraRequestAccepted)
    assert queue.next_command(IMEI, now=5) == second


def test_queues_are_per_tracker() -> None:
    queue = CommandQueue()
    queue.submit(IMEI, "getinfo", now=0)
    other = queue.submit(OTHER, "getver", now=0)
    queue.connected(OTHER)
    assert queue.next_command(IMEI, now=1) is None
    assert queue.next_command(OTHER, now=1) == other


def test_refusal_completes_but_is_not_ok() -> None:
    queue = CommandQueue()
    queue.connected(IMEI)
    queue.submit(IMEI, "camreq:0,1,1795694400,10", now=0)
    queue.next_command(IMEI, now=0)
    outcome = queue.response(IMEI, CAMREQ_INVALID, now=1)
    assert outcome is not None and outcome.status == "completed" and not outcome.ok


def test_timeout_then_late_reply_is_unmatched() -> None:
    queue = CommandQueue(timeout=30)
    queue.connected(IMEI)
    queue.submit(IMEI, "setparam 66001:50", now=0)
    nxt = queue.submit(IMEI, "camreq:1,2", now=0)
    queue.next_command(IMEI, now=10)
    assert queue.next_deadline() == 40
    assert queue.expire(now=39.9) == []
    (timeout,) = queue.expire(now=40)
    assert timeout.status == "timeout" and timeout.result is None
    assert queue.response(IMEI, "New value 66001:50;", now=41) is None  # nothing in flight
    assert queue.next_command(IMEI, now=42) == nxt
    # The setparam answer arriving while the camreq is in flight is not taken for its answer.
    assert queue.response(IMEI, "New value 66001:50;", now=43) is None
    done = queue.response(IMEI, "Request for photo from source 2 received", now=44)
    assert done is not None and done.command == nxt


def test_ttl_runs_out_for_an_offline_tracker() -> None:
    queue = CommandQueue(ttl=600)
    short = queue.submit(IMEI, "getinfo", now=0, ttl=60)
    long = queue.submit(IMEI, "getver", now=0)
    assert queue.next_deadline() == 60
    (expired,) = queue.expire(now=60)
    assert expired.command == short and expired.status == "expired"
    assert queue.queued(IMEI) == (long,)
    queue.connected(IMEI)
    assert queue.next_command(IMEI, now=100) == long


def test_expired_head_is_skipped_when_the_tracker_connects() -> None:
    queue = CommandQueue()
    stale = queue.submit(IMEI, "getinfo", now=0, ttl=5)
    fresh = queue.submit(IMEI, "getver", now=0)
    queue.connected(IMEI)
    assert queue.next_command(IMEI, now=10) == fresh
    assert queue.next_deadline() == 10
    (outcome,) = queue.expire(now=11)
    assert outcome.command == stale and outcome.status == "expired" and outcome.at == 10


def test_disconnect_ends_the_command_in_flight_and_keeps_the_rest() -> None:
    queue = CommandQueue()
    queue.connected(IMEI)
    sent = queue.submit(IMEI, "getinfo", now=0)
    waiting = queue.submit(IMEI, "getver", now=0)
    queue.next_command(IMEI, now=1)
    (outcome,) = queue.disconnected(IMEI, now=2)
    assert outcome.command == sent and outcome.status == "disconnected"
    assert queue.queued(IMEI) == (waiting,)
    assert queue.next_command(IMEI, now=3) is None
    queue.connected(IMEI)
    assert queue.next_command(IMEI, now=4) == waiting


def test_cancel() -> None:
    queue = CommandQueue()
    command = queue.submit(IMEI, "getinfo", now=0)
    outcome = queue.cancel(command.id, now=1)
    assert outcome is not None and outcome.status == "cancelled"
    assert queue.cancel(command.id, now=2) is None
    assert queue.next_deadline() is None


def test_submit_refusals() -> None:
    queue = CommandQueue(max_queued=2)
    with pytest.raises(CommandError, match="15 digits"):
        queue.submit("12345", "getinfo", now=0)
    with pytest.raises(CommandError, match="printable ASCII"):
        queue.submit(IMEI, "getinfo\r\n", now=0)
    queue.submit(IMEI, "getinfo", now=0)
    queue.submit(IMEI, "getver", now=0)
    with pytest.raises(CommandError, match="2 commands already wait"):
        queue.submit(IMEI, "getio", now=0)


def test_response_for_an_unknown_tracker_is_unmatched() -> None:
    assert CommandQueue().response(IMEI, "anything", now=0) is None
    assert CommandQueue().disconnected(IMEI, now=0) == []


def test_ids_are_unique_and_increasing() -> None:
    queue = CommandQueue()
    ids = [queue.submit(IMEI, "getinfo", now=0).id for _ in range(3)]
    assert ids == sorted(set(ids))
