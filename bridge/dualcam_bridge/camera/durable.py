"""Making a finished file durable and visible at once: fsync, then rename or link, then fsync
the folder (so a crash leaves the old name or the whole new file, never a torn one).

Blocking I/O: call these from a worker thread, never on the event loop.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: Path) -> None:
    """fsync a folder (its new entries); some filesystems refuse, which costs only durability."""
    with contextlib.suppress(OSError):
        fsync_file(folder)


def publish_file(tmp: Path, target: Path) -> None:
    """fsync ``tmp``, rename it to ``target`` (replacing it), fsync the folder."""
    fsync_file(tmp)
    os.replace(tmp, target)
    fsync_dir(target.parent)


def link_durably(src: Path, dst: Path) -> None:
    """Hard-link ``src`` as ``dst`` (never overwriting) and fsync the folder."""
    os.link(src, dst)
    fsync_dir(dst.parent)
