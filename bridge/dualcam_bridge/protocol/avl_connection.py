"""Both ends of a Teltonika tracker link, sans-IO: IMEI login, AVL records, ACKs, Codec 12.

The server's half, h11-style (no sockets, no clock)::

    conn = AvlServerConnection()
    events = conn.receive_data(chunk)               # any fragmentation; b"" = peer closed
    while events:
        for event in events:
            match event:
                case LoginRequest(imei):
                    conn.accept_login() if allowed(imei) else conn.reject_login()
                case RecordsReceived():
                    handle(event.records)
                    conn.ack()                      # only after handling
                case BadCrc():
                    pass                            # no ACK: the tracker resends
                case CommandResponse(text):
                    ...                             # answer to conn.send_command(...)
                case ConnectionClosed():
                    ...                             # the tracker hung up
            write(conn.data_to_send())
        events = conn.next_events()                 # what was held back meanwhile

The conventions, shared with ``filetransfer.CameraSession``:

* Input: ``receive_data(data)`` returns the events ``data`` completes. Parsing stops while
  the app has a decision to make (a ``LoginRequest``); once it made it, ``next_events()``
  goes on with the buffered bytes. ``receive_data(b"")`` is end-of-stream: it returns
  ``[ConnectionClosed(...)]`` (saying how many received bytes were never parsed) and
  the connection is ``CLOSED``. A tracker hanging up mid-frame is normal (coverage comes and
  goes), so it is an event, not an error.
* Output: every byte the connection wants sent (login answer, ACK, command, the ``00`` that
  refuses a malformed login) is queued; the app writes ``data_to_send()`` after feeding data
  or calling a method. No method returns bytes.
* Errors: bad peer input raises ``DeviceProtocolError`` and the connection is dead (close the
  socket after writing ``data_to_send()``). When bad bytes follow good frames, the good
  frames' events are returned first and ``state`` becomes ``AvlState.ERROR``; the next
  ``next_events()`` / ``receive_data()`` raises. Calling a method in a state that does not
  allow it, or feeding data after end-of-stream, raises ``LocalProtocolError``.

``avl_tracker.AvlTrackerConnection`` is the tracker's half, for the simulator and tests, on
the same conventions.
"""

from __future__ import annotations

import enum
import struct
from collections import deque
from typing import Generic, TypeVar

from . import codec12
from .avl_events import (
    AvlEvent,
    BadCrc,
    CommandResponse,
    ConnectionClosed,
    LoginRequest,
    RecordsReceived,
    UnsolicitedResponse,
)
from .codec8 import AVL_CODECS, decode_records
from .codec12 import CODEC_12, TYPE_RESPONSE
from .envelope import CRC_SIZE, HEADER_SIZE, Bytes, frame_crc, take_frame
from .errors import DeviceProtocolError, LocalProtocolError

IMEI_LENGTH = 15
# Teltonika documents 1280 bytes as the largest AVL packet; 64 KiB leaves ample room for
# odd firmware while bounding what one connection can make us buffer.
DEFAULT_MAX_FRAME_SIZE = 64 * 1024
KEEPALIVE = 0xFF  # FMB trackers send a lone 0xFF between frames to keep NAT state alive
LOGIN_ACCEPTED = b"\x01"
LOGIN_REJECTED = b"\x00"

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")


class AvlState(enum.Enum):
    """Where a connection is in its life."""

    AWAITING_LOGIN = "awaiting_login"  # server: IMEI not yet received; tracker: login not sent
    LOGIN_PENDING = "login_pending"  # server: LoginRequest emitted; tracker: awaiting answer
    ONLINE = "online"
    CLOSED = "closed"  # login rejected, or the peer closed (end-of-stream)
    ERROR = "error"  # bad input seen; every further receive_data raises it again


E = TypeVar("E")


def check_imei(raw: bytes) -> str:
    # Strict: an IMEI is exactly 15 decimal digits; no IMEISV (16) or padded forms.
    if len(raw) != IMEI_LENGTH or not raw.isdigit():
        raise DeviceProtocolError(f"IMEI {raw[:32]!r} is not 15 decimal digits")
    return raw.decode("ascii")


