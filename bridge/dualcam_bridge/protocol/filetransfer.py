"""Sans-IO server side of the DualCam file-transfer protocol.

``CameraSession`` is fed the bytes a camera sends (in any fragmentation) and returns events;
whatever it wants to send accumulates in ``data_to_send()``. It never touches sockets, files
or clocks: the server decides on the things only it knows (is this IMEI allowed, how far did
we already get with this file, has the metadata timer fired, is the file safely on disk) by
calling ``accept``/``reject``, ``resume``, ``metadata_timed_out`` and ``file_committed``.

Flow per file: [metadata request → 0x000B] → FILE REQ → START → (app: resume) → RESUME k →
SYNC k → DATA k, k+1, … → (app: file_committed) → next file, or repeat-init → init → CLOSE.
Offsets are 1-based packet numbers. Each DATA CRC is chained from the previous good packet;
right after a SYNC we also accept init 0, as implementations differ.

The conventions, shared with ``avl_connection.AvlServerConnection`` (h11's)::

    events = session.receive_data(chunk)            # b"" = the camera closed its end
    while events:
        handle(events)                              # may call accept(), resume(), ...
        write(session.data_to_send())
        events = session.next_events()              # what was held back meanwhile

* Input: parsing pauses after an event that needs the app's decision (``InitReceived``,
  ``FileOffered``, ``FileCompleted``); once the app made it, ``next_events()`` goes on with
  the buffered bytes. ``receive_data(b"")`` is end-of-stream: it returns
  ``[ConnectionClosed(...)]``, saying which file was in progress, how far it got and how many
  received bytes were never parsed (an incomplete frame), and the session is ``CLOSED``
  (nothing is sent: the camera is gone). A camera losing its link mid-file is normal, so
  this is an event, not an error; the partial stays resumable.
* Output: every frame the session wants sent is queued; the app writes ``data_to_send()``
  after feeding data or calling a method. No method returns bytes.
* Errors: input the protocol does not allow raises ``DeviceProtocolError``; the session is
  then ``CLOSED`` and ``data_to_send()`` holds a CLOSE frame. When the bad bytes follow
  frames that completed events in the same call, those events are returned first and the
  error is raised by the next ``next_events()`` / ``receive_data()``. Calling a method in a
  state that does not allow it, or feeding data after end-of-stream, raises
  ``LocalProtocolError``.
"""

from __future__ import annotations

import struct
from typing import NoReturn

from .dualcam_frames import (
    CMD_DATA,
    CMD_META,
    CMD_START,
    CMD_STATUS,
    CMD_SYNC,
    DATA_LEN_MAX,
    FILE_TYPE_CODES,
    INIT_SIZE,
    STATUS_UNAVAILABLE,
    FileMetadata,
    InitPacket,
    check_frame_length,
    encode_close,
    encode_file_request,
    encode_metadata_request,
    encode_repeat_init,
    encode_resume,
    status_name,
)
from .errors import DeviceProtocolError, LocalProtocolError
from .packet_chain import FileTransfer, Verdict
from .session_state import (
    MAX_UNKNOWN_FRAMES,
    PAUSED,
    SUPPORTED_PROTOCOL_IDS,
    UNKNOWN_FRAME_MAX,
    SessionConfig,
    State,
)
from .transfer_events import (
    ConnectionClosed,
    DeviceStatus,
    Event,
    FileCompleted,
    FileOffered,
    FileRestarted,
    FileUnavailable,
    InitReceived,
    MetadataReceived,
    MetadataUnavailable,
    PacketReceived,
    PacketRejected,
    SyncReceived,
    TransferAborted,
    UnknownFrame,
)

_ACCEPT = Verdict.ACCEPT  # compared once per DATA packet
_HDR = struct.Struct(">HH")
_U32 = struct.Struct(">I")
_START = struct.Struct(">IH")


# --- the state machine ----------------------------------------------------------------------


