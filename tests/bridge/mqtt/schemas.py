"""The MQTT contract (README.md, "MQTT topics") as JSON schemas, topic rules and examples.

Written from the contract document, not from the code, so the tests check the code against
the contract and not against itself. ``EXAMPLES`` holds valid payloads of every topic: the
bridge suite checks them against the schemas, and the Home Assistant suite
(tests/homeassistant/test_contract_examples.py, which loads this file by path) feeds them to
the integration's parsers. Standard library only, for that reason.
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
# A signed link to a stored file: <base>/media/<id>/<variant>?exp=<unix>&sig=<64 hex>.
MEDIA_LINK = {
    "type": ["string", "null"],
    "pattern": r"^https?://[^/]+(/.*)?/media/[0-9a-f]+/(file|raw|poster|thumbnail|browser)"
    r"\?exp=\d+&sig=[0-9a-f]{64}$",
}


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

BRIDGE_HEALTH = obj(
    {
        "status": {"enum": ["ok", "disk_full"]},
        "disk_full": {"type": "boolean"},
        "free_mb": {"type": ["number", "null"], "minimum": 0},
        "min_free_mb": {"type": "number", "minimum": 0},
        "timestamp": TIMESTAMP,
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
            "enum": ["not_detected", "no_card", "card_mount_failed", "card_mounted", "card_faulty"]
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
        "variant": {"enum": ["original", "browser"]},
        "mime": {"type": "string", "pattern": r"^(image|video)/"},
        "size": {"type": "integer", "minimum": 0},
        "sha256": {"type": "string", "pattern": r"^[0-9a-f]{64}$"},
        "captured_at": {"oneOf": [TIMESTAMP, {"type": "null"}]},
        "received_at": TIMESTAMP,
        "path": {"type": "string"},
        "url": MEDIA_LINK,
        "poster_url": MEDIA_LINK,
        "thumbnail_url": MEDIA_LINK,
        "browser_url": MEDIA_LINK,
        "duration_s": {"type": ["number", "null"], "minimum": 0},
        "trigger": NULLABLE_STR,
        "latitude": {"type": ["number", "null"], "minimum": -90, "maximum": 90},
        "longitude": {"type": ["number", "null"], "minimum": -180, "maximum": 180},
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
        "status": {
            "enum": [
                "ok",
                "rejected",
                "timeout",
                "expired",
                "offline",
                "invalid",
                "cancelled",
                "error",
            ]
        },
        "response": NULLABLE_STR,
        "error": NULLABLE_STR,
        # The tracker's answer parsed (null when there was none or it is not understood).
        "result": {"type": ["object", "null"], "required": ["type"]},
    }
)

# P/<imei>/command: what a client (the integration, a discovery button) sends.
_CAMREQ = {
    "if": {"properties": {"command": {"const": "camreq"}}},
    "then": {
        "required": ["file_type", "source"],
        "properties": {
            "file_type": {"enum": ["photo", "video"]},
            "source": {"oneOf": [{"enum": ["front", "rear", "both"]}, {"enum": [1, 2, 3]}]},
            "timestamp": {"type": ["integer", "null"], "minimum": 1},
            "duration": {"type": ["integer", "null"], "minimum": 1, "maximum": 30},
        },
        "if": {"properties": {"file_type": {"const": "video"}}},
        "then": {"properties": {"duration": {"type": "integer"}}, "required": ["duration"]},
    },
}
_SETPARAM = {
    "if": {"properties": {"command": {"const": "setparam"}}},
    "then": {
        "required": ["params"],
        "properties": {
            "params": {
                "type": "object",
                "minProperties": 1,
                "propertyNames": {"pattern": "^(66[0-9]{3}|[a-z_]+)$"},
                "additionalProperties": {"type": ["integer", "boolean", "string"]},
            }
        },
    },
}
_GETPARAM = {
    "if": {"properties": {"command": {"const": "getparam"}}},
    "then": {
        "required": ["ids"],
        "properties": {
            "ids": {"type": "array", "minItems": 1, "items": {"type": ["integer", "string"]}}
        },
    },
}
_RAW = {
    "if": {"properties": {"command": {"const": "raw"}}},
    "then": {"required": ["text"], "properties": {"text": {"type": "string", "minLength": 1}}},
}
COMMAND_REQUEST = {
    "type": "object",
    "required": ["command"],
    "properties": {
        "id": {},
        "command": {"enum": ["camreq", "setparam", "getparam", "raw"]},
        "ttl": {"type": "number", "exclusiveMinimum": 0},
    },
    "allOf": [_CAMREQ, _SETPARAM, _GETPARAM, _RAW],
}

# <discovery_prefix>/<component>/dualcam_<imei>/<key>/config (mqtt.homeassistant_discovery).
DISCOVERY_TOPIC = re.compile(
    r"^[^/]+/(camera|sensor|button|event|device_tracker)/dualcam_(\d{15})/([a-z_]+)/config$"
)
DISCOVERY_CONFIG = {
    "type": "object",
    "required": ["device", "origin", "availability", "unique_id", "name"],
    "properties": {
        "device": obj(
            {
                "identifiers": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                "name": {"type": "string"},
                "manufacturer": {"const": "Teltonika"},
                "model": {"const": "DualCam"},
                "serial_number": IMEI,
            }
        ),
        "origin": obj({"name": {"const": "dualcam-bridge"}, "sw_version": {"type": "string"}}),
        "availability": {
            "type": "array",
            "minItems": 1,
            "items": obj({"topic": {"type": "string"}}),
        },
        "unique_id": {"type": "string", "pattern": r"^dualcam_\d{15}_[a-z_]+$"},
        "name": {"type": "string"},
    },
    # Each entity reads (or, a button, writes) at least one contract topic.
    "anyOf": [{"required": [key]} for key in ("topic", "state_topic", "json_attributes_topic")]
    + [{"required": ["command_topic", "payload_press"]}],
}

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
    TopicRule("bridge_health", "bridge/health", True, 1, BRIDGE_HEALTH),
    TopicRule("availability", "<imei>/availability", True, 1, ONLINE_OFFLINE),
    TopicRule("device_info", "<imei>/info", True, 1, DEVICE_INFO),
    TopicRule("camera_state", "<imei>/camera/<cam>/state", True, 1, CAMERA_STATE),
    TopicRule("photo", "<imei>/camera/<cam>/photo", True, 1, JPEG),
    TopicRule("video", "<imei>/camera/<cam>/video", False, 1, BYTES),
    TopicRule("media", "<imei>/media", False, 1, MEDIA),
    TopicRule("transfer", "<imei>/transfer", False, 0, TRANSFER),
    TopicRule("sos", "<imei>/sos", False, 1, SOS),
    TopicRule("position", "<imei>/position", True, 1, POSITION),
    TopicRule("command", "<imei>/command", False, 1, "request"),  # COMMAND_REQUEST
    TopicRule("command_result", r"[^/]+/command/result", False, 1, COMMAND_RESULT),
]


def rule_for(topic: str, prefix: str = "dualcam") -> TopicRule | None:
    """The contract rule a topic falls under, or None when the contract has no such topic."""
    for rule in RULES:
        if rule.regex(prefix).match(topic):
            return rule
    return None


# ---- valid payloads of every topic -----------------------------------------------------------

EXAMPLE_IMEI = "352094082736916"
_WHEN = "2025-05-01T10:01:02.000Z"
_POSITION = {
    "latitude": 54.6872,
    "longitude": 25.2797,
    "altitude": 112,
    "angle": 270,
    "speed": 48,
    "satellites": 11,
    "timestamp": _WHEN,
}
_SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
_MEDIA_ID = "a1b2c3d4e5f60718a1b2c3d4e5f60718"
_SIG = "0f" * 32


def _link(variant: str) -> str:
    return f"http://bridge.local:5080/media/{_MEDIA_ID}/{variant}?exp=1746698462&sig={_SIG}"


_MEDIA = {
    "id": _MEDIA_ID,
    "imei": EXAMPLE_IMEI,
    "camera": "rear",
    "kind": "video",
    "variant": "original",
    "mime": "video/mp4",
    "size": 1048576,
    "sha256": _SHA,
    "captured_at": "2025-05-01T10:00:52.000Z",
    "received_at": _WHEN,
    "path": f"/var/lib/dualcam/media/{EXAMPLE_IMEI}/2025-05-01/100102_rear.mp4",
    "url": _link("file"),
    "poster_url": _link("poster"),
    "thumbnail_url": _link("thumbnail"),
    "browser_url": None,
    "duration_s": 10.0,
    "trigger": "crash",
    "latitude": 54.6872,
    "longitude": 25.2797,
}
_JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(64)) + b"\xff\xd9"

# Topic rule name -> example payloads: dicts are JSON, str and bytes are sent as they are.
EXAMPLES: dict[str, list[Any]] = {
    "bridge_status": ["online", "offline"],
    "bridge_info": [
        {
            "version": "0.1.0",
            "started_at": "2025-05-01T10:00:00.000Z",
            "camera_port": 5028,
            "avl_port": 5027,
            "devices": [EXAMPLE_IMEI],
        },
        {
            "version": "0.1.0",
            "started_at": "2025-05-01T10:00:00.000Z",
            "camera_port": None,
            "avl_port": None,
            "devices": [],
        },
    ],
    "bridge_health": [
        {
            "status": "ok",
            "disk_full": False,
            "free_mb": 77003.4,
            "min_free_mb": 200.0,
            "timestamp": _WHEN,
        },
        {
            "status": "disk_full",
            "disk_full": True,
            "free_mb": 12.5,
            "min_free_mb": 200.0,
            "timestamp": _WHEN,
        },
        {
            "status": "ok",
            "disk_full": False,
            "free_mb": None,
            "min_free_mb": 0.0,
            "timestamp": _WHEN,
        },
    ],
    "availability": ["online", "offline"],
    "device_info": [
        {
            "imei": EXAMPLE_IMEI,
            "name": "Van 1",
            "first_seen": "2025-05-01T09:00:00.000Z",
            "last_seen": _WHEN,
            "protocol_id": 5,
        },
        {
            "imei": EXAMPLE_IMEI,
            "name": None,
            "first_seen": _WHEN,
            "last_seen": _WHEN,
            "protocol_id": None,
        },
    ],
    "camera_state": [
        {"value": value, "state": state, "timestamp": _WHEN}
        for value, state in enumerate(
            ["not_detected", "no_card", "card_mount_failed", "card_mounted", "card_faulty"]
        )
    ],
    "photo": [_JPEG],
    "video": [b"\x00\x00\x00\x18ftypmp42" + bytes(64)],
    "media": [
        _MEDIA,
        {
            **_MEDIA,
            "camera": "front",
            "kind": "photo",
            "mime": "image/jpeg",
            "path": f"/var/lib/dualcam/media/{EXAMPLE_IMEI}/2025-05-01/100102_front.jpg",
            "poster_url": None,
            "duration_s": None,
            "trigger": None,
        },
        # The second event of a clip: its H.264 MP4 is ready.
        {**_MEDIA, "variant": "browser", "browser_url": _link("browser")},
        # No ffmpeg, HTTP off, no metadata: raw H.265, no links, no capture time or position.
        {
            **_MEDIA,
            "mime": "video/hevc",
            "captured_at": None,
            "url": None,
            "poster_url": None,
            "thumbnail_url": None,
            "latitude": None,
            "longitude": None,
        },
    ],
    "transfer": [
        {
            "file": "%videor",
            "camera": "rear",
            "kind": "video",
            "packets_done": done,
            "packets_total": 200,
            "bytes_per_s": 51200.0,
            "state": state,
        }
        for done, state in [
            (10, "receiving"),
            (50, "resumed"),
            (50, "stalled"),
            (200, "done"),
            (120, "failed"),
        ]
    ],
    "sos": [
        {"value": value, "trigger": trigger, "timestamp": _WHEN, "position": position}
        for value, trigger, position in [
            (0, "server_request", None),
            (1, "din1", _POSITION),
            (2, "din2", None),
            (3, "crash", _POSITION),
        ]
    ],
    "position": [_POSITION, {**_POSITION, "latitude": -33.9, "longitude": -70.6, "speed": 0}],
    "command": [
        # As the integration's actions build them (it adds a fresh "id").
        {
            "command": "camreq",
            "file_type": "photo",
            "source": "both",
            "timestamp": None,
            "duration": None,
        },
        {
            "command": "camreq",
            "file_type": "video",
            "source": "front",
            "timestamp": 1746093762,
            "duration": 20,
        },
        {
            "command": "camreq",
            "file_type": "video",
            "source": "rear",
            "timestamp": None,
            "duration": 30,
        },
        {
            "command": "setparam",
            "params": {
                "66000": 3,
                "66001": 50,
                "66002": 1,
                "66003": 25,
                "66006": 1,
                "66007": 600,
                "66008": 3,
                "66009": 5,
                "66010": 7,
            },
        },
        # As a discovery button sends it, and the README's other forms.
        {"command": "camreq", "file_type": "photo", "source": "rear"},
        {"id": "1", "command": "camreq", "file_type": "photo", "source": 3},
        {"id": "2", "command": "setparam", "params": {"frame_rate": 25, "video_trigger": "crash"}},
        {"id": "3", "command": "setparam", "params": {"framerate": 25}},  # deprecated alias
        {"id": "4", "command": "getparam", "ids": [66000, "periodic_photo_interval"]},
        {"id": "5", "command": "raw", "text": "getinfo", "ttl": 60},
    ],
    "command_result": [
        {
            "id": "8c4d",
            "ok": True,
            "command": "camreq",
            "status": "ok",
            "response": "Request for photo from source 3 received",
            "error": None,
            "result": {
                "type": "camera_request",
                "kind": "photo",
                "source": 3,
                "cameras": ["front", "rear"],
                "duration_s": None,
                "since": None,
            },
        },
        {
            "id": "9a1e",
            "ok": False,
            "command": "camreq",
            "status": "timeout",
            "response": None,
            "error": "no answer from tracker 352094082736916 within 30 s",
            "result": None,
        },
        {
            "id": 7,
            "ok": False,
            "command": None,
            "status": "invalid",
            "response": None,
            "error": "unknown command 'zoom'",
            "result": None,
        },
        {
            "id": None,
            "ok": False,
            "command": None,
            "status": "invalid",
            "response": None,
            "error": "not JSON",
            "result": None,
        },
    ],
}
# The schema of each rule's payload (the command topic's is COMMAND_REQUEST).
RULE_SCHEMAS: dict[str, Any] = {
    rule.name: COMMAND_REQUEST if rule.name == "command" else rule.payload for rule in RULES
}
