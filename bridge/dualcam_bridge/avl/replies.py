"""The tracker's answers to commands: text in, a typed result out, and which command it answers.

Owns the firmware's reply wording (camreq accepted or refused, ``Param ID:…`` / ``New value …``
parameter lists, ``INI:`` / ``Ver:``). Pure: ``parse_response`` never raises and
``response_matches`` decides whether a reply belongs to the command in flight.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from ..events import Camera, MediaKind
from .command_text import CAMREQ_INVALID, SOURCE_CAMERAS


@dataclass(frozen=True, slots=True)
class CameraRequestAccepted:
    """The tracker took a camreq; ``since`` is as the device printed it (its clock, no zone)."""

    kind: MediaKind
    source: int
    text: str
    duration_s: int | None = None
    since: datetime | None = None

    @property
    def cameras(self) -> tuple[Camera, ...]:
        """The cameras the request addresses."""
        return SOURCE_CAMERAS[self.source]


@dataclass(frozen=True, slots=True)
class CameraRequestRejected:
    """The tracker refused a camreq ("Invalid argument in camera request cmd!")."""

    text: str


@dataclass(frozen=True, slots=True)
class ParamValues:
    """A getparam/setparam reply: parameter id → value text as the device reported it."""

    values: dict[int, str]
    text: str


@dataclass(frozen=True, slots=True)
class UnrecognizedResponse:
    """Any other reply, kept verbatim."""

    text: str


CommandResult = CameraRequestAccepted | CameraRequestRejected | ParamValues | UnrecognizedResponse

_PHOTO = re.compile(r"Request for photo from source\s+([1-3])\s+received", re.I)
# The firmware prints "since 2026-11-2612:00:00": no separator between date and time.
_VIDEO = re.compile(
    r"Request for video from source\s+([1-3])\s+received for\s+(\d+)\s+seconds since\s+"
    r"(\d{4})-(\d{2})-(\d{2})[ T]?(\d{2}):(\d{2}):(\d{2})",
    re.I,
)
_PARAM_ID = re.compile(r"Param ID:\s*(\d+)\s+Value:(.*)", re.I | re.S)
_PARAM_PAIR = re.compile(r"(\d+):(.*)", re.S)
_NEW_VALUE = "new value "


def _param_values(text: str) -> dict[int, str] | None:
    # Wiki: "Param ID:2001 Value:wap;1000:30"; FMB firmware also answers setparam with
    # "New value 2001:wap;1000:30;" (trailing separator included).
    body = text[len(_NEW_VALUE) :] if text.lower().startswith(_NEW_VALUE) else text
    values: dict[int, str] = {}
    for part in body.split(";"):
        part = part.strip()
        if not part:
            continue
        match = _PARAM_ID.fullmatch(part) or _PARAM_PAIR.fullmatch(part)
        if match is None:
            return None
        values[int(match.group(1))] = match.group(2).strip()
    return values or None


def _device_time(
    year: int, month: int, day: int, hour: int, minute: int, second: int
) -> datetime | None:
    try:
        return datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None  # the firmware printed a date that does not exist


def parse_response(text: str) -> CommandResult:
    """Turn a tracker's reply into a structured result; never raises."""
    clean = text.strip().strip("\x00").strip()
    if clean.startswith(CAMREQ_INVALID):
        return CameraRequestRejected(clean)
    if match := _VIDEO.search(clean):
        source, duration, *stamp = (int(g) for g in match.groups())
        return CameraRequestAccepted("video", source, clean, duration, _device_time(*stamp))
    if match := _PHOTO.search(clean):
        return CameraRequestAccepted("photo", int(match.group(1)), clean)
    if clean.lower().startswith(("param id:", _NEW_VALUE)) and (values := _param_values(clean)):
        return ParamValues(values, clean)
    return UnrecognizedResponse(clean)


# Replies that name the command they answer (getinfo's "INI:…", getver's "Ver:…").
_REPLY_VERBS = (("INI:", "getinfo"), ("Ver:", "getver"))


def response_matches(command: str, result: CommandResult) -> bool:
    """False only when the reply clearly answers a different command (a late one)."""
    verb = command.split(":", 1)[0].split(" ", 1)[0].lower()
    if isinstance(result, UnrecognizedResponse):
        # A late getinfo answer must not complete the camreq sent after it timed out.
        for prefix, answers in _REPLY_VERBS:
            if result.text.startswith(prefix):
                return verb == answers
    if isinstance(result, CameraRequestAccepted | CameraRequestRejected):
        if verb != "camreq":
            return False
        if isinstance(result, CameraRequestRejected):
            return True
        args = command.split(":", 1)[1].split(",")
        kind = "video" if args[0].strip() == "0" else "photo"
        same = kind == result.kind and args[1:2] == [str(result.source)]
        return same and (kind == "photo" or args[3:4] == [str(result.duration_s)])
    if isinstance(result, ParamValues):
        if verb not in ("setparam", "getparam"):
            return False
        keys = (part.split(":", 1)[0].strip() for part in command.split(" ", 1)[-1].split(";"))
        return set(result.values) <= {int(key) for key in keys if key.isdecimal()}
    return True
