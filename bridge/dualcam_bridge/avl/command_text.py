"""Tracker command text: validated ``camreq`` / ``setparam`` / ``getparam`` / raw Codec 12 text.

Owns the device's limits (sources, video length, the DualCam camera-settings table) and the
wording of a refusal (``CommandError``, in the firmware's own words for a ``camreq``). Pure:
no sockets, no clock. Parsing the tracker's answers is ``replies``; queueing is
``command_queue``.

    request_video("rear", start, 10)            # "camreq:0,2,<unix start>,10"
    set_camera_settings({"compression": 50})    # "setparam 66001:50"
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

# The device's limits and the settings table are the contract's (shared with the Home
# Assistant integration); re-exported under the names the builders use.
from ..contract import CAMERA_SETTINGS as CAMERA_SETTINGS
from ..contract import CAMERA_SETTINGS_BY_KEY as _SETTINGS_BY_KEY
from ..contract import CAMERA_SOURCES as SOURCES
from ..contract import MAX_VIDEO_DURATION_S as MAX_VIDEO_DURATION_S
from ..contract import MIN_VIDEO_DURATION_S as MIN_VIDEO_DURATION_S
from ..contract import SOURCE_CAMERAS as SOURCE_CAMERAS
from ..contract import CameraSetting as CameraSetting

CAMREQ_INVALID = "Invalid argument in camera request cmd!"


class CommandError(ValueError):
    """A command argument the device would refuse; nothing was sent."""


_MAX_COMMAND_LENGTH = 1024


# ---- single arguments: any JSON-ish value in, a checked number out ---------------------------


def _camreq_error(argument: str, why: str) -> CommandError:
    return CommandError(f"{CAMREQ_INVALID} {argument}: {why}")


def _int(value: object) -> int | None:
    """An int from an int or a decimal string; None for anything else (bools included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdecimal():
        return int(value)
    return None


def camera_source(source: object) -> int:
    """The camreq source number (1 front, 2 rear, 3 both) of a name or number."""
    number = SOURCES.get(source.strip().lower()) if isinstance(source, str) else None
    number = number or _int(source)
    if number not in (1, 2, 3):
        raise _camreq_error("source", f"{source!r} is not front, rear, both or 1-3")
    return number


def video_start(start: object) -> int:
    """The Unix seconds of a video's start: an aware datetime, or Unix seconds."""
    if isinstance(start, datetime):
        if start.tzinfo is None or start.utcoffset() is None:
            raise _camreq_error("start", "a datetime must be timezone-aware")
        timestamp = int(start.timestamp())
    else:
        parsed = _int(start)
        if parsed is None:
            raise _camreq_error("start", f"{start!r} is neither a datetime nor Unix seconds")
        timestamp = parsed
    if not 0 < timestamp < 2**32:
        raise _camreq_error("start", f"Unix time {timestamp} is out of range")
    return timestamp


def video_duration(duration: object) -> int:
    """A video length the camera's buffer can serve: 1 to ``MAX_VIDEO_DURATION_S`` seconds."""
    seconds = _int(duration)
    if seconds is None or not MIN_VIDEO_DURATION_S <= seconds <= MAX_VIDEO_DURATION_S:
        raise _camreq_error(
            "duration", f"{duration!r} is not {MIN_VIDEO_DURATION_S}-{MAX_VIDEO_DURATION_S} seconds"
        )
    return seconds


def _setting_value(setting: CameraSetting, value: object) -> int:
    number = setting.names.get(value.strip().lower()) if isinstance(value, str) else None
    if number is None:
        number = int(value) if isinstance(value, bool) else _int(value)
    if number is None or not setting.low <= number <= setting.high:
        allowed = f"{setting.low}-{setting.high}"
        if setting.names:
            allowed += " or " + ", ".join(setting.names)
        raise CommandError(
            f"Invalid camera setting {setting.name} ({setting.id}): {value!r} is not {allowed}"
        )
    return number


def camera_setting_values(settings: Iterable[tuple[object, object]]) -> dict[int, int]:
    """Parameter id → value of (name or id, value) pairs, each checked against its range."""
    values: dict[int, int] = {}
    for key, value in settings:
        setting = _SETTINGS_BY_KEY.get(str(key).strip().lower())
        if setting is None:
            known = ", ".join(s.name for s in CAMERA_SETTINGS)
            raise CommandError(f"Unknown camera setting {key!r}; known: {known} or 66000-66010")
        if setting.id in values:
            raise CommandError(f"Camera setting {setting.name} ({setting.id}) given twice")
        values[setting.id] = _setting_value(setting, value)
    if not values:
        raise CommandError("No camera settings given")
    return values


def param_ids(ids: Iterable[object] | int | str) -> list[int]:
    """Parameter ids of numbers or camera setting names, each once, in the order given."""
    numbers: list[int] = []
    for key in [ids] if isinstance(ids, str | int) else ids:
        setting = _SETTINGS_BY_KEY.get(str(key).strip().lower())
        number = setting.id if setting else _int(key)
        if number is None or not 1 <= number <= 99999:
            raise CommandError(f"Parameter id {key!r} is not a number 1-99999 or a setting name")
        if number not in numbers:
            numbers.append(number)
    if not numbers:
        raise CommandError("No parameter ids given")
    return numbers


# ---- whole commands --------------------------------------------------------------------------


def request_photo(source: str | int) -> str:
    """``camreq:1,<source>``: take a photo now and upload it."""
    return f"camreq:1,{camera_source(source)}"


def request_video(source: str | int, start: datetime | int, duration: int) -> str:
    """``camreq:0,<source>,<unix start>,<duration>``: upload video from the camera's buffer."""
    number = camera_source(source)
    timestamp = video_start(start)
    return f"camreq:0,{number},{timestamp},{video_duration(duration)}"


# Mapping is invariant in its key: name the three shapes callers have.
SettingsMapping = Mapping[str | int, object] | Mapping[str, object] | Mapping[int, object]


def set_camera_settings(settings: SettingsMapping | None = None, /, **params: object) -> str:
    """``setparam 66000:3;66001:50``; keys are names (``compression``) or ids (66001)."""
    pairs: list[tuple[object, object]] = [*(settings or {}).items(), *params.items()]
    values = camera_setting_values(pairs)
    return "setparam " + ";".join(f"{pid}:{value}" for pid, value in sorted(values.items()))


def get_params(ids: Iterable[int | str] | int | str) -> str:
    """``getparam 66000;66001``; ids are numbers or camera setting names."""
    return "getparam " + ";".join(map(str, param_ids(ids)))


def raw(text: object) -> str:
    """Any command text, checked to be printable ASCII the tracker can take."""
    if not isinstance(text, str) or not text.strip():
        raise CommandError("Command text is empty")
    if len(text) > _MAX_COMMAND_LENGTH:
        raise CommandError(f"Command text is {len(text)} characters, limit {_MAX_COMMAND_LENGTH}")
    if not (text.isascii() and text.isprintable()):
        raise CommandError(f"Command text must be printable ASCII: {text!r}")
    return text
