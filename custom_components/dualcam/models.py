"""What the bridge publishes, as typed values, and the per-vehicle state built from it.

Parsers take decoded JSON and raise ValueError on anything the contract does not allow,
so a malformed message is logged and dropped by the caller instead of half-applied.
"""

from __future__ import annotations

import json
import logging
import re
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

import yarl
from homeassistant.core import CALLBACK_TYPE, callback
from homeassistant.util import dt as dt_util

from .contract import (
    CAMERA_STATE_NAMES,
    CAMERAS,
    MEDIA_KINDS,
    SOS_TRIGGER_NAMES,
)

# A media id as the integration accepts it: it becomes part of URLs and file names.
MEDIA_ID_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


class Update(StrEnum):
    """What changed on a vehicle, so entities can ignore what they do not show."""

    AVAILABILITY = "availability"
    INFO = "info"
    CAMERA_STATE = "camera_state"
    PHOTO = "photo"
    TRANSFER = "transfer"
    MEDIA = "media"
    SOS = "sos"
    SOS_CLIP = "sos_clip"
    POSITION = "position"


def parse_json(payload: str | bytes | bytearray) -> dict[str, Any]:
    """Decode one contract message, which is always a JSON object."""
    try:
        data = json.loads(payload)
    except (TypeError, ValueError) as err:
        raise ValueError(f"not JSON: {err}") from err
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def _timestamp(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str) or (parsed := dt_util.parse_datetime(value)) is None:
        raise ValueError(f"bad timestamp {value!r}")
    # The contract says UTC; a timestamp without a zone is taken as UTC, not local time.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt_util.UTC)


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"bad number {value!r}")
    return value


def _choice(value: Any, choices: tuple[str, ...], name: str) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"bad {name} {value!r}")
    return value


def _named_value(data: dict[str, Any], key: str, names: Mapping[int, str]) -> tuple[int, str]:
    """A (value, name) pair from a message with both: the name wins, the value is the fallback."""
    value, name = data.get("value"), data.get(key)
    values = {n: v for v, n in names.items()}
    if name not in values:
        if isinstance(value, bool) or not isinstance(value, int) or value not in names:
            raise ValueError(f"bad {key} {data!r}")
        name = names[value]
    if isinstance(value, bool) or not isinstance(value, int):
        value = values[name]
    return value, name


@dataclass(frozen=True, slots=True)
class CameraStatus:
    """`P/<imei>/camera/<cam>/state`: the camera's SD-card / presence state."""

    value: int
    state: str
    timestamp: datetime | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CameraStatus:
        """Parse the state message; the name wins, the number is the fallback."""
        value, state = _named_value(data, "state", CAMERA_STATE_NAMES)
        return cls(value, state, _timestamp(data.get("timestamp")))


@dataclass(frozen=True, slots=True)
class Photo:
    """The latest photo of one camera (retained topic)."""

    data: bytes
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Position:
    """`P/<imei>/position`: the newest AVL record's GPS element."""

    latitude: float
    longitude: float
    altitude: float | None
    angle: float | None
    speed: float | None
    satellites: int | None
    timestamp: datetime | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Position:
        """Parse the position message."""
        lat, lon = _number(data.get("latitude")), _number(data.get("longitude"))
        if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ValueError(f"bad coordinates {data!r}")
        satellites = _number(data.get("satellites"))
        return cls(
            latitude=lat,
            longitude=lon,
            altitude=_number(data.get("altitude")),
            angle=_number(data.get("angle")),
            speed=_number(data.get("speed")),
            satellites=None if satellites is None else int(satellites),
            timestamp=_timestamp(data.get("timestamp")),
        )


@dataclass(frozen=True, slots=True)
class Transfer:
    """`P/<imei>/transfer`: progress of the file in flight."""

    file: str | None
    camera: str | None
    kind: str | None
    packets_done: int
    packets_total: int
    bytes_per_s: float | None
    state: str

    @property
    def percent(self) -> float:
        """Share of packets received, 100 once done."""
        if self.state == "done":
            return 100.0
        if self.packets_total <= 0:
            return 0.0
        return round(min(self.packets_done / self.packets_total, 1.0) * 100, 1)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Transfer:
        """Parse a progress message."""
        done, total = _number(data.get("packets_done")), _number(data.get("packets_total"))
        state = data.get("state")
        if done is None or total is None or not isinstance(state, str):
            raise ValueError(f"bad transfer {data!r}")
        return cls(
            file=data.get("file"),
            camera=data.get("camera"),
            kind=data.get("kind"),
            packets_done=int(done),
            packets_total=int(total),
            bytes_per_s=_number(data.get("bytes_per_s")),
            state=state,
        )


# The media event's links by the bridge's variant name (``/media/<id>/<variant>``).
LINK_FIELDS: Final[Mapping[str, str]] = {
    "file": "url",
    "poster": "poster_url",
    "thumbnail": "thumbnail_url",
    "browser": "browser_url",
}
MEDIA_VARIANTS: Final = ("original", "browser")
_LOGGER = logging.getLogger(__name__)


