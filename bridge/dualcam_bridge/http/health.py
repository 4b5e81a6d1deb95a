"""``GET /healthz``: the state of each part of the bridge, for a container HEALTHCHECK.

200 when every enabled part is up, 503 when one is down. Each part says ``ok``, ``down`` or
``disabled`` and a few facts (ports, connections, the MQTT outbox, free space of ``data_dir``
against ``media.min_free_mb``). It needs no credentials and names no path or secret.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ..listener import DeviceListener
from .parts import BridgeParts

OK, DOWN, DISABLED = "ok", "down", "disabled"
Part = dict[str, Any]


def _listener(server: DeviceListener[Any]) -> Part:
    listening = server.listening
    part: Part = {"status": OK if listening else DOWN, "listening": listening}
    if listening:
        part["port"] = server.port
    part["connections"] = len(server.connections)
    return part


def _mqtt(bridge: BridgeParts) -> Part:
    if not bridge.config.mqtt.enabled:
        return {"status": DISABLED}
    mqtt = bridge.mqtt
    if mqtt is None:
        return {"status": DOWN, "connected": False, "outbox_pending": None}
    up = mqtt.connected and mqtt.outbox_writable
    return {
        "status": OK if up else DOWN,
        "connected": mqtt.connected,
        "outbox_pending": mqtt.pending,
        "outbox_writable": mqtt.outbox_writable,
    }


def _disk(bridge: BridgeParts) -> Part:
    disk = bridge.disk
    return {
        "status": DOWN if disk.full else OK,
        "full": disk.full,
        "free_mb": disk.free_mb,
        "min_free_mb": disk.min_free_mb,
    }


def health_report(bridge: BridgeParts) -> tuple[bool, dict[str, Any]]:
    """(every part up, the JSON body)."""
    avl: Part = _listener(bridge.avl.server) if bridge.config.avl.enabled else {"status": DISABLED}
    parts = {
        "camera": _listener(bridge.camera),
        "avl": avl,
        "mqtt": _mqtt(bridge),
        "disk": _disk(bridge),
    }
    healthy = all(part["status"] != DOWN for part in parts.values())
    return healthy, {"status": OK if healthy else DOWN, "parts": parts}


def health_handler(
    bridge: BridgeParts,
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The ``/healthz`` route's handler."""

    async def healthz(request: web.Request) -> web.StreamResponse:
        healthy, body = health_report(bridge)
        return web.json_response(
            body, status=200 if healthy else 503, headers={"Cache-Control": "no-store"}
        )

    return healthz
