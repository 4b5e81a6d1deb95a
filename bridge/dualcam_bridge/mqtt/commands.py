"""``P/<imei>/command`` requests → the command API → ``P/<imei>/command/result``.

The MQTT layer only checks what it owns (the topic's IMEI, JSON, a ``command`` name) and
hands a dict to an injected :class:`CommandHandler`; validating arguments and talking to the
tracker is the command API's job. Every request gets exactly one result, never an exception.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol

from ..contract import COMMANDS, is_imei

log = logging.getLogger(__name__)


class CommandHandler(Protocol):
    """The command API: run a validated-shape request for one tracker."""

    async def __call__(self, imei: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Return ``{"ok": bool, "response": str | None, "error": str | None}``."""
        ...


async def unavailable_command_handler(imei: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Placeholder until the command API is plugged in: refuses every command."""
    return {
        "ok": False,
        "response": None,
        "error": "commands are not available: the bridge has no command handler configured",
    }


def command_result(
    command_id: Any, ok: bool, command: str | None, response: Any = None, error: Any = None
) -> dict[str, Any]:
    """A result object with exactly the contract's keys."""
    return {
        "id": command_id,
        "ok": ok,
        "command": command,
        "response": None if response is None else str(response),
        "error": None if error is None else str(error),
    }


def parse_request(target: str, raw: bytes) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Check the envelope: ``(request, None)`` to go on, else ``(None, refusal result)``."""
    try:
        request = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return None, command_result(None, False, None, error="payload is not UTF-8 text")
    except json.JSONDecodeError as exc:
        return None, command_result(None, False, None, error=f"payload is not valid JSON: {exc}")
    if not isinstance(request, dict):
        return None, command_result(None, False, None, error="payload must be a JSON object")
    command_id = request.get("id")
    command = request.get("command")
    if not is_imei(target):
        error = f"invalid IMEI {target!r} in the topic: expected the tracker's 15 digits"
        name = command if isinstance(command, str) else None
        return None, command_result(command_id, False, name, error=error)
    if command is None:
        error = f"missing 'command' (one of {', '.join(COMMANDS)})"
        return None, command_result(command_id, False, None, error=error)
    if not isinstance(command, str) or not command:
        error = f"'command' must be a string (one of {', '.join(COMMANDS)})"
        return None, command_result(command_id, False, None, error=error)
    return request, None


async def run_command(handler: CommandHandler, target: str, raw: bytes) -> dict[str, Any]:
    """Parse one request, run it through ``handler`` and return the contract's result."""
    request, refusal = parse_request(target, raw)
    if request is None:
        assert refusal is not None
        log.warning("refused MQTT command for %s: %s", target, refusal["error"])
        return refusal
    command_id, command = request.get("id"), request["command"]
    try:
        outcome = await handler(target, request)
    except Exception as exc:
        # A bug in the command API must not take the subscription down with it.
        log.exception("command %s for %s failed", command, target)
        return command_result(command_id, False, command, error=f"internal error: {exc}")
    if not isinstance(outcome, dict):
        log.error("command handler returned %r for %s %s", outcome, target, command)
        return command_result(command_id, False, command, error="internal error: bad result")
    return command_result(
        command_id,
        bool(outcome.get("ok")),
        command,
        response=outcome.get("response"),
        error=outcome.get("error"),
    )
