"""Events of an AVL tracker link (see ``avl_connection``), one frozen dataclass each, as in h11.

``AvlEvent`` is what the server's half reports, ``TrackerEvent`` what the tracker's half
(simulator, tests) reports. ``BadCrc`` and ``ConnectionClosed`` occur on both ends.
"""

from __future__ import annotations

from dataclasses import dataclass

from .codec8 import AvlRecord

# ---- both ends -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BadCrc:
    """A frame failed its CRC; it is dropped unanswered and the sender resends it."""

    codec_id: int
    received: int
    computed: int


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The peer closed its end (``receive_data(b"")``); the last event of a connection.

    ``unparsed`` counts the bytes received and never turned into an event: an incomplete
    frame, or frames held back while the app had a login to decide. ``awaiting_ack`` is
    ``awaiting_ack`` at the close: packets whose ACK will now never be sent (server) or
    never arrive (tracker), so the tracker resends them on its next link.
    """

    unparsed: int
    awaiting_ack: int


# ---- server side -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoginRequest:
    """The tracker sent its IMEI; answer with ``accept_login()`` or ``reject_login()``."""

    imei: str


@dataclass(frozen=True, slots=True)
class RecordsReceived:
    """A CRC-checked AVL packet; call ``ack()`` once the records are handled."""

    codec_id: int
    records: tuple[AvlRecord, ...]


@dataclass(frozen=True, slots=True)
class CommandResponse:
    """The tracker's Codec 12 answer to the oldest command sent with ``send_command``."""

    text: str


@dataclass(frozen=True, slots=True)
class UnsolicitedResponse:
    """A Codec 12 response while no command is outstanding (e.g. one that timed out)."""

    text: str


AvlEvent = (
    LoginRequest
    | RecordsReceived
    | BadCrc
    | CommandResponse
    | UnsolicitedResponse
    | ConnectionClosed
)


# ---- tracker side ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoginAnswer:
    """The server accepted (0x01) or rejected (0x00) the IMEI."""

    accepted: bool


@dataclass(frozen=True, slots=True)
class RecordsAcked:
    """The server ACKed the oldest unacknowledged packet with this record count."""

    count: int


@dataclass(frozen=True, slots=True)
class CommandReceived:
    """A Codec 12 command from the server."""

    text: str


TrackerEvent = LoginAnswer | RecordsAcked | CommandReceived | BadCrc | ConnectionClosed
