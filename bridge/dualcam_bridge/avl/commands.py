"""Tracker commands: validated camreq/setparam/getparam text, reply parsing, a per-tracker queue.

Pure: no sockets, no clock. The queue takes ``now`` (a monotonic reading such as
``loop.time()``) in every call that needs time, so an asyncio layer drives it::

    queue.submit(imei, request_video("rear", start, 10), now=loop.time())
    queue.connected(imei)
    if (cmd := queue.next_command(imei, now=loop.time())):   write(conn.send_command(cmd.text))
    outcome = queue.response(imei, event.text, now=loop.time())   # on CommandResponse
    for outcome in queue.expire(now=loop.time()): ...         # at queue.next_deadline()
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from ..contract import CAMERA_SETTINGS as CAMERA_SETTINGS
from ..contract import CAMERA_SETTINGS_BY_KEY as _SETTINGS_BY_KEY
from ..contract import CAMERA_SOURCES as SOURCES
from ..contract import MAX_VIDEO_DURATION_S as MAX_VIDEO_DURATION_S
from ..contract import SOURCE_CAMERAS as SOURCE_CAMERAS
from ..contract import CameraSetting as CameraSetting
from ..events import Camera, MediaKind

CAMREQ_INVALID = "Invalid argument in camera request cmd!"


class CommandError(ValueError):
    """A command argument the device would refuse; nothing was sent."""


# ---- building commands -----------------------------------------------------------------------


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


def camera_source(source: str | int) -> int:
    """The camreq source number (1 front, 2 rear, 3 both) of a name or number."""
    number = SOURCES.get(source.strip().lower()) if isinstance(source, str) else None
    number = number or _int(source)
    if number not in (1, 2, 3):
        raise _camreq_error("source", f"{source!r} is not front, rear, both or 1-3")
    return number


def request_photo(source: str | int) -> str:
    """``camreq:1,<source>``: take a photo now and upload it."""
    return f"camreq:1,{camera_source(source)}"


def request_video(source: str | int, start: datetime | int, duration: int) -> str:
    """``camreq:0,<source>,<unix start>,<duration>``: upload video from the camera's buffer."""
    number = camera_source(source)
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
    seconds = _int(duration)
    if seconds is None or not 1 <= seconds <= MAX_VIDEO_DURATION_S:
        raise _camreq_error("duration", f"{duration!r} is not 1-{MAX_VIDEO_DURATION_S} seconds")
    return f"camreq:0,{number},{timestamp},{seconds}"


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


def set_camera_settings(
    settings: Mapping[str | int, object] | None = None, /, **params: object
) -> str:
    """``setparam 66000:3;66001:50``; keys are names (``compression``) or ids (66001)."""
    values: dict[int, int] = {}
    for key, value in [*(settings or {}).items(), *params.items()]:
        setting = _SETTINGS_BY_KEY.get(str(key).strip().lower())
        if setting is None:
            known = ", ".join(s.name for s in CAMERA_SETTINGS)
            raise CommandError(f"Unknown camera setting {key!r}; known: {known} or 66000-66010")
        if setting.id in values:
            raise CommandError(f"Camera setting {setting.name} ({setting.id}) given twice")
        values[setting.id] = _setting_value(setting, value)
    if not values:
        raise CommandError("No camera settings given")
    return "setparam " + ";".join(f"{pid}:{value}" for pid, value in sorted(values.items()))


def get_params(ids: Iterable[int | str]) -> str:
    """``getparam 66000;66001``; ids are numbers or camera setting names."""
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
    return "getparam " + ";".join(map(str, numbers))


_MAX_COMMAND_LENGTH = 1024


def raw(text: str) -> str:
    """Any command text, checked to be printable ASCII the tracker can take."""
    if not isinstance(text, str) or not text.strip():
        raise CommandError("Command text is empty")
    if len(text) > _MAX_COMMAND_LENGTH:
        raise CommandError(f"Command text is {len(text)} characters, limit {_MAX_COMMAND_LENGTH}")
    if not (text.isascii() and text.isprintable()):
        raise CommandError(f"Command text must be printable ASCII: {text!r}")
    return text


# ---- parsing responses -----------------------------------------------------------------------


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


def parse_response(text: str) -> CommandResult:
    """Turn a tracker's reply into a structured result; never raises."""
    clean = text.strip().strip("\x00").strip()
    if clean.startswith(CAMREQ_INVALID):
        return CameraRequestRejected(clean)
    if match := _VIDEO.search(clean):
        source, duration, *stamp = (int(g) for g in match.groups())
        try:
            since: datetime | None = datetime(*stamp)
        except ValueError:
            since = None
        return CameraRequestAccepted("video", source, clean, duration, since)
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


# ---- the per-tracker queue -------------------------------------------------------------------

CommandStatus = Literal["completed", "timeout", "expired", "disconnected", "cancelled"]


@dataclass(frozen=True, slots=True)
class QueuedCommand:
    """A command waiting for, or on, its tracker."""

    id: int
    imei: str
    text: str
    submitted_at: float
    expires_at: float  # dropped unsent after this


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    """How a command ended; ``result`` is set when the tracker answered."""

    command: QueuedCommand
    status: CommandStatus
    at: float
    result: CommandResult | None = None

    @property
    def ok(self) -> bool:
        """Answered, and not with a refusal."""
        return self.status == "completed" and not isinstance(self.result, CameraRequestRejected)


