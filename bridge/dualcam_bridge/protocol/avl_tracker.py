"""The tracker's half of an AVL link, sans-IO, for the simulator and tests.

Same conventions as the server's half (``avl_connection``): ``receive_data`` returns events
(``b""`` = the server closed), every byte to send is queued for ``data_to_send()``, bad
server input raises ``DeviceProtocolError`` and misuse ``LocalProtocolError``::

    conn = AvlTrackerConnection(imei)
    conn.login()
    write(conn.data_to_send())
    for event in conn.receive_data(chunk):          # LoginAnswer, RecordsAcked, CommandReceived
        ...
    conn.send_records(records)
    write(conn.data_to_send())
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Mapping, Sequence

from . import codec12
from .avl_connection import (
    DEFAULT_MAX_FRAME_SIZE,
    AvlState,
    BaseAvlConnection,
    check_crc,
    encode_login,
)
from .avl_events import (
    BadCrc,
    CommandReceived,
    ConnectionClosed,
    LoginAnswer,
    RecordsAcked,
    TrackerEvent,
)
from .codec8 import CODEC_8E, AvlRecord, encode_avl_packet
from .codec12 import CODEC_12, TYPE_COMMAND
from .envelope import CRC_SIZE, HEADER_SIZE
from .errors import DeviceProtocolError, LocalProtocolError

_U32 = struct.Struct(">I")


class AvlTrackerConnection(BaseAvlConnection[TrackerEvent]):
    """The tracker's half: log in, send records, read ACKs and commands, answer them."""

    def __init__(self, imei: str, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        super().__init__(max_frame_size)
        self._login = encode_login(imei)
        self.imei = imei
        self._sent: deque[int] = deque()

    @property
    def awaiting_ack(self) -> int:
        """Packets sent and not yet ACKed."""
        return len(self._sent)

    def login(self) -> None:
        """Queue the login; the answer arrives as ``LoginAnswer``."""
        if self._state is not AvlState.AWAITING_LOGIN:
            raise LocalProtocolError("login was already sent")
        self._state = AvlState.LOGIN_PENDING
        self._out += self._login

    def send_records(
        self,
        records: Sequence[AvlRecord],
        codec: int = CODEC_8E,
        widths: Mapping[int, int] | None = None,
    ) -> None:
        """Queue a packet of records; its ACK arrives as ``RecordsAcked``."""
        if self._state is not AvlState.ONLINE:
            raise LocalProtocolError(f"connection is {self._state.value}, not online")
        self._out += encode_avl_packet(records, codec, widths)
        self._sent.append(len(records))

    def resend_pending(self) -> None:
        """Forget unACKed packets (after an ACK timeout, before sending them again)."""
        self._sent.clear()

    def send_response(self, text: str) -> None:
        """Queue the answer to a ``CommandReceived``."""
        self._out += codec12.encode_response(text)

    def _closed_event(self, event: ConnectionClosed) -> TrackerEvent:
        return event

    def _parse(self, events: list[TrackerEvent]) -> None:
        buf = self._buf
        while buf:
            if self._state is AvlState.LOGIN_PENDING:
                if buf[0] not in (0, 1):
                    raise DeviceProtocolError(f"login answer {buf[0]:#04x} is neither 00 nor 01")
                accepted = buf[0] == 1
                del buf[:1]
                self._state = AvlState.ONLINE if accepted else AvlState.CLOSED
                events.append(LoginAnswer(accepted))
                if not accepted:
                    buf.clear()
            elif self._state is AvlState.ONLINE:
                if len(buf) < 4:
                    return
                if any(buf[:4]):  # a non-zero u32 can only be an ACK
                    events.append(self._take_ack())
                    continue
                frame = self._take_frame()
                if frame is None:
                    return
                events.append(self._command_event(frame))
            else:
                raise DeviceProtocolError("server sent data before the login")

    def _take_ack(self) -> RecordsAcked:
        (count,) = _U32.unpack_from(self._buf, 0)
        if not self._sent:
            raise DeviceProtocolError(f"ACK of {count} with no packet outstanding")
        if count > self._sent[0]:
            raise DeviceProtocolError(f"ACK of {count} for a packet of {self._sent[0]} records")
        self._sent.popleft()
        del self._buf[:4]
        return RecordsAcked(count)

    def _check_codec(self, codec: int) -> None:
        if codec != CODEC_12:
            raise DeviceProtocolError(f"server sent codec {codec:#04x}; only Codec 12 goes down")

    def _command_event(self, frame: bytes) -> CommandReceived | BadCrc:
        bad = check_crc(frame)
        if bad is not None:
            return bad
        message = codec12.decode_body(memoryview(frame)[HEADER_SIZE : len(frame) - CRC_SIZE])
        if message.type != TYPE_COMMAND:
            raise DeviceProtocolError("server sent a Codec 12 response; only commands go down")
        return CommandReceived(message.text)