def encode_login(imei: str) -> bytes:
    """The tracker's first message: u16 length + ASCII IMEI."""
    raw = imei.encode("ascii", errors="replace")
    try:
        check_imei(raw)
    except DeviceProtocolError as exc:
        raise LocalProtocolError(exc.reason) from exc
    return _U16.pack(len(raw)) + raw


def check_crc(frame: bytes) -> BadCrc | None:
    received, computed = frame_crc(frame)
    if received != computed:
        return BadCrc(frame[HEADER_SIZE], received, computed)
    return None


class BaseAvlConnection(Generic[E]):
    """Buffering, output queue, end-of-stream and error latching shared by both ends."""

    def __init__(self, max_frame_size: int) -> None:
        self._buf = bytearray()
        self._out = bytearray()
        self._state = AvlState.AWAITING_LOGIN
        self._error: DeviceProtocolError | None = None
        self._closed_by_peer = False
        self._max_frame_size = max_frame_size

    @property
    def state(self) -> AvlState:
        """The connection's current state."""
        return self._state

    @property
    def awaiting_ack(self) -> int:
        """Packets delivered (server) or sent (tracker) and not yet ACKed."""
        raise NotImplementedError

    def data_to_send(self) -> bytes:
        """The bytes queued for the peer since the last call (often ``b""``)."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def receive_data(self, data: Bytes) -> list[E]:
        """Feed received bytes; returns the events they complete. ``b""``: the peer closed."""
        if self._error is not None:
            raise self._error
        if self._closed_by_peer:
            if data:
                raise LocalProtocolError("data fed after end-of-stream")
            return []
        if not data:
            return [self._end_of_stream()]
        if self._state is AvlState.CLOSED:
            return []  # we rejected the login: whatever still arrives is moot
        self._buf += data
        return self._run()

    def next_events(self) -> list[E]:
        """Go on parsing buffered bytes after the app made the decision parsing waited for."""
        if self._error is not None:
            raise self._error
        if self._state is AvlState.CLOSED:
            return []
        return self._run()

    def _run(self) -> list[E]:
        events: list[E] = []
        try:
            self._parse(events)
        except DeviceProtocolError as exc:
            self._on_error()
            self._error, self._state = exc, AvlState.ERROR
            self._buf.clear()
            # Frames decoded before the bad bytes are valid: hand them over and raise on the
            # next call, so their records can still be handled and ACKed.
            if events:
                return events
            raise
        return events

    def _end_of_stream(self) -> E:
        self._closed_by_peer = True
        unparsed = len(self._buf)
        self._buf.clear()
        self._state = AvlState.CLOSED
        return self._closed_event(ConnectionClosed(unparsed, self.awaiting_ack))

    def _closed_event(self, event: ConnectionClosed) -> E:
        raise NotImplementedError

    def _on_error(self) -> None:
        """Queue what the protocol answers to bad input, if anything."""

    def _parse(self, events: list[E]) -> None:
        raise NotImplementedError

    def _skip_keepalives(self) -> None:
        buf = self._buf
        if buf and buf[0] == KEEPALIVE:
            del buf[: len(buf) - len(buf.lstrip(b"\xff"))]

    def _take_frame(self) -> bytes | None:
        return take_frame(self._buf, self._max_frame_size, self._check_codec)

    def _check_codec(self, codec: int) -> None:
        raise NotImplementedError


class AvlServerConnection(BaseAvlConnection[AvlEvent]):
    """The server's half of one tracker connection."""

    def __init__(self, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        super().__init__(max_frame_size)
        self.imei: str | None = None
        self._unacked: deque[int] = deque()
        self._commands_outstanding = 0

    @property
    def awaiting_ack(self) -> int:
        """Number of delivered packets not yet ACKed."""
        return len(self._unacked)

    @property
    def commands_outstanding(self) -> int:
        """Commands sent whose response has not arrived (and were not forgotten)."""
        return self._commands_outstanding

    def accept_login(self) -> None:
        """Accept the IMEI (queues ``01``); then ``next_events()`` for pipelined data."""
        self._require(AvlState.LOGIN_PENDING)
        self._state = AvlState.ONLINE
        self._out += LOGIN_ACCEPTED

    def reject_login(self) -> None:
        """Reject the IMEI (queues ``00``); send it, then close the socket."""
        self._require(AvlState.LOGIN_PENDING)
        self._state = AvlState.CLOSED
        self._buf.clear()
        self._out += LOGIN_REJECTED

    def ack(self, count: int | None = None) -> None:
        """ACK the oldest delivered packet (all its records by default)."""
        if not self._unacked:
            raise LocalProtocolError("no records are waiting for an ACK")
        expected = self._unacked[0]
        count = expected if count is None else count
        # To refuse a packet send nothing: the tracker resends. An ACK of 0 is never sent
        # because the tracker could not tell it from a Codec 12 preamble.
        if not 1 <= count <= expected:
            raise LocalProtocolError(f"ACK count must be 1-{expected}, got {count}")
        self._unacked.popleft()
        self._out += _U32.pack(count)

    def send_command(self, text: str) -> None:
        """Queue a Codec 12 command; its response arrives as ``CommandResponse``."""
        self._require(AvlState.ONLINE)
        self._out += codec12.encode_command(text)
        self._commands_outstanding += 1

    def forget_command(self) -> None:
        """The app gave up on the oldest command; a late answer becomes ``UnsolicitedResponse``."""
        self._commands_outstanding = max(0, self._commands_outstanding - 1)

    def _require(self, state: AvlState) -> None:
        if self._state is not state:
            raise LocalProtocolError(f"connection is {self._state.value}, not {state.value}")

    def _closed_event(self, event: ConnectionClosed) -> AvlEvent:
        return event

    def _on_error(self) -> None:
        if self._state is AvlState.AWAITING_LOGIN:
            # The tracker waits for its login answer: tell it no before the socket closes.
            self._out += LOGIN_REJECTED

    def _parse(self, events: list[AvlEvent]) -> None:
        while self._buf:
            self._skip_keepalives()
            if not self._buf:
                return
            if self._state is AvlState.AWAITING_LOGIN:
                if not self._parse_login(events):
                    return
            elif self._state is AvlState.ONLINE:
                frame = self._take_frame()
                if frame is None:
                    return
                events.append(self._frame_event(frame))
            else:  # LOGIN_PENDING: hold the bytes until the app has decided
                return

    def _parse_login(self, events: list[AvlEvent]) -> bool:
        buf = self._buf
        if len(buf) < 2:
            return False
        (length,) = _U16.unpack_from(buf, 0)
        if length != IMEI_LENGTH:
            raise DeviceProtocolError(f"IMEI length {length}: an IMEI is 15 digits")
        if len(buf) < 2 + length:
            return False
        raw = bytes(buf[2 : 2 + length])
        del buf[: 2 + length]
        self.imei = check_imei(raw)
        self._state = AvlState.LOGIN_PENDING
        events.append(LoginRequest(self.imei))
        return True

    def _check_codec(self, codec: int) -> None:
        if codec not in AVL_CODECS and codec != CODEC_12:
            raise DeviceProtocolError(f"unknown codec ID {codec:#04x}")

    def _frame_event(self, frame: bytes) -> AvlEvent:
        bad = check_crc(frame)
        if bad is not None:
            return bad
        end = len(frame) - CRC_SIZE
        if frame[HEADER_SIZE] == CODEC_12:
            message = codec12.decode_body(memoryview(frame)[HEADER_SIZE:end])
            if message.type != TYPE_RESPONSE:
                raise DeviceProtocolError("tracker sent a Codec 12 command; only responses go up")
            if self._commands_outstanding == 0:
                return UnsolicitedResponse(message.text)
            self._commands_outstanding -= 1
            return CommandResponse(message.text)
        packet = decode_records(frame, HEADER_SIZE, end)
        self._unacked.append(len(packet.records))
        return RecordsReceived(packet.codec_id, packet.records)