@dataclass(slots=True)
class _Tracker:
    queued: deque[QueuedCommand] = field(default_factory=deque)
    in_flight: QueuedCommand | None = None
    sent_at: float = 0.0
    online: bool = False


class CommandQueue:
    """Per-tracker FIFO with one command in flight, answer matching, timeout and TTL."""

    def __init__(self, *, timeout: float = 30.0, ttl: float = 3600.0, max_queued: int = 32) -> None:
        self.timeout = timeout
        self.ttl = ttl
        self.max_queued = max_queued
        self._trackers: dict[str, _Tracker] = {}
        self._next_id = 1
        self._finished: list[CommandOutcome] = []  # expired heads found by next_command

    def submit(
        self, imei: str, text: str, *, now: float, ttl: float | None = None
    ) -> QueuedCommand:
        """Queue ``text`` for ``imei``; it waits while the tracker is offline, up to ``ttl`` s."""
        if not (len(imei) == 15 and imei.isascii() and imei.isdigit()):
            raise CommandError(f"IMEI {imei!r} is not 15 digits")
        tracker = self._trackers.setdefault(imei, _Tracker())
        if len(tracker.queued) >= self.max_queued:
            raise CommandError(f"{len(tracker.queued)} commands already wait for {imei}")
        command = QueuedCommand(
            self._next_id, imei, raw(text), now, now + (self.ttl if ttl is None else ttl)
        )
        self._next_id += 1
        tracker.queued.append(command)
        return command

    def connected(self, imei: str) -> None:
        """The tracker logged in: its queue may drain."""
        self._trackers.setdefault(imei, _Tracker()).online = True

    def disconnected(self, imei: str, *, now: float) -> list[CommandOutcome]:
        """The link dropped: a command in flight ends as ``disconnected`` (never resent, it may
        have run); queued ones keep waiting."""
        tracker = self._trackers.get(imei)
        if tracker is None:
            return []
        tracker.online = False
        outcomes = []
        if tracker.in_flight is not None:
            outcomes.append(CommandOutcome(tracker.in_flight, "disconnected", now))
            tracker.in_flight = None
        self._prune(imei)
        return outcomes

    def next_command(self, imei: str, *, now: float) -> QueuedCommand | None:
        """The command to send now, marked in flight; None if offline, busy or empty."""
        tracker = self._trackers.get(imei)
        if tracker is None or not tracker.online or tracker.in_flight is not None:
            return None
        while tracker.queued:
            command = tracker.queued.popleft()
            if command.expires_at <= now:
                self._finished.append(CommandOutcome(command, "expired", now))
                continue
            tracker.in_flight, tracker.sent_at = command, now
            return command
        return None

    def in_flight(self, imei: str) -> QueuedCommand | None:
        """The command sent and not yet answered."""
        tracker = self._trackers.get(imei)
        return tracker.in_flight if tracker else None

    def queued(self, imei: str) -> tuple[QueuedCommand, ...]:
        """Commands waiting to be sent, oldest first."""
        tracker = self._trackers.get(imei)
        return tuple(tracker.queued) if tracker else ()

    def response(self, imei: str, text: str, *, now: float) -> CommandOutcome | None:
        """Match a reply to the command in flight; None when nothing is in flight or it
        plainly answers another command (a late reply to one that timed out)."""
        tracker = self._trackers.get(imei)
        if tracker is None or tracker.in_flight is None:
            return None
        result = parse_response(text)
        if not response_matches(tracker.in_flight.text, result):
            return None
        outcome = CommandOutcome(tracker.in_flight, "completed", now, result)
        tracker.in_flight = None
        return outcome

    def cancel(self, command_id: int, *, now: float) -> CommandOutcome | None:
        """Drop a queued command; one already sent cannot be taken back (returns None)."""
        for imei, tracker in self._trackers.items():
            for command in tracker.queued:
                if command.id == command_id:
                    tracker.queued.remove(command)
                    self._prune(imei)
                    return CommandOutcome(command, "cancelled", now)
        return None

    def expire(self, *, now: float) -> list[CommandOutcome]:
        """End commands whose answer timed out or whose TTL ran out while waiting."""
        outcomes, self._finished = self._finished, []
        for imei, tracker in list(self._trackers.items()):
            if tracker.in_flight is not None and tracker.sent_at + self.timeout <= now:
                outcomes.append(CommandOutcome(tracker.in_flight, "timeout", now))
                tracker.in_flight = None
            alive = deque(c for c in tracker.queued if c.expires_at > now)
            if len(alive) != len(tracker.queued):
                outcomes.extend(
                    CommandOutcome(c, "expired", now) for c in tracker.queued if c.expires_at <= now
                )
                tracker.queued = alive
            self._prune(imei)
        return outcomes

    def next_deadline(self) -> float | None:
        """When ``expire`` next has work; None when nothing waits."""
        if self._finished:
            return self._finished[0].at
        deadlines = [
            deadline
            for tracker in self._trackers.values()
            for deadline in (
                *(c.expires_at for c in tracker.queued),
                *((tracker.sent_at + self.timeout,) if tracker.in_flight else ()),
            )
        ]
        return min(deadlines, default=None)

    def _prune(self, imei: str) -> None:
        # Forget idle offline trackers so the map does not grow with every IMEI ever seen.
        tracker = self._trackers[imei]
        if not tracker.online and tracker.in_flight is None and not tracker.queued:
            del self._trackers[imei]
