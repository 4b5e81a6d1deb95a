"""How FMx125 firmware answers Codec 12 commands, and the camera captures a command asks for.

Pure: ``answer(text)`` returns the reply text the real firmware prints (``None`` for commands
it ignores) plus the captures a ``camreq`` makes the DualCam take. The simulated tracker sends
the reply and hands the captures to its simulated camera.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ..avl.command_text import CAMREQ_INVALID, MAX_VIDEO_DURATION_S, SOURCE_CAMERAS
from ..protocol.dualcam_frames import FILE_TYPE_CODES, FileMetadata
from . import media
from .camera import SimFile

TRIGGER_SERVER_REQUEST = 0
TRIGGER_CRASH = 3
CRASH_CLIP_S = 10
CRASH_PRE_ROLL_S = 5  # the DualCam keeps seconds before the trigger in its buffer

# The wiki's getinfo answer (trimmed to its first fields).
GETINFO = "INI:2019/7/22 7:22 RTC:2019/7/22 7:53 RST:2 ERR:1 SR:0 BR:0 CF:0 FG:0 FL:0"
_serial = itertools.count(1)


@dataclass
class Firmware:
    """The parameters a tracker holds and the position it is at (for capture metadata)."""

    imei: str
    params: dict[int, str] = field(
        default_factory=lambda: {66000: "3", 66001: "50", 66002: "0", 66003: "25"}
    )
    latitude: float = 54.6872
    longitude: float = 25.2797

    def answer(self, text: str, now: datetime | None = None) -> tuple[str | None, list[SimFile]]:
        """The firmware's reply to a command and the captures it triggers."""
        now = now or datetime.now(UTC)
        command = text.strip()
        if command.startswith("camreq:"):
            return self._camreq(command[len("camreq:") :], now)
        if command.startswith("setparam "):
            return self._setparam(command[len("setparam ") :]), []
        if command.startswith("getparam "):
            return self._getparam(command[len("getparam ") :]), []
        if command == "getinfo":
            return GETINFO, []
        if command == "getver":
            return f"Ver:03.29.00_04 GPS:AXN_5.10 Hw:FMC125 Mod:34 IMEI:{self.imei}", []
        return None, []  # unknown commands go unanswered

    def _camreq(self, args: str, now: datetime) -> tuple[str, list[SimFile]]:
        parts = [p.strip() for p in args.split(",")]
        try:
            numbers = [int(p) for p in parts[:4]]
        except ValueError:
            return CAMREQ_INVALID, []
        if len(numbers) < 2 or numbers[1] not in SOURCE_CAMERAS:
            return CAMREQ_INVALID, []
        kind, source = numbers[0], numbers[1]
        if kind == 1:
            files = [
                self.capture("photo", cam, TRIGGER_SERVER_REQUEST, now) for cam in _cams(source)
            ]
            return f"Request for photo from source {source} received", files
        if kind != 0 or len(numbers) < 4:
            return CAMREQ_INVALID, []
        start, duration = numbers[2], numbers[3]
        if start <= 0 or not 1 <= duration <= MAX_VIDEO_DURATION_S:
            return CAMREQ_INVALID, []
        since = datetime.fromtimestamp(start, UTC)
        files = [
            self.capture("video", cam, TRIGGER_SERVER_REQUEST, since, duration)
            for cam in _cams(source)
        ]
        # Sic: the firmware prints the date and the time with no separator.
        stamp = since.strftime("%Y-%m-%d%H:%M:%S")
        reply = (
            f"Request for video from source {source} received for {duration} seconds since {stamp}"
        )
        return reply, files

    def crash_clips(self, at: datetime) -> list[SimFile]:
        """The videos a crash trigger makes both cameras record."""
        start = at - timedelta(seconds=CRASH_PRE_ROLL_S)
        return [self.capture("video", cam, TRIGGER_CRASH, start, CRASH_CLIP_S) for cam in _cams(3)]

    def capture(
        self, kind: str, camera: str, trigger: int, when: datetime, length_s: int = 0
    ) -> SimFile:
        """One unique photo or video with the metadata the DualCam attaches."""
        file_id = f"%{kind}{camera[0]}"
        when = when.replace(microsecond=when.microsecond // 1000 * 1000)
        n = next(_serial)
        tag = f"imei={self.imei} {kind} {camera} trigger={trigger} t={when.isoformat()} n={n}"
        data = media.photo(camera, tag) if kind == "photo" else media.video(camera, tag)
        meta = FileMetadata(
            version=1,
            file_type=FILE_TYPE_CODES[file_id],
            timestamp=when,
            trigger=trigger,
            length_s=length_s if kind == "video" else 0,
            framerate=25 if kind == "video" else 0,
            timezone_min=0,
            latitude=self.latitude,
            longitude=self.longitude,
        )
        return SimFile(file_id, data, meta)

    def _setparam(self, args: str) -> str:
        pairs = [p.split(":", 1) for p in args.split(";") if p.strip()]
        if not pairs or any(len(p) != 2 or not p[0].strip().isdecimal() for p in pairs):
            return "Param ID or value is incorrect"
        for pid, value in pairs:
            self.params[int(pid)] = value.strip()
        return "New value " + "".join(f"{pid.strip()}:{value.strip()};" for pid, value in pairs)

    def _getparam(self, args: str) -> str:
        ids = [p.strip() for p in args.split(";") if p.strip()]
        if not ids or not all(i.isdecimal() for i in ids):
            return "Param ID or value is incorrect"
        first, *rest = (int(i) for i in ids)
        if first not in self.params:
            return f"Param ID:{first} doesn't exist"
        # As the wiki shows: the first as "Param ID:x Value:y", further ones as ";x:y".
        out = f"Param ID:{first} Value:{self.params[first]}"
        return out + "".join(f";{pid}:{self.params.get(pid, '')}" for pid in rest)


def _cams(source: int) -> tuple[str, ...]:
    return SOURCE_CAMERAS[source]
