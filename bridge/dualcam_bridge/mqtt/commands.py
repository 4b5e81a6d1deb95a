"""The MQTT contract of commands: ``P/<imei>/command`` payload in, ``…/command/result`` out.

Owns the request payload (``{"id", "command", <arguments>, "ttl"}``), its parsing into a typed
request of the AVL side (``avl.requests``), and the result object
``{"id", "ok", "command", "response", "error"}``. Argument values are checked with the AVL
side's ``command_text`` (one wording for every caller, the firmware's for a ``camreq``);
running a command is the injected :class:`CommandHandler`'s job (the bridge passes
``CommandRouter.submit``). Every request gets exactly one result, never an exception.

    {"id": "1", "command": "camreq", "file_type": "photo", "source": "front"}
    {"command": "camreq", "file_type": "video", "source": "rear", "duration": 10,
     "timestamp": 1795694400}          # no timestamp: the last `duration` seconds
    {"command": "setparam", "params": {"66001": 50, "osd": 1}}
    {"command": "getparam", "ids": [66000, "compression"]}
    {"command": "raw", "text": "getinfo", "ttl": 60}
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..avl.command_text import (
    CAMREQ_INVALID,
    MAX_VIDEO_DURATION_S,
    CommandError,
    camera_setting_values,
    camera_source,
    param_ids,
    raw,
    video_duration,
    video_start,
)
from ..avl.replies import CameraRequestAccepted, CameraRequestRejected, CommandResult, ParamValues
from ..avl.requests import (
    CameraPhotoRequest,
    CameraVideoRequest,
    CommandRequest,
    GetParams,
    RawCommand,
    SetCameraSettings,
)
from ..avl.router import CommandReply
from ..contract import COMMANDS, is_imei

log = logging.getLogger(__name__)


class CommandHandler(Protocol):
    """The command API: run one typed request for one tracker (``CommandRouter.submit``)."""

    def __call__(
        self, imei: str, request: CommandRequest, ttl: float | None, /
    ) -> Awaitable[CommandReply]:
        """Queue ``request`` for ``imei`` (waiting at most ``ttl`` s offline); its reply."""
        ...


async def unavailable_command_handler(
    imei: str, request: CommandRequest, ttl: float | None
) -> CommandReply:
    """Placeholder until the command API is plugged in: refuses every command."""
    error = "commands are not available: the bridge has no command handler configured"
    return CommandReply(False, imei, None, "refused", error=error)


# ---- payload → typed request -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommandMessage:
    """A well-formed request from ``P/<imei>/command``."""

    id: object  # echoed in the result, whatever JSON the sender chose
    name: str  # the contract's command name, echoed in the result
    request: CommandRequest
    ttl: float | None  # seconds it may wait for an offline tracker; None: the bridge's default


@dataclass(frozen=True, slots=True)
class RefusedMessage:
    """A request refused before it reached the command API, and why."""

    id: object
    name: str | None
    error: str


def parse_request(
    target: str, payload: bytes, *, now: float | None = None
) -> CommandMessage | RefusedMessage:
    """Check a request on ``P/<target>/command``; ``now`` (Unix s) places a video without start."""
    try:
        request = json.loads(payload.decode("utf-8"))
    except UnicodeDecodeError:
        return RefusedMessage(None, None, "payload is not UTF-8 text")
    except json.JSONDecodeError as exc:
        return RefusedMessage(None, None, f"payload is not valid JSON: {exc}")
    if not isinstance(request, dict):
        return RefusedMessage(None, None, "payload must be a JSON object")
    command_id, name = request.get("id"), request.get("command")
    if not is_imei(target):
        error = f"invalid IMEI {target!r} in the topic: expected the tracker's 15 digits"
        return RefusedMessage(command_id, name if isinstance(name, str) else None, error)
    if name is None:
        return RefusedMessage(command_id, None, f"missing 'command' (one of {', '.join(COMMANDS)})")
    if not isinstance(name, str) or not name:
        error = f"'command' must be a string (one of {', '.join(COMMANDS)})"
        return RefusedMessage(command_id, None, error)
    try:
        ttl = _ttl(request.get("ttl"))
        typed = command_request(request, now=time.time() if now is None else now)
    except CommandError as exc:
        return RefusedMessage(command_id, name, str(exc))
    return CommandMessage(command_id, name, typed, ttl)


def command_request(payload: Mapping[str, object], *, now: float) -> CommandRequest:
    """The typed request of a payload's ``command`` and arguments; ``CommandError`` if invalid."""
    name = payload.get("command")
    if name == "camreq":
        return _camreq(payload, now)
    if name == "setparam":
        params = payload.get("params")
        if not isinstance(params, Mapping):
            raise CommandError("setparam needs 'params', an object of setting id → value")
        return SetCameraSettings(camera_setting_values(params.items()))
    if name == "getparam":
        ids = payload.get("ids")
        if not isinstance(ids, list | str | int) or isinstance(ids, bool):
            raise CommandError("getparam needs 'ids', a list of parameter ids")
        return GetParams(tuple(param_ids(ids)))
    if name == "raw":
        return RawCommand(raw(payload.get("text")))
    raise CommandError(f"unknown command {name!r}: one of {', '.join(COMMANDS)}")


