"""Typed command requests: what a caller asks of a tracker, before it is Codec 12 text.

The router (``router.CommandRouter.submit``) takes one of these or plain command text; the
MQTT layer builds them from the contract's JSON (``mqtt.commands``), so nothing on the AVL side
reads a payload. Each request knows its text (``to_text``), checked by ``command_text``: a value
the device would refuse raises ``CommandError`` there, however the request was built.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from .command_text import get_params, raw, request_photo, request_video, set_camera_settings


@dataclass(frozen=True, slots=True)
class CameraPhotoRequest:
    """``camreq`` for a photo taken now; ``source`` 1 front, 2 rear, 3 both."""

    source: int

    def to_text(self) -> str:
        """``camreq:1,<source>``."""
        return request_photo(self.source)


@dataclass(frozen=True, slots=True)
class CameraVideoRequest:
    """``camreq`` for ``duration_s`` seconds of the camera's buffer from ``start``."""

    source: int
    start: datetime | int  # an aware datetime or Unix seconds
    duration_s: int

    def to_text(self) -> str:
        """``camreq:0,<source>,<unix start>,<duration>``."""
        return request_video(self.source, self.start, self.duration_s)


@dataclass(frozen=True, slots=True)
class SetCameraSettings:
    """``setparam`` of DualCam settings: parameter id (66000-66010) → value."""

    values: Mapping[int, int]

    def to_text(self) -> str:
        """``setparam 66000:3;66001:50``."""
        return set_camera_settings(self.values)


@dataclass(frozen=True, slots=True)
class GetParams:
    """``getparam`` of parameter ids, in the order given."""

    ids: tuple[int, ...]

    def to_text(self) -> str:
        """``getparam 66000;66001``."""
        return get_params(self.ids)


@dataclass(frozen=True, slots=True)
class RawCommand:
    """Any command text (``getinfo``, ``getver``…), checked only to be printable ASCII."""

    text: str

    def to_text(self) -> str:
        """The text itself."""
        return raw(self.text)


CommandRequest = (
    CameraPhotoRequest | CameraVideoRequest | SetCameraSettings | GetParams | RawCommand
)
