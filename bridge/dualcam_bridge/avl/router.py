"""The command path's asyncio layer: typed request → Codec 12 text → the tracker's queue → reply.

    reply = await router.submit(imei, CameraPhotoRequest(source=2))   # or plain text: "getinfo"
    reply.ok, reply.command, reply.response, reply.result, reply.error

One command in flight per tracker, FIFO (``command_queue.CommandQueue``); a tracker that is
offline gets its commands when it logs in, unless their TTL ran out first. The router knows
nothing of MQTT (``mqtt.commands`` turns payloads into ``requests`` and replies into results)
and touches no socket: the AVL server attaches each logged-in link (``tracker_connected``) and
hands answers back (``response_received``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Literal, Protocol

from ..allowlist import DeviceAllowList
from ..protocol.errors import LocalProtocolError
from .command_queue import CommandOutcome, CommandQueue, CommandStatus, QueuedCommand
from .command_text import CommandError, raw
from .replies import CommandResult
from .requests import CommandRequest

log = logging.getLogger(__name__)

ReplyStatus = CommandStatus | Literal["refused"]


class CommandLink(Protocol):
    """What the router needs of a logged-in tracker link."""

    def send_command(self, text: str) -> None:
        """Write one Codec 12 command; raises ``ConnectionError`` when the link is closing."""

    def forget_command(self) -> None:
        """The oldest command timed out: a late answer is no longer expected."""


@dataclass(frozen=True, slots=True)
class CommandReply:
    """How a command ended: ``ok``, the text sent, the tracker's answer, or why not."""

    ok: bool
    imei: str
    command: str | None  # the Codec 12 text; None when refused before it was built
    status: ReplyStatus
    response: str | None = None
    result: CommandResult | None = None
    error: str | None = None


