"""Saved copies on disk: where they go, how they are named and written, and how they are found.

Layout: `<media_dir>/<imei>/<YYYY-MM-DD>/<HHMMSS>_<camera>_<kind>_<id>.<ext>`, the capture
date and time (the receive time without metadata) in Home Assistant's time zone so the folders
match the user's day. The IMEI (not the name) is the folder so a renamed vehicle keeps its
history.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import re
import tempfile
from datetime import datetime
from pathlib import Path

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from .const import MEDIA_SUBDIR
from .contract import is_imei
from .media_index import MediaItem

DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
FILE_RE = re.compile(r"^(\d{6})_(front|rear)_(photo|video)_([A-Za-z0-9_.-]+)\.([a-z0-9]+)$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_EXTENSIONS = {"image/jpeg": "jpg", "video/mp4": "mp4", "video/hevc": "h265"}
_MIME_BY_EXT = {ext: mime for mime, ext in _EXTENSIONS.items()}


def default_media_dir(hass: HomeAssistant) -> str:
    """HA's local media folder (/media on HA OS) plus `dualcam`."""
    base = hass.config.media_dirs.get("local") or hass.config.path("media")
    return os.path.join(base, MEDIA_SUBDIR)


def file_extension(mime: str, kind: str) -> str:
    """Extension for a MIME type; raw streams keep a telling one."""
    if ext := _EXTENSIONS.get(mime):
        return ext
    guessed = mimetypes.guess_extension(mime or "")
    if guessed:
        return guessed.lstrip(".")
    return "jpg" if kind == "photo" else "bin"


def mime_for(file_name: str) -> str:
    """MIME type of a stored file, from its extension."""
    ext = file_name.rsplit(".", 1)[-1].lower()
    return _MIME_BY_EXT.get(ext) or mimetypes.guess_type(file_name)[0] or "application/octet-stream"


def relative_path(item: MediaItem, variant: str) -> str:
    """`<imei>/<day>/<file>` for a saved copy, by capture time in HA's local time.

    A clip's original and its browser MP4 share the name (both `.mp4`): the browser copy
    replaces the original one.
    """
    local: datetime = dt_util.as_local(item.taken_at)
    safe_id = _UNSAFE.sub("_", item.id).strip("._") or "file"
    ext = file_extension(item.mime_of(variant), item.kind)
    name = f"{local:%H%M%S}_{item.camera}_{item.kind}_{safe_id}.{ext}"
    return f"{item.imei}/{local:%Y-%m-%d}/{name}"


class PartialFile:
    """A file written in pieces from the executor, renamed into place when complete.

    A reader (the media view, the user's file browser) never sees half a clip, and a failed
    download leaves nothing behind.
    """

    def __init__(self, root: Path, relative: str) -> None:
        """Open a temporary file next to the target (call from the executor)."""
        self.target = root / relative
        self.target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.target.parent, prefix=".partial-")
        self._tmp = Path(tmp)
        self._handle = os.fdopen(fd, "wb")
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        """Append a chunk (executor)."""
        self._handle.write(chunk)
        self.sha256.update(chunk)
        self.size += len(chunk)

    def commit(self) -> Path:
        """Flush and move into place (executor)."""
        self._handle.close()
        os.replace(self._tmp, self.target)
        return self.target

    def discard(self) -> None:
        """Close and delete the temporary file (executor)."""
        self._handle.close()
        self._tmp.unlink(missing_ok=True)


def remove_file(root: Path, relative: str) -> None:
    """Delete a saved copy that another one replaced (executor)."""
    (root / relative).unlink(missing_ok=True)


def safe_file(root: Path, imei: str, day: str, name: str) -> Path | None:
    """The stored file for these path parts, or None if they do not name one.

    Every part is matched against its pattern, so a request can never leave the folder.
    """
    if not (is_imei(imei) and DAY_RE.match(day) and FILE_RE.match(name)):
        return None
    path = root / imei / day / name
    return path if path.is_file() else None


def saved_file(root: Path, relative: str) -> Path | None:
    """A saved copy recorded in the media index, if it is still there (executor)."""
    parts = relative.split("/")
    return safe_file(root, *parts) if len(parts) == 3 else None
