"""Photos and clips on disk: where they go, how they are named, and how they are found.

Layout: `<media_dir>/<imei>/<YYYY-MM-DD>/<HHMMSS>_<camera>_<kind>_<id>.<ext>`, the date and
time in Home Assistant's time zone so the folders match the user's day. The IMEI (not the
name) is the folder so a renamed vehicle keeps its history.
"""

from __future__ import annotations

import mimetypes
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from .const import MEDIA_SUBDIR
from .contract import is_imei
from .models import MediaInfo

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


def relative_path(imei: str, info: MediaInfo) -> str:
    """`<imei>/<day>/<file>` for a media event, in HA's local time."""
    local: datetime = dt_util.as_local(info.received_at)
    safe_id = _UNSAFE.sub("_", info.id).strip("._") or "file"
    name = (
        f"{local:%H%M%S}_{info.camera}_{info.kind}_{safe_id}.{file_extension(info.mime, info.kind)}"
    )
    return f"{imei}/{local:%Y-%m-%d}/{name}"


def write_file(root: Path, relative: str, data: bytes) -> Path:
    """Write atomically (temp file + rename) so a reader never sees half a clip."""
    target = root / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".partial-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def safe_file(root: Path, imei: str, day: str, name: str) -> Path | None:
    """The stored file for these path parts, or None if they do not name one.

    Every part is matched against its pattern, so a request can never leave the folder.
    """
    if not (is_imei(imei) and DAY_RE.match(day) and FILE_RE.match(name)):
        return None
    path = root / imei / day / name
    return path if path.is_file() else None


@dataclass(frozen=True, slots=True)
class StoredFile:
    """One file as listed for browsing."""

    name: str
    time: str
    camera: str
    kind: str
    mime: str


def list_vehicles(root: Path) -> list[str]:
    """IMEIs that have a folder."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and is_imei(p.name))


def list_days(root: Path, imei: str) -> list[str]:
    """Days with files for a vehicle, newest first."""
    folder = root / imei
    if not is_imei(imei) or not folder.is_dir():
        return []
    return sorted(
        (p.name for p in folder.iterdir() if p.is_dir() and DAY_RE.match(p.name)), reverse=True
    )


def list_files(root: Path, imei: str, day: str) -> list[StoredFile]:
    """Files of one day, newest first."""
    folder = root / imei / day
    if not (is_imei(imei) and DAY_RE.match(day)) or not folder.is_dir():
        return []
    files = []
    for path in folder.iterdir():
        if path.is_file() and (match := FILE_RE.match(path.name)):
            hhmmss, camera, kind = match.group(1, 2, 3)
            time = f"{hhmmss[:2]}:{hhmmss[2:4]}:{hhmmss[4:]}"
            files.append(StoredFile(path.name, time, camera, kind, mime_for(path.name)))
    return sorted(files, key=lambda f: f.name, reverse=True)
