"""Command payloads of the MQTT contract, built from service input and checked first.

Every check raises ServiceValidationError with a translation key, so the user reads
which field is wrong and what is allowed, in their language, before anything is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from homeassistant.exceptions import ServiceValidationError
from homeassistant.util import dt as dt_util

from .const import CAMERA_SOURCES, CAMERAS, DOMAIN

VIDEO_DURATION = (1, 30)  # camreq: at most 30 s
SECONDS_BEFORE = (0, 86400)


@dataclass(frozen=True, slots=True)
class CameraParam:
    """One camera setting (wiki "Camera Feature/Scenario Settings", 66000-66010)."""

    field: str
    param_id: int
    minimum: int = 0
    maximum: int = 1
    choices: tuple[str, ...] | None = None  # option name -> its index is the value
    boolean: bool = False


CAMERA_PARAMS: tuple[CameraParam, ...] = (
    CameraParam(
        "resolution",
        66000,
        choices=("160x120", "320x240", "640x480", "1280x720", "1920x1080"),
    ),
    CameraParam("compression", 66001, 0, 100),
    CameraParam("osd", 66002, boolean=True),
    CameraParam("frame_rate", 66003, 1, 30),
    CameraParam("periodic_photo", 66006, boolean=True),
    CameraParam("periodic_photo_interval", 66007, 10, 1800),
    CameraParam("video_trigger", 66008, choices=("none", "din1", "din2", "crash")),
    CameraParam("video_seconds_before", 66009, 1, 10),
    CameraParam("video_seconds_after", 66010, 1, 10),
)


def _invalid(key: str, **placeholders: Any) -> ServiceValidationError:
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders={k: str(v) for k, v in placeholders.items()},
    )


def check_range(field: str, value: int, limits: tuple[int, int]) -> int:
    """Value if within [min, max], else a translated error naming the field."""
    low, high = limits
    if not low <= value <= high:
        raise _invalid("out_of_range", field=field, value=value, min=low, max=high)
    return value


def check_choice(field: str, value: str, choices: tuple[str, ...]) -> str:
    """Value if it is one of choices, else a translated error listing them."""
    if value not in choices:
        raise _invalid("invalid_choice", field=field, value=value, choices=", ".join(choices))
    return value


def photo_request(source: str) -> dict[str, Any]:
    """camreq for a photo from front, rear or both cameras."""
    check_choice("source", source, CAMERA_SOURCES)
    return {
        "command": "camreq",
        "file_type": "photo",
        "source": source,
        "timestamp": None,
        "duration": None,
    }


def video_request(
    source: str,
    duration: int,
    start: datetime | None = None,
    seconds_before: int | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """camreq for a video; with neither start nor seconds_before the bridge uses now - duration."""
    check_choice("source", source, CAMERA_SOURCES)
    check_range("duration", duration, VIDEO_DURATION)
    now = now or dt_util.utcnow()
    timestamp: int | None = None
    if start is not None and seconds_before is not None:
        raise _invalid("start_or_seconds_before")
    if start is not None:
        # A naive time is the user's wall clock: HA's time zone, not UTC.
        if start.tzinfo is None:
            start = start.replace(tzinfo=dt_util.get_default_time_zone())
        if start > now:
            raise _invalid("start_in_future", start=start.isoformat())
        timestamp = int(start.timestamp())
    elif seconds_before is not None:
        check_range("seconds_before", seconds_before, SECONDS_BEFORE)
        timestamp = int(now.timestamp()) - seconds_before
    return {
        "command": "camreq",
        "file_type": "video",
        "source": source,
        "timestamp": timestamp,
        "duration": duration,
    }


def camera_settings(values: dict[str, Any]) -> dict[str, Any]:
    """setparam for the given settings; at least one is needed."""
    params: dict[str, int] = {}
    for param in CAMERA_PARAMS:
        if (value := values.get(param.field)) is None:
            continue
        if param.boolean:
            params[str(param.param_id)] = 1 if value else 0
        elif param.choices is not None:
            params[str(param.param_id)] = param.choices.index(
                check_choice(param.field, value, param.choices)
            )
        else:
            params[str(param.param_id)] = check_range(
                param.field, value, (param.minimum, param.maximum)
            )
    if not params:
        raise _invalid("no_settings", fields=", ".join(p.field for p in CAMERA_PARAMS))
    return {"command": "setparam", "params": params}


def button_photo_request(camera: str) -> dict[str, Any]:
    """camreq behind the "Request front/rear photo" buttons."""
    return photo_request(check_choice("camera", camera, CAMERAS))
