"""The command path: request → validated Codec 12 text → the tracker's queue → a structured reply.

    reply = await router.submit(imei, {"command": "camreq", "file_type": "photo", "source": "rear"})
    reply.ok, reply.command, reply.response, reply.result, reply.error

One command in flight per tracker, FIFO (``commands.CommandQueue``); a tracker that is offline
gets its commands when it logs in, unless their TTL ran out first. ``await router(imei,
payload)`` is the MQTT layer's ``CommandHandler``. Nothing here touches a socket: the AVL
server attaches each logged-in link (``tracker_connected``) and hands answers back
(``response_received``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..allowlist import DeviceAllowList
from ..contract import COMMANDS as COMMAND_NAMES
from ..contract import MAX_VIDEO_DURATION_S, MIN_VIDEO_DURATION_S
from .commands import (
    CAMREQ_INVALID,
    CameraRequestAccepted,
    CameraRequestRejected,
    CommandError,
    CommandOutcome,
    CommandQueue,
    CommandResult,
    ParamValues,
    QueuedCommand,
    get_params,
    raw,
    request_photo,
    request_video,
    set_camera_settings,
)

log = logging.getLogger(__name__)


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
    status: str  # completed | refused | timeout | expired | disconnected | cancelled
    response: str | None = None
    result: CommandResult | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form (the MQTT result takes ok/response/error from it)."""
        return {
            "ok": self.ok,
            "command": self.command,
            "status": self.status,
            "response": self.response,
            "error": self.error,
            "result": result_dict(self.result),
        }


def result_dict(result: CommandResult | None) -> dict[str, Any] | None:
    """A parsed answer as a JSON-able dict."""
    match result:
        case None:
            return None
        case CameraRequestAccepted():
            return {
                "type": "camera_request",
                "kind": result.kind,
                "source": result.source,
                "cameras": list(result.cameras),
                "duration_s": result.duration_s,
                "since": result.since.isoformat() if result.since else None,
            }
        case CameraRequestRejected():
            return {"type": "camera_request_rejected"}
        case ParamValues():
            return {"type": "params", "values": {str(k): v for k, v in result.values.items()}}
        case _:
            return {"type": "text"}


def command_text(request: str | Mapping[str, Any], *, now: float | None = None) -> str:
    """The Codec 12 text of a request (plain text or the MQTT contract's JSON); CommandError."""
    if isinstance(request, str):
        return raw(request)
    name = request.get("command")
    if name == "camreq":
        return _camreq(request, time.time() if now is None else now)
    if name == "setparam":
        params = request.get("params")
        if not isinstance(params, Mapping):
            raise CommandError("setparam needs 'params', an object of setting id → value")
        return set_camera_settings(params)
    if name == "getparam":
        ids = request.get("ids")
        if not isinstance(ids, list | tuple | str | int) or isinstance(ids, bool):
            raise CommandError("getparam needs 'ids', a list of parameter ids")
        return get_params(ids)
    if name == "raw":
        return raw(request.get("text"))  # type: ignore[arg-type]
    raise CommandError(f"unknown command {name!r}: one of {', '.join(COMMAND_NAMES)}")


def _camreq(request: Mapping[str, Any], now: float) -> str:
    kind = request.get("file_type")
    if kind in ("photo", 1, "1"):
        return request_photo(request.get("source"))  # type: ignore[arg-type]
    if kind not in ("video", 0, "0"):
        raise CommandError(f"{CAMREQ_INVALID} file_type: {kind!r} is not photo or video")
    duration = request.get("duration")
    if duration is None:
        raise CommandError(
            f"{CAMREQ_INVALID} duration: a video needs "
            f"{MIN_VIDEO_DURATION_S}-{MAX_VIDEO_DURATION_S} seconds"
        )
    start = request.get("timestamp")
    if start is None:
        # The contract: a video without a start is the last `duration` seconds.
        seconds = duration if isinstance(duration, int) and not isinstance(duration, bool) else 0
        start = int(now) - seconds
    return request_video(request.get("source"), start, duration)  # type: ignore[arg-type]


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
        self, imei: str, command: str | Mapping[str, Any], ttl: float | None = None
    ) -> CommandReply:
        """Queue a command for ``imei`` and wait for its end: answered, timed out, expired…"""
        if not self.devices.is_allowed(imei):
            log.warning("tracker %s: command refused: IMEI not in the device list", imei)
            return _refused(imei, None, f"tracker {imei} is not in the device list")
        text: str | None = None
        try:
            text = command_text(command)
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

    async def __call__(self, imei: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The MQTT ``CommandHandler``: a contract request → ``{"ok", "response", "error"…}``."""
        ttl = payload.get("ttl")
        if ttl is not None and (
            isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl <= 0
        ):
            return _refused(
                imei, None, f"ttl {ttl!r} is not a positive number of seconds"
            ).as_dict()
        reply = await self.submit(imei, payload, ttl)
        return reply.as_dict()

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
            except (ConnectionError, RuntimeError) as exc:
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
