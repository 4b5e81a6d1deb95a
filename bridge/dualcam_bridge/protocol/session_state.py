"""The camera session's states and settings (``filetransfer.CameraSession`` runs them).

Kept apart from the machine, as h11 keeps ``_state`` apart from ``_connection``: which states
exist, which ones wait for the application, and the limits a session enforces.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

SUPPORTED_PROTOCOL_IDS = (5, 6)
MAX_UNKNOWN_FRAMES = 8
# The largest frame we are willing to buffer for a command we do not know.
UNKNOWN_FRAME_MAX = 4096


class State(enum.Enum):
    """Where the session is; the legal inputs of each state are in ``_receive_frame``."""

    AWAIT_INIT = "await_init"
    AWAIT_ACCEPT = "await_accept"  # app: accept() / reject()
    AWAIT_METADATA = "await_metadata"  # app may call metadata_timed_out()
    AWAIT_START = "await_start"
    AWAIT_RESUME = "await_resume"  # app: resume(next_packet, crc) or restart
    AWAIT_SYNC = "await_sync"
    RECEIVING = "receiving"
    AWAIT_COMMIT = "await_commit"  # app: file_committed() / close()
    AWAIT_REINIT = "await_reinit"
    CLOSED = "closed"


# States in which parsing waits for the app (or stops for good).
PAUSED = frozenset({State.AWAIT_ACCEPT, State.AWAIT_RESUME, State.AWAIT_COMMIT, State.CLOSED})


@dataclass(slots=True)
class SessionConfig:
    request_metadata: bool = True
    max_packets: int = 64 * 1024  # 64 MiB
    max_retries: int = 5