class CameraSession:
    """One camera connection, server side."""

    def __init__(self, config: SessionConfig | None = None) -> None:
        self.config = config or SessionConfig()
        self.state = State.AWAIT_INIT
        self.imei: str | None = None
        self.protocol_id: int | None = None
        self._buf = bytearray()
        self._out = bytearray()
        self._queue: list[str] = []
        self._file: FileTransfer | None = None
        self._ask_metadata = self.config.request_metadata
        self._unknown_frames = 0
        self._error: DeviceProtocolError | None = None  # raised by the next call
        self._closed_by_peer = False

    # -- public API --------------------------------------------------------------------------

    @property
    def current_file(self) -> str | None:
        """The file identifier being transferred, if any."""
        return self._file.file if self._file else None

    @property
    def packets_total(self) -> int:
        return self._file.packets if self._file else 0

    @property
    def packets_done(self) -> int:
        return self._file.packets_done if self._file else 0

    def data_to_send(self) -> bytes:
        """Bytes the server must write to the camera now."""
        out = bytes(self._out)
        self._out.clear()
        return out

    @property
    def paused(self) -> bool:
        """Waiting for the app's decision (accept, resume, file_committed)."""
        return self.state in PAUSED and self.state is not State.CLOSED

    @property
    def buffered(self) -> int:
        """Bytes received but not parsed yet (parsing pauses while the app decides)."""
        return len(self._buf)

    def receive_data(self, data: bytes) -> list[Event]:
        """Feed bytes from the camera; returns the events they complete. ``b""``: it closed.

        See the module docstring for pausing, end-of-stream and errors.
        """
        if self._error is not None:
            self._raise_error(self._error)
        if self._closed_by_peer:
            if data:
                raise LocalProtocolError("data fed after end-of-stream")
            return []
        if not data:
            return [self._end_of_stream()]
        if self.state is State.CLOSED:
            return []  # we closed; what the camera still had in flight is moot
        self._buf += data
        return self._run()

    def next_events(self) -> list[Event]:
        """Go on parsing buffered bytes after the app made the decision parsing waited for."""
        if self._error is not None:
            self._raise_error(self._error)
        if self.state in PAUSED or not self._buf:
            return []
        return self._run()

    def accept(self) -> None:
        """The IMEI is welcome: start requesting its files."""
        self._require(State.AWAIT_ACCEPT)
        self._next_file_or_reinit()

    def reject(self) -> None:
        """The IMEI is not welcome: CLOSE."""
        self._require(State.AWAIT_ACCEPT)
        self.close()

    def metadata_timed_out(self) -> list[Event]:
        """The device did not answer the metadata request in time: ask for the file anyway."""
        if self.state is not State.AWAIT_METADATA or self._file is None:
            return []
        # A device that ignores one metadata request ignores them all.
        self._ask_metadata = False
        self._request_file()
        return [MetadataUnavailable(self._file.file, "no answer to the metadata request")]

    def resume(self, next_packet: int = 1, crc: int = 0, *, trusted: bool = True) -> None:
        """Answer a FileOffered: continue at ``next_packet`` (1 = from the start).

        ``crc`` is the CRC of the packets already stored (chained init for the next one).
        ``trusted`` says the stored prefix is known to belong to this very file (same file
        CRC or metadata timestamp); when it is not, a first packet that does not chain
        makes us start over instead of splicing two files.
        """
        self._require(State.AWAIT_RESUME)
        f = self._require_file()
        f.resume(next_packet, crc, trusted)
        self._send_resume(f)

    def file_committed(self) -> None:
        """The completed file is durably stored: go on with the next one."""
        self._require(State.AWAIT_COMMIT)
        self._file = None
        self._next_file_or_reinit()

    def close(self) -> None:
        """Send CLOSE and stop."""
        if self.state is not State.CLOSED:
            self._out += encode_close()
            self.state = State.CLOSED

    # -- internals ---------------------------------------------------------------------------

    def _run(self) -> list[Event]:
        buf = self._buf
        size = len(buf)
        view = memoryview(buf)
        events: list[Event] = []
        pos = 0
        try:
            while self.state not in PAUSED:
                if self.state in (State.AWAIT_INIT, State.AWAIT_REINIT):
                    if size - pos < INIT_SIZE:
                        break
                    events.append(self._receive_init(buf, pos))
                    pos += INIT_SIZE
                    continue
                if size - pos < 4:
                    break
                cmd, length = _HDR.unpack_from(buf, pos)
                end = pos + 4 + length
                if (
                    cmd == CMD_DATA
                    and self.state is State.RECEIVING
                    and 3 <= length <= DATA_LEN_MAX
                ):
                    # The hot path: a run of DATA packets, one call each.
                    if size < end:
                        break
                    self._receive_data(view[pos + 4 : end], events)
                    pos = end
                    continue
                check_frame_length(cmd, length, UNKNOWN_FRAME_MAX)
                if size < end:
                    break
                self._receive_frame(cmd, view[pos + 4 : end], events)
                pos = end
        except DeviceProtocolError as exc:
            pos = size  # nothing after bad input is parsed
            if not events:
                self._raise_error(exc)
            # Events completed before the bad bytes are valid (packets to store): hand them
            # over and raise on the next call.
            self._error = exc
        finally:
            view.release()
            try:
                del buf[:pos]
            except BufferError:
                # A traceback still holds a view of the buffer (error path only).
                self._buf = bytearray(buf[pos:])
        return events

    def _raise_error(self, exc: DeviceProtocolError) -> NoReturn:
        self._error = exc
        self._fail()
        raise exc

    def _end_of_stream(self) -> ConnectionClosed:
        f = self._file
        # Once we have closed, what the camera still sent is moot, not "unparsed".
        unparsed = 0 if self.state is State.CLOSED else len(self._buf)
        event = ConnectionClosed(
            f.file if f else None, self.packets_done, self.packets_total, unparsed
        )
        self._closed_by_peer = True
        self._buf.clear()
        # _file stays: current_file and packets_done still describe the interrupted file.
        self.state = State.CLOSED  # no CLOSE frame: the camera is gone
        return event

    def _require(self, state: State) -> None:
        if self.state is not state:
            raise LocalProtocolError(f"not allowed in state {self.state.value}")

    def _require_file(self) -> FileTransfer:
        if self._file is None:  # pragma: no cover - guarded by the state checks
            raise LocalProtocolError("no file in progress")
        return self._file

    def _fail(self) -> None:
        self._file = None
        self.close()

    def _receive_init(self, buf: bytearray, pos: int) -> InitReceived:
        init = InitPacket.parse(buf, pos)
        repeat = self.state is State.AWAIT_REINIT
        if repeat and init.imei != self.imei:
            raise DeviceProtocolError(f"repeated init from IMEI {init.imei}, expected {self.imei}")
        self.imei, self.protocol_id = init.imei, init.protocol_id
        files = init.files
        event = InitReceived(
            protocol_id=init.protocol_id,
            imei=init.imei,
            settings=init.settings,
            files=files,
            adas=init.adas,
            unknown_bits=init.unknown_bits,
            repeat=repeat,
            protocol_supported=init.protocol_id in SUPPORTED_PROTOCOL_IDS,
        )
        self._queue = list(files)
        if repeat:
            self._next_file_or_reinit(after_reinit=True)
        else:
            self.state = State.AWAIT_ACCEPT
        return event

    def _next_file_or_reinit(self, after_reinit: bool = False) -> None:
        if not self._queue:
            if after_reinit or self.state is State.AWAIT_ACCEPT:
                # Nothing (more) to fetch: CLOSE, as COMPLETED is ignored after a repeat-init.
                self.close()
            else:
                self._out += encode_repeat_init()
                self.state = State.AWAIT_REINIT
            return
        self._file = FileTransfer(self._queue.pop(0))
        if self._ask_metadata:
            self._out += encode_metadata_request(self._file.file)
            self.state = State.AWAIT_METADATA
        else:
            self._request_file()

    def _request_file(self) -> None:
        f = self._require_file()
        self._out += encode_file_request(f.file)
        self.state = State.AWAIT_START

    def _send_resume(self, f: FileTransfer) -> None:
        self._out += encode_resume(f.next_packet)
        f.first_after_sync = True
        self.state = State.AWAIT_SYNC

    def _receive_frame(self, cmd: int, payload: memoryview, events: list[Event]) -> None:
        state = self.state
        if cmd == CMD_DATA:
            if state is State.RECEIVING:
                self._receive_data(payload, events)
            elif state is not State.AWAIT_SYNC:  # AWAIT_SYNC: sent before our RESUME; dropped
                raise DeviceProtocolError(f"DATA in state {state.value}")
        elif cmd == CMD_SYNC:
            if state not in (State.AWAIT_SYNC, State.RECEIVING):
                raise DeviceProtocolError(f"SYNC in state {state.value}")
            self._receive_sync(_U32.unpack_from(payload)[0], events)
        elif cmd == CMD_START:
            if state is not State.AWAIT_START:
                raise DeviceProtocolError(f"START in state {state.value}")
            self._receive_start(payload, events)
        elif cmd == CMD_META:
            self._receive_metadata(bytes(payload), events)
        elif cmd == CMD_STATUS:
            self._receive_status(_U32.unpack_from(payload)[0], events)
        else:
            # Unknown (or ADAS path answers we do not use): skip, but not forever.
            self._unknown_frames += 1
            if self._unknown_frames > MAX_UNKNOWN_FRAMES:
                raise DeviceProtocolError("too many unknown commands")
            events.append(UnknownFrame(cmd, len(payload)))

    def _receive_start(self, payload: memoryview, events: list[Event]) -> None:
        f = self._require_file()
        packets, file_crc = _START.unpack_from(payload)
        if packets == 0:
            raise DeviceProtocolError(f"START for {f.file} with 0 packets")
        if packets > self.config.max_packets:
            events.append(
                TransferAborted(
                    f.file,
                    f"{f.file} has {packets} packets, more than the "
                    f"{self.config.max_packets} allowed",
                )
            )
            self._fail()
            return
        f.packets = packets
        f.file_crc = file_crc
        self.state = State.AWAIT_RESUME
        events.append(FileOffered(f.file, packets, file_crc, f.metadata))

    def _receive_metadata(self, payload: bytes, events: list[Event]) -> None:
        f = self._file
        if f is None or self.state not in (State.AWAIT_METADATA, State.AWAIT_START):
            events.append(UnknownFrame(CMD_META, len(payload)))
            return
        try:
            meta = FileMetadata.parse(payload)
        except DeviceProtocolError as exc:
            events.append(MetadataUnavailable(f.file, exc.reason))
        else:
            expected = FILE_TYPE_CODES[f.file]
            if meta.file_type != expected:
                events.append(
                    MetadataUnavailable(f.file, f"metadata for file type {meta.file_type}")
                )
            elif f.metadata is None:
                f.metadata = meta
                events.append(MetadataReceived(f.file, meta))
        if self.state is State.AWAIT_METADATA:
            self._request_file()

    def _receive_status(self, status: int, events: list[Event]) -> None:
        if status == STATUS_UNAVAILABLE:
            events.append(FileUnavailable(self.current_file, status))
            # The device disconnects by itself; there is nothing left to say.
            self._file = None
            self.state = State.CLOSED
            return
        events.append(DeviceStatus(status, status_name(status)))

    def _receive_sync(self, offset: int, events: list[Event]) -> None:
        f = self._require_file()
        verdict, reason = f.sync(offset)
        if verdict is Verdict.REJECT:
            self._bad_packet(f, reason, events)
            return
        if verdict is Verdict.RESTART:
            events.append(FileRestarted(f.file, "device restarted the file from packet 1"))
        self.state = State.RECEIVING
        events.append(SyncReceived(f.file, f.expect, resumed=f.expect > 1))

    def _receive_data(self, payload: memoryview, events: list[Event]) -> None:
        f = self._require_file()
        index = f.expect
        verdict, reason = f.data(payload)
        if verdict is _ACCEPT:
            events.append(PacketReceived(f.file, index, bytes(payload[:-2])))
            if index == f.packets:
                self._complete(f, events)
        elif verdict is Verdict.REJECT:
            self._bad_packet(f, reason, events)
        elif verdict is Verdict.RESTART:
            events.append(FileRestarted(f.file, reason))
            self._send_resume(f)

    def _complete(self, f: FileTransfer, events: list[Event]) -> None:
        crc_ok = f.crc_ok
        if crc_ok is False and f.spliced:
            events.append(FileRestarted(f.file, "file CRC does not match after a resume"))
            f.restart()
            self._send_resume(f)
            return
        self.state = State.AWAIT_COMMIT
        events.append(FileCompleted(f.file, f.packets, f.whole_crc, crc_ok, f.metadata))

    def _bad_packet(self, f: FileTransfer, reason: str, events: list[Event]) -> None:
        f.bad_in_row += 1
        events.append(PacketRejected(f.file, f.expect, reason, f.bad_in_row))
        if f.bad_in_row > self.config.max_retries:
            events.append(
                TransferAborted(f.file, f"{f.bad_in_row} bad packets in a row ({reason})")
            )
            self._fail()
            return
        self._send_resume(f)