def _bridge_link(data: dict[str, Any], media_id: str, variant: str) -> str | None:
    """A signed link of the bridge, or None.

    Home Assistant fetches these links (the media proxy, saving), so only what has the
    bridge's link shape is taken: http(s), ending in ``/media/<this id>/<variant>``. Anyone
    else who can publish on the broker cannot make Home Assistant fetch other addresses.
    """
    value = data.get(LINK_FIELDS[variant])
    if value is None:
        return None
    try:
        url = yarl.URL(value) if isinstance(value, str) else None
    except ValueError:
        url = None
    if (
        url is None
        or url.scheme not in ("http", "https")
        or not url.host
        or url.user is not None
        or not url.path.endswith(f"/media/{media_id}/{variant}")
    ):
        _LOGGER.warning("Ignoring the %s link of media %s: %r", variant, media_id, value)
        return None
    return str(url)


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """`P/<imei>/media`: one completed file (and, for a clip, a second event per variant)."""

    id: str
    camera: str
    kind: str
    mime: str
    size: int
    sha256: str
    received_at: datetime
    path: str | None
    url: str | None
    duration_s: float | None
    trigger: str | None
    variant: str = "original"
    captured_at: datetime | None = None
    poster_url: str | None = None
    thumbnail_url: str | None = None
    browser_url: str | None = None
    latitude: float | None = None
    longitude: float | None = None

    @property
    def taken_at(self) -> datetime:
        """When the file was captured (the metadata), else when the bridge received it."""
        return self.captured_at or self.received_at

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MediaInfo:
        """Parse a media event."""
        media_id, sha256 = data.get("id"), data.get("sha256")
        size = _number(data.get("size"))
        received_at = _timestamp(data.get("received_at"))
        if (
            not isinstance(media_id, str | int)
            or isinstance(media_id, bool)
            or not MEDIA_ID_RE.fullmatch(str(media_id))
            or not isinstance(sha256, str)
            or size is None
            or received_at is None
        ):
            raise ValueError(f"bad media event {data!r}")
        media_id = str(media_id)
        trigger = data.get("trigger")
        path = data.get("path")
        links = {
            field_name: _bridge_link(data, media_id, variant)
            for variant, field_name in LINK_FIELDS.items()
        }
        return cls(
            id=media_id,
            camera=_choice(data.get("camera"), CAMERAS, "camera"),
            kind=_choice(data.get("kind"), MEDIA_KINDS, "kind"),
            mime=str(data.get("mime") or "application/octet-stream"),
            size=int(size),
            sha256=sha256.lower(),
            received_at=received_at,
            path=path if isinstance(path, str) else None,
            duration_s=_number(data.get("duration_s")),
            trigger=None if trigger is None else str(trigger),
            # Bridges before the variant field sent one event per file: the original.
            variant=_choice(data.get("variant") or "original", MEDIA_VARIANTS, "variant"),
            captured_at=_timestamp(data.get("captured_at")),
            latitude=_number(data.get("latitude")),
            longitude=_number(data.get("longitude")),
            **links,
        )


SosKey = tuple[int, datetime]
# How many SOS keys a vehicle remembers to recognise one the bridge publishes again.
SOS_MEMORY = 32


@dataclass(slots=True)
class SosReport:
    """`P/<imei>/sos` (AVL 499) plus the clips that arrived for it afterwards."""

    value: int
    trigger: str
    timestamp: datetime | None
    position: dict[str, Any] | None
    received_at: datetime
    clips: list[dict[str, Any]] = field(default_factory=list)

    @property
    def key(self) -> SosKey | None:
        """What makes this SOS the same as another (None: no timestamp, cannot tell)."""
        return (self.value, self.timestamp) if self.timestamp else None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SosReport:
        """Parse an SOS record; the trigger name wins, the number is the fallback."""
        value, trigger = _named_value(data, "trigger", SOS_TRIGGER_NAMES)
        position = data.get("position")
        if position is not None and not isinstance(position, dict):
            raise ValueError(f"bad sos position {position!r}")
        return cls(
            value=value,
            trigger=trigger,
            timestamp=_timestamp(data.get("timestamp")),
            position=position,
            received_at=dt_util.utcnow(),
        )


VehicleListener = Callable[[Update, str | None], None]


@dataclass(slots=True)
class Vehicle:
    """Everything known about one tracker, fed by the bridge's topics."""

    imei: str
    name: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    online: bool | None = None
    device_id: str | None = None
    camera_states: dict[str, CameraStatus] = field(default_factory=dict)
    photos: dict[str, Photo] = field(default_factory=dict)
    transfer: Transfer | None = None
    position: Position | None = None
    last_media: MediaInfo | None = None
    last_sos: SosReport | None = None
    sos_seen: deque[SosKey] = field(default_factory=lambda: deque(maxlen=SOS_MEMORY), repr=False)
    _listeners: list[VehicleListener] = field(default_factory=list, repr=False)

    @property
    def display_name(self) -> str:
        """The bridge's name for the vehicle, else its IMEI."""
        return self.name or self.imei

    def remember_sos(self, key: SosKey | None) -> bool:
        """Note an SOS; False if it was seen before (the bridge publishes at least once:
        after a restart it may send an SOS again that was already delivered)."""
        if key is None:
            return True
        if key in self.sos_seen:
            return False
        self.sos_seen.append(key)
        return True

    @callback
    def async_add_listener(self, listener: VehicleListener) -> CALLBACK_TYPE:
        """Call listener(update, camera) on every change; returns the remover."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    @callback
    def async_notify(self, update: Update, camera: str | None = None) -> None:
        """Tell the listeners what changed."""
        for listener in list(self._listeners):
            listener(update, camera)
