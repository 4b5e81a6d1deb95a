"""The MQTT contract's tables, as the integration reads them from the bridge.

README.md, section "MQTT topics", is the contract in prose. The bridge keeps the same tables
in ``bridge/dualcam_bridge/contract.py``; this integration ships alone (HACS) and never
imports the bridge, so this is a copy: ``tests/bridge/test_contract_agreement.py`` loads both
files and fails when they differ. Edit both together.

Imports nothing from Home Assistant (or this package), so that test can load it by path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

# ---- topics -------------------------------------------------------------------------------------

DEFAULT_TOPIC_PREFIX: Final = "dualcam"

# Patterns under the prefix (``P/`` + pattern); ``{imei}`` and ``{camera}`` are the only fields.
TOPIC_BRIDGE_STATUS: Final = "bridge/status"
TOPIC_BRIDGE_INFO: Final = "bridge/info"
TOPIC_BRIDGE_HEALTH: Final = "bridge/health"
TOPIC_AVAILABILITY: Final = "{imei}/availability"
TOPIC_DEVICE_INFO: Final = "{imei}/info"
TOPIC_CAMERA_STATE: Final = "{imei}/camera/{camera}/state"
TOPIC_PHOTO: Final = "{imei}/camera/{camera}/photo"
TOPIC_VIDEO: Final = "{imei}/camera/{camera}/video"
TOPIC_MEDIA: Final = "{imei}/media"
TOPIC_TRANSFER: Final = "{imei}/transfer"
TOPIC_SOS: Final = "{imei}/sos"
TOPIC_POSITION: Final = "{imei}/position"
TOPIC_COMMAND: Final = "{imei}/command"
TOPIC_COMMAND_RESULT: Final = "{imei}/command/result"

PayloadKind = Literal["online_offline", "json", "jpeg", "bytes"]


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One row of the README's topic table."""

    name: str
    pattern: str
    retained: bool
    qos: int
    payload: PayloadKind


TOPICS: Final[tuple[TopicSpec, ...]] = (
    TopicSpec("bridge_status", TOPIC_BRIDGE_STATUS, True, 1, "online_offline"),
    TopicSpec("bridge_info", TOPIC_BRIDGE_INFO, True, 1, "json"),
    TopicSpec("bridge_health", TOPIC_BRIDGE_HEALTH, True, 1, "json"),
    TopicSpec("availability", TOPIC_AVAILABILITY, True, 1, "online_offline"),
    TopicSpec("device_info", TOPIC_DEVICE_INFO, True, 1, "json"),
    TopicSpec("camera_state", TOPIC_CAMERA_STATE, True, 1, "json"),
    TopicSpec("photo", TOPIC_PHOTO, True, 1, "jpeg"),
    TopicSpec("video", TOPIC_VIDEO, False, 1, "bytes"),
    TopicSpec("media", TOPIC_MEDIA, False, 1, "json"),
    TopicSpec("transfer", TOPIC_TRANSFER, False, 0, "json"),
    TopicSpec("sos", TOPIC_SOS, False, 1, "json"),
    TopicSpec("position", TOPIC_POSITION, True, 1, "json"),
    TopicSpec("command", TOPIC_COMMAND, False, 1, "json"),
    TopicSpec("command_result", TOPIC_COMMAND_RESULT, False, 1, "json"),
)


def topic(prefix: str, pattern: str, imei: str = "+", camera: str = "+") -> str:
    """A pattern under ``prefix``; the defaults give the subscription filter (``+`` levels)."""
    return f"{prefix}/" + pattern.format(imei=imei, camera=camera)


ONLINE: Final = "online"
OFFLINE: Final = "offline"

# ---- payload fields (every key is always present; absent values are null) ---------------------

BRIDGE_INFO_FIELDS: Final = ("version", "started_at", "camera_port", "avl_port", "devices")
BRIDGE_HEALTH_FIELDS: Final = ("status", "disk_full", "free_mb", "min_free_mb", "timestamp")
# bridge/health ``status``: what is wrong, if anything.
BRIDGE_HEALTH_STATUSES: Final = ("ok", "disk_full")
DEVICE_INFO_FIELDS: Final = ("imei", "name", "first_seen", "last_seen", "protocol_id")
CAMERA_STATE_FIELDS: Final = ("value", "state", "timestamp")
MEDIA_FIELDS: Final = (
    "id",
    "imei",
    "camera",
    "kind",
    "variant",
    "mime",
    "size",
    "sha256",
    "captured_at",
    "received_at",
    "path",
    "url",
    "poster_url",
    "thumbnail_url",
    "browser_url",
    "duration_s",
    "trigger",
    "latitude",
    "longitude",
)
TRANSFER_FIELDS: Final = (
    "file",
    "camera",
    "kind",
    "packets_done",
    "packets_total",
    "bytes_per_s",
    "state",
)
SOS_FIELDS: Final = ("value", "trigger", "timestamp", "position")
POSITION_FIELDS: Final = (
    "latitude",
    "longitude",
    "altitude",
    "angle",
    "speed",
    "satellites",
    "timestamp",
)
COMMAND_RESULT_FIELDS: Final = ("id", "ok", "command", "status", "response", "error", "result")
# command/result ``status``: how the command ended (ok is true only for "ok").
COMMAND_STATUSES: Final = (
    "ok",  # the tracker answered and accepted it
    "rejected",  # the tracker answered and refused it
    "timeout",  # sent; no answer within avl.command_timeout
    "expired",  # the tracker did not connect within the command's ttl
    "offline",  # the tracker disconnected before answering (it may have run)
    "invalid",  # refused by the bridge before anything was sent
    "cancelled",  # the bridge stopped first
    "error",  # the bridge failed (a bug; logged)
)

