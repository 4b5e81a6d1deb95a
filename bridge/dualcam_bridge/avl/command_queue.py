"""The per-tracker command queue: FIFO, one command in flight, answer matching, timeout, TTL.

Pure: no sockets, no clock. The queue takes ``now`` (a monotonic reading such as
``loop.time()``) in every call that needs time, so an asyncio layer (``router``) drives it::

    queue.submit(imei, request_video("rear", start, 10), now=loop.time())
    queue.connected(imei)
    if (cmd := queue.next_command(imei, now=loop.time())):   write(conn.send_command(cmd.text))
    outcome = queue.response(imei, event.text, now=loop.time())   # on CommandResponse
    for outcome in queue.expire(now=loop.time()): ...         # at queue.next_deadline()
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from ..contract import is_imei
from .command_text import CommandError, raw
from .replies import CameraRequestRejected, CommandResult, parse_response, response_matches

CommandStatus = Literal["completed", "timeout", "expired", "disconnected", "cancelled"]


@dataclass(frozen=True, slots=True)
class QueuedCommand:
    """A command waiting for, or on, its tracker."""

    id: int
    imei: str
    text: str
    submitted_at: float
    expires_at: float  # dropped unsent after this


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    """How a command ended; ``result`` is set when the tracker answered."""

    command: QueuedCommand
    status: CommandStatus
    at: float
    result: CommandResult | None = None

    @property
    def ok(self) -> bool:
        """Answered, and not with a refusal."""
        return self.status == "completed" and not isinstance(self.result, CameraRequestRejected)


@dataclass(slots=True)
class _Tracker:
    queued: deque[QueuedCommand] = field(default_factory=deque)
    in_flight: QueuedCommand | None = None
    sent_at: float = 0.0
    online: bool = False


class CommandQueue:
    """Per-tracker FIFO with one command in flight, answer matching, timeout and TTL."""

    def __init__(self, *, timeout: float = 30.0, ttl: float = 3600.0, max_queued: int = 32) -> None:
        self.timeout = timeout
        self.ttl = ttl
        self.max_queued = max_queued
        self._trackers: dict[str, _Tracker] = {}
        self._next_id = 1
        self._finished: list[CommandOutcome] = []  # expired heads found by next_command

    def submit(
        self, imei: str, text: str, *, now: float, ttl: float | None = None
    ) -> QueuedCommand:
        """Queue ``text`` for ``imei``; it waits while the tracker is offline, up to ``ttl`` s."""
        if not is_imei(imei):
            raise CommandError(f"IMEI {imei!r} is not 15 digits")
        tracker = self._trackers.setdefault(imei, _Tracker())
        if len(tracker.queued) >= self.max_queued:
            raise CommandError(f"{len(tracker.queued)} commands already wait for {imei}")
        command = QueuedCommand(
            self._next_id, imei, raw(text), now, now + (self.ttl if ttl is None else ttl)
        )
        self._next_id += 1
        tracker.queued.append(command)
        return command

    def connected(self, imei: str) -> None:
        """The tracker logged in: its queue may drain."""
        self._trackers.setdefault(imei, _Tracker()).online = True

    def disconnected(self, imei: str, *, now: float) -> list[CommandOutcome]:
        """The link dropped: a command in flight ends as ``disconnected`` (never resent, it may
        have run); queued ones keep waiting."""
        tracker = self._trackers.get(imei)
        if tracker is None:
            return []
        tracker.online = False
        outcomes = []
        if tracker.in_flight is not None:
            outcomes.append(CommandOutcome(tracker.in_flight, "disconnected", now))
            tracker.in_flight = None
        self._prune(imei)
        return outcomes

    def next_command(self, imei: str, *, now: float) -> QueuedCommand | None:
        """The command to send now, marked in flight; None if offline, busy or empty."""
        tracker = self._trackers.get(imei)
        if tracker is None or not tracker.online or tracker.in_flight is not None:
            return None
        while tracker.queued:
            command = tracker.queued.popleft()
            if command.expires_at <= now:
                self._finished.append(CommandOutcome(command, "expired", now))
                continue
            tracker.in_flight, tracker.sent_at = command, now
            return command
        return None

    def in_flight(self, imei: str) -> QueuedCommand | None:
        """The command sent and not yet answered."""
        tracker = self._trackers.get(imei)
        return tracker.in_flight if tracker else None

    def queued(self, imei: str) -> tuple[QueuedCommand, ...]:
        """Commands waiting to be sent, oldest first."""
        tracker = self._trackers.get(imei)
        return tuple(tracker.queued) if tracker else ()

    def response(self, imei: str, text: str, *, now: float) -> CommandOutcome | None:
        """Match a reply to the command in flight; None when nothing is in flight or it
        plainly answers another command (a late reply to one that timed out)."""
        tracker = self._trackers.get(imei)
        if tracker is None or tracker.in_flight is None:
            return None
        result = parse_response(text)
        if not response_matches(tracker.in_flight.text, result):
            return None
        outcome = CommandOutcome(tracker.in_flight, "completed", now, result)
        tracker.in_flight = None
        return outcome

    def cancel(self, command_id: int, *, now: float) -> CommandOutcome | None:
        """Drop a queued command; one already sent cannot be taken back (returns None)."""
        for imei, tracker in self._trackers.items():
            for command in tracker.queued:
                if command.id == command_id:
                    tracker.queued.remove(command)
                    self._prune(imei)
                    return CommandOutcome(command, "cancelled", now)
        return None

    def expire(self, *, now: float) -> list[CommandOutcome]:
        """End commands whose answer timed out or whose TTL ran out while waiting."""
        outcomes, self._finished = self._finished, []
        for imei, tracker in list(self._trackers.items()):
            if tracker.in_flight is not None and tracker.sent_at + self.timeout <= now:
                outcomes.append(CommandOutcome(tracker.in_flight, "timeout", now))
                tracker.in_flight = None
            alive = deque(c for c in tracker.queued if c.expires_at > now)
            if len(alive) != len(tracker.queued):
                outcomes.extend(
                    CommandOutcome(c, "expired", now) for c in tracker.queued if c.expires_at <= now
                )
                tracker.queued = alive
            self._prune(imei)
        return outcomes

    def next_deadline(self) -> float | None:
        """When ``expire`` next has work; None when nothing waits."""
        if self._finished:
            return self._finished[0].at
        deadlines = [
            deadline
            for tracker in self._trackers.values()
            for deadline in (
                *(c.expires_at for c in tracker.queued),
                *((tracker.sent_at + self.timeout,) if tracker.in_flight else ()),
            )
        ]
        return min(deadlines, default=None)

    def _prune(self, imei: str) -> None:
        # Forget idle offline trackers so the map does not grow with every IMEI ever seen.
        tracker = self._trackers[imei]
        if not tracker.online and tracker.in_flight is None and not tracker.queued:
            del self._trackers[imei]