class CommandRouter:
    """Per-tracker command queues bound to the trackers' live links."""

    def __init__(
        self,
        devices: DeviceAllowList,
        *,
        timeout: float = 30.0,
        ttl: float = 300.0,
        max_queued: int = 32,
    ) -> None:
        self.devices = devices
        self.queue = CommandQueue(timeout=timeout, ttl=ttl, max_queued=max_queued)
        self._links: dict[str, CommandLink] = {}
        self._waiting: dict[int, tuple[QueuedCommand, asyncio.Future[CommandOutcome]]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # ---- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the timer that ends timed-out and expired commands."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="command-router")

    async def stop(self) -> None:
        """Stop; every waiting caller gets a ``cancelled`` reply."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        now = _now()
        for command, future in self._waiting.values():
            if not future.done():
                future.set_result(CommandOutcome(command, "cancelled", now))
        self._waiting.clear()

    # ---- the API -----------------------------------------------------------------------------

    async def submit(
        self, imei: str, command: CommandRequest | str, ttl: float | None = None
    ) -> CommandReply:
        """Queue a command for ``imei`` and wait for its end: answered, timed out, expired…

        ``command`` is a typed request or plain command text; ``ttl`` (seconds) overrides how
        long it may wait for an offline tracker. A refusal is a reply, never an exception.
        """
        if not self.devices.is_allowed(imei):
            log.warning("tracker %s: command refused: IMEI not in the device list", imei)
            return _refused(imei, None, f"tracker {imei} is not in the device list")
        text: str | None = None
        try:
            text = raw(command) if isinstance(command, str) else command.to_text()
            queued = self.queue.submit(imei, text, now=_now(), ttl=ttl)
        except CommandError as exc:
            log.info("tracker %s: command refused: %s", imei, exc)
            return _refused(imei, text, str(exc))
        future: asyncio.Future[CommandOutcome] = asyncio.get_running_loop().create_future()
        self._waiting[queued.id] = (queued, future)
        await self.start()
        self._pump(imei)
        self._wake.set()
        try:
            outcome = await future
        except asyncio.CancelledError:
            # The caller gave up: a command not yet sent is not sent at all.
            self.queue.cancel(queued.id, now=_now())
            self._waiting.pop(queued.id, None)
            raise
        return self._reply(outcome)

    # ---- the AVL server's side ---------------------------------------------------------------

    def tracker_connected(self, imei: str, link: CommandLink) -> None:
        """A tracker logged in on ``link``: its queue drains."""
        if self._links.get(imei) not in (None, link):
            # A new link supersedes the old: an answer on the old one can no longer come.
            self._settle(self.queue.disconnected(imei, now=_now()))
        self._links[imei] = link
        self.queue.connected(imei)
        self._pump(imei)

    def tracker_disconnected(self, imei: str, link: CommandLink) -> None:
        """The link ended: a command in flight ends ``disconnected``, queued ones wait."""
        if self._links.get(imei) is not link:
            return  # superseded: the newer link owns the queue
        del self._links[imei]
        self._settle(self.queue.disconnected(imei, now=_now()))

    def response_received(self, imei: str, text: str) -> bool:
        """An answer from the tracker; False when no command in flight matches it."""
        outcome = self.queue.response(imei, text, now=_now())
        if outcome is None:
            return False
        self._settle([outcome])
        self._pump(imei)
        return True

    def pending(self, imei: str) -> int:
        """Commands queued or in flight for a tracker."""
        return len(self.queue.queued(imei)) + (self.queue.in_flight(imei) is not None)

    # ---- internals ---------------------------------------------------------------------------

    def _pump(self, imei: str) -> None:
        link = self._links.get(imei)
        if link is None:
            return
        now = _now()
        command = self.queue.next_command(imei, now=now)
        if command is not None:
            try:
                link.send_command(command.text)
                log.info("tracker %s: sent command %r", imei, command.text)
            except (ConnectionError, LocalProtocolError) as exc:
                log.info("tracker %s: could not send %r: %s", imei, command.text, exc)
                self._settle(self.queue.disconnected(imei, now=now))
        self._settle(self.queue.expire(now=now))  # heads next_command found expired
        self._wake.set()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            deadline = self.queue.next_deadline()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(deadline):
                    await self._wake.wait()
            try:
                self._expire()
            except Exception:
                # The timer must outlive a bug, or no command would ever time out again.
                log.exception("command router: expiring commands failed")

    def _expire(self) -> None:
        outcomes = self.queue.expire(now=_now())
        self._settle(outcomes)
        for outcome in outcomes:
            if outcome.status == "timeout" and (link := self._links.get(outcome.command.imei)):
                link.forget_command()
                self._pump(outcome.command.imei)

    def _settle(self, outcomes: list[CommandOutcome]) -> None:
        for outcome in outcomes:
            command = outcome.command
            if outcome.status != "completed":
                log.info("tracker %s: command %r %s", command.imei, command.text, outcome.status)
            _, future = self._waiting.pop(command.id, (None, None))
            if future is not None and not future.done():
                future.set_result(outcome)

    def _reply(self, outcome: CommandOutcome) -> CommandReply:
        command = outcome.command
        imei, status, result = command.imei, outcome.status, outcome.result
        if status == "completed":
            assert result is not None
            error = None if outcome.ok else f"the tracker refused the command: {result.text}"
            return CommandReply(outcome.ok, imei, command.text, status, result.text, result, error)
        errors = {
            "timeout": f"no answer from tracker {imei} within {self.queue.timeout:g} s",
            "expired": f"tracker {imei} did not connect within the command's TTL of "
            f"{command.expires_at - command.submitted_at:g} s",
            "disconnected": f"tracker {imei} disconnected before answering (it may have run)",
            "cancelled": "the command was cancelled (the bridge is stopping)",
        }
        return CommandReply(False, imei, command.text, status, error=errors.get(status, status))


def _now() -> float:
    return asyncio.get_running_loop().time()


def _refused(imei: str, text: str | None, error: str) -> CommandReply:
    return CommandReply(False, imei, text, "refused", error=error)