# ---- names --------------------------------------------------------------------------------------

Camera = Literal["front", "rear"]
MediaKind = Literal["photo", "video"]
TransferState = Literal["receiving", "resumed", "stalled", "done", "failed"]

CAMERAS: Final[tuple[Camera, ...]] = ("front", "rear")
MEDIA_KINDS: Final[tuple[MediaKind, ...]] = ("photo", "video")
TRANSFER_STATES: Final[tuple[TransferState, ...]] = (
    "receiving",
    "resumed",
    "stalled",
    "done",
    "failed",
)

# AVL 497 (rear) / 498 (front) camera state values: the TF (SD) card status the tracker reads
# from each camera every 20 s. 3 is the healthy state (Teltonika's parameter list; the older
# seed page's "3 = card failed" left no healthy state at all).
CAMERA_STATE_NAMES: Final[Mapping[int, str]] = {
    0: "not_detected",
    1: "no_card",
    2: "card_mount_failed",
    3: "card_mounted",
    4: "card_faulty",
}

# AVL 499 SOS trigger values.
SOS_TRIGGER_NAMES: Final[Mapping[int, str]] = {
    0: "server_request",
    1: "din1",
    2: "din2",
    3: "crash",
}

# Metadata trigger codes of a file (DualCam file metadata, firmware >= 03.27.04); a media
# event's ``trigger`` is one of these names.
MEDIA_TRIGGER_NAMES: Final[Mapping[int, str]] = {
    0: "server_request",
    1: "din1",
    2: "din2",
    3: "crash",
    4: "towing",
    5: "idling",
    6: "geofence",
    7: "unplug",
    8: "green_driving",
    9: "periodic",
}

# ---- IMEI ---------------------------------------------------------------------------------------

# ASCII digits only (``\d`` would take any Unicode digit); a JSON-schema pattern as well.
IMEI_PATTERN: Final = "^[0-9]{15}$"
_IMEI = re.compile(IMEI_PATTERN)


def is_imei(value: object) -> bool:
    """True for a tracker IMEI as the contract spells it: exactly 15 ASCII digits."""
    return isinstance(value, str) and _IMEI.fullmatch(value) is not None


# ---- commands (``P/<imei>/command``) ------------------------------------------------------------

COMMANDS: Final = ("camreq", "setparam", "getparam", "raw")
FILE_TYPES: Final = ("photo", "video")
# camreq's source argument by name; a source is also accepted as its number.
CAMERA_SOURCES: Final[Mapping[str, int]] = {"front": 1, "rear": 2, "both": 3}
SOURCE_CAMERAS: Final[Mapping[int, tuple[Camera, ...]]] = {
    1: ("front",),
    2: ("rear",),
    3: ("front", "rear"),
}
MIN_VIDEO_DURATION_S: Final = 1
MAX_VIDEO_DURATION_S: Final = 30

SettingType = Literal["int", "bool", "choice"]


@dataclass(frozen=True, slots=True)
class CameraSetting:
    """One DualCam parameter (wiki "Camera Feature/Scenario Settings") of ``setparam``."""

    id: int
    name: str
    type: SettingType
    low: int
    high: int
    choices: tuple[str, ...] = ()  # a choice's value is its index

    @property
    def names(self) -> Mapping[str, int]:
        """Value names → values (empty unless ``type`` is ``choice``)."""
        return {name: value for value, name in enumerate(self.choices)}


CAMERA_SETTINGS: Final[tuple[CameraSetting, ...]] = (
    CameraSetting(
        66000,
        "resolution",
        "choice",
        0,
        4,
        ("160x120", "320x240", "640x480", "1280x720", "1920x1080"),
    ),
    CameraSetting(66001, "compression", "int", 0, 100),
    CameraSetting(66002, "osd", "bool", 0, 1),
    CameraSetting(66003, "frame_rate", "int", 1, 30),
    CameraSetting(66006, "periodic_photo", "bool", 0, 1),
    CameraSetting(66007, "periodic_photo_interval", "int", 10, 1800),
    CameraSetting(66008, "video_trigger", "choice", 0, 3, ("none", "din1", "din2", "crash")),
    CameraSetting(66009, "video_seconds_before", "int", 1, 10),
    CameraSetting(66010, "video_seconds_after", "int", 1, 10),
)