def _camreq(payload: Mapping[str, object], now: float) -> CommandRequest:
    kind = payload.get("file_type")
    if kind in ("photo", 1, "1"):
        return CameraPhotoRequest(camera_source(payload.get("source")))
    if kind not in ("video", 0, "0"):
        raise CommandError(f"{CAMREQ_INVALID} file_type: {kind!r} is not photo or video")
    duration = payload.get("duration")
    if duration is None:
        raise CommandError(
            f"{CAMREQ_INVALID} duration: a video needs 1-{MAX_VIDEO_DURATION_S} seconds"
        )
    source = camera_source(payload.get("source"))
    start = payload.get("timestamp")
    timestamp = None if start is None else video_start(start)
    seconds = video_duration(duration)
    if timestamp is None:
        # The contract: a video without a start is the last `duration` seconds.
        timestamp = video_start(int(now) - seconds)
    return CameraVideoRequest(source, timestamp, seconds)


def _ttl(value: object) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise CommandError(f"ttl {value!r} is not a positive number of seconds")
    return float(value)


# ---- reply → result --------------------------------------------------------------------------


def result_dict(result: CommandResult | None) -> dict[str, Any] | None:
    """A parsed answer of the tracker as a JSON-able dict."""
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


def reply_dict(reply: CommandReply) -> dict[str, Any]:
    """A command's end as a JSON-able dict; the contract's result takes ok/response/error."""
    return {
        "ok": reply.ok,
        "command": reply.command,
        "status": reply.status,
        "response": reply.response,
        "error": reply.error,
        "result": result_dict(reply.result),
    }


# The router's status of a command that did not complete → the contract's status.
_STATUS = {
    "timeout": "timeout",
    "expired": "expired",
    "disconnected": "offline",
    "cancelled": "cancelled",
    "refused": "invalid",
}


def result_status(reply: CommandReply) -> str:
    """The contract's ``status`` of a command's end (``COMMAND_STATUSES``)."""
    if reply.status == "completed":
        return "ok" if reply.ok else "rejected"
    return _STATUS.get(reply.status, "error")


def command_result(
    command_id: object,
    ok: bool,
    command: str | None,
    status: str,
    response: object = None,
    error: object = None,
    result: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A result object with exactly the contract's keys."""
    return {
        "id": command_id,
        "ok": ok,
        "command": command,
        "status": status,
        "response": None if response is None else str(response),
        "error": None if error is None else str(error),
        "result": result,
    }


async def run_command(handler: CommandHandler, target: str, payload: bytes) -> dict[str, Any]:
    """Parse one request, run it through ``handler`` and return the contract's result."""
    message = parse_request(target, payload)
    if isinstance(message, RefusedMessage):
        log.warning("refused MQTT command for %s: %s", target, message.error)
        return command_result(message.id, False, message.name, "invalid", error=message.error)
    command_id, name = message.id, message.name
    try:
        # object: a handler is plugged in from outside; its answer is checked, not trusted.
        reply: object = await handler(target, message.request, message.ttl)
    except Exception as exc:
        # A bug in the command API must not take the subscription down with it.
        log.exception("command %s for %s failed", name, target)
        return command_result(command_id, False, name, "error", error=f"internal error: {exc}")
    if not isinstance(reply, CommandReply):
        log.error("command handler returned %r for %s %s", reply, target, name)
        return command_result(command_id, False, name, "error", error="internal error: bad result")
    return command_result(
        command_id,
        reply.ok,
        name,
        result_status(reply),
        reply.response,
        reply.error,
        result_dict(reply.result),
    )
