"""The MQTT contract (shared/design/mqtt-contract.md) as JSON schemas and topic rules.

Written from the contract document, not from the code, so the tests check the code against
the contract and not against itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

TIMESTAMP = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$"}
IMEI = {"type": "string", "pattern": r"^\d{15}$"}
CAMERA = {"enum": ["front", "rear"]}
KIND = {"enum": ["photo", "video"]}
NULLABLE_STR = {"type": ["string", "null"]}


def obj(properties: dict[str, Any]) -> dict[str, Any]:
    """An object with exactly these keys, all required."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


POSITION = obj(
    {
        "latitude": {"type": "number", "minimum": -90, "maximum": 90},
        "longitude": {"type": "number", "minimum": -180, "maximum": 180},
        "altitude": {"type": "number"},
        "angle": {"type": "number"},
        "speed": {"type": "number"},
        "satellites": {"type": "integer", "minimum": 0},
        "timestamp": TIMESTAMP,
    }
)

BRIDGE_INFO = obj(
    {
        "version": {"type": "string"},
        "started_at": TIMESTAMP,
        "camera_port": {"type": ["integer", "null"]},
        "avl_port": {"type": ["integer", "null"]},
        "devices": {"type": "array", "items": IMEI},
    }
)

DEVICE_INFO = obj(
    {
        "imei": IMEI,
        "name": NULLABLE_STR,
        "first_seen": TIMESTAMP,
        "last_seen": TIMESTAMP,
        "protocol_id": {"type": ["integer", "null"]},
    }
)

CAMERA_STATE = obj(
    {
        "value": {"type": "integer", "minimum": 0, "maximum": 4},
        "state": {
            "enum": ["not_detected", "no_card", "card_mount_failed", "card_failed", "card_faulty"]
        },
        "timestamp": TIMESTAMP,
    }
)

MEDIA = obj(
    {
        "id": {"type": "string", "minLength": 1},
        "imei": IMEI,
        "camera": CAMERA,
        "kind": KIND,
        "mime": {"type": "string", "pattern": r"^(image|video)/"},
        "size": {"type": "integer", "minimum": 0},
        "sha256": {"type": "string", "pattern": r"^[0-9a-f]{64}$"},
        "received_at": TIMESTAMP,
        "path": {"type": "string"},
        "url": NULLABLE_STR,
        "duration_s": {"type": ["number", "null"]},
        "trigger": NULLABLE_STR,
    }
)

TRANSFER = obj(
    {
        "file": {"type": "string", "pattern": r"^%"},
        "camera": CAMERA,
        "kind": KIND,
        "packets_done": {"type": "integer", "minimum": 0},
        "packets_total": {"type": "integer", "minimum": 0},
        "bytes_per_s": {"type": "number", "minimum": 0},
        "state": {"enum": ["receiving", "resumed", "stalled", "done", "failed"]},
    }
)

SOS = obj(
    {
        "value": {"type": "integer", "minimum": 0, "maximum": 3},
        "trigger": {"enum": ["server_request", "din1", "din2", "crash"]},
        "timestamp": TIMESTAMP,
        "position": {"oneOf": [POSITION, {"type": "null"}]},
    }
)

COMMAND_RESULT = obj(
    {
        "id": {},
        "ok": {"type": "boolean"},
        "command": NULLABLE_STR,
        "response": NULLABLE_STR,
        "error": NULLABLE_STR,
    }
)

ONLINE_OFFLINE = "online/offline"
JPEG = "jpeg"
BYTES = "bytes"


@dataclass(frozen=True)
class TopicRule:
    """One row of the contract's topic table (P = any prefix, <imei>, <cam>)."""

    name: str
    pattern: str
    retained: bool
    qos: int
    payload: dict[str, Any] | str  # a JSON schema, or ONLINE_OFFLINE / JPEG / BYTES

    def regex(self, prefix: str) -> re.Pattern[str]:
        """The rule's topic as a regex under ``prefix``."""
        body = self.pattern.replace("<imei>", r"\d{15}").replace("<cam>", "(front|rear)")
        return re.compile(f"^{re.escape(prefix)}/{body}$")


RULES = [
    TopicRule("bridge_status", "bridge/status", True, 1, ONLINE_OFFLINE),
    TopicRule("bridge_info", "bridge/info", True, 1, BRIDGE_INFO),
    TopicRule("availability", "<imei>/availability", True, 1, ONLINE_OFFLINE),
    TopicRule("device_info", "<imei>/info", True, 1, DEVICE_INFO),
    TopicRule("camera_state", "<imei>/camera/<cam>/state", True, 1, CAMERA_STATE),
    TopicRule("photo", "<imei>/camera/<cam>/photo", True, 1, JPEG),
    TopicRule("video", "<imei>/camera/<cam>/video", False, 1, BYTES),
    TopicRule("media", "<imei>/media", False, 1, MEDIA),
    TopicRule("transfer", "<imei>/transfer", False, 0, TRANSFER),
    TopicRule("sos", "<imei>/sos", False, 1, SOS),
    TopicRule("position", "<imei>/position", True, 1, POSITION),
    TopicRule("command", "<imei>/command", False, 1, "request"),
    TopicRule("command_result", r"[^/]+/command/result", False, 1, COMMAND_RESULT),
]


def rule_for(topic: str, prefix: str = "dualcam") -> TopicRule | None:
    """The contract rule a topic falls under, or None when the contract has no such topic."""
    for rule in RULES:
        if rule.regex(prefix).match(topic):
            return rule
    return None
