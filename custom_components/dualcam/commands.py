"""Command payloads of the MQTT contract, built from service input and checked first.

Every check raises ServiceValidationError with a translation key, so the user reads
which field is wrong and what is allowed, in their language, before anything is sent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from homeassistant.exceptions import ServiceValidationError
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .contract import (
    CAMERA_SETTINGS,
    CAMERA_SOURCES,
    CAMERAS,
    MAX_VIDEO_DURATION_S,
    MIN_VIDEO_DURATION_S,
)

VIDEO_DURATION = (MIN_VIDEO_DURATION_S, MAX_VIDEO_DURATION_S)
# Service input only: how many seconds before now a video may start.
SECONDS_BEFORE = (0, 86400)


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
    check_choice("source", source, tuple(CAMERA_SOURCES))
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
    check_choice("source", source, tuple(CAMERA_SOURCES))
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
    for setting in CAMERA_SETTINGS:
        if (value := values.get(setting.name)) is None:
            continue
        if setting.type == "bool":
            params[str(setting.id)] = 1 if value else 0
        elif setting.type == "choice":
            params[str(setting.id)] = setting.names[
                check_choice(setting.name, value, setting.choices)
            ]
        else:
            params[str(setting.id)] = check_range(setting.name, value, (setting.low, setting.high))
    if not params:
        raise _invalid("no_settings", fields=", ".join(s.name for s in CAMERA_SETTINGS))
    return {"command": "setparam", "params": params}


def button_photo_request(camera: str) -> dict[str, Any]:
    """camreq behind the "Request front/rear photo" buttons."""
    return photo_request(check_choice("camera", camera, CAMERAS))
