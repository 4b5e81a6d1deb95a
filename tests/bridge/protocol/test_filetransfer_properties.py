"""Property tests: fragmentation never changes the outcome; random input only raises our error.

Chunks are never empty: ``receive_data(b"")`` is end-of-stream, fed once at the end.
"""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dualcam_bridge.protocol import dualcam_frames as fr
from dualcam_bridge.protocol import filetransfer as ft
from dualcam_bridge.protocol.errors import DeviceProtocolError

from .test_filetransfer import IMEI, data_frames, file_crc, packets_of

FILE_SETS = st.lists(
    st.tuples(st.sampled_from(fr.FILE_IDS), st.binary(min_size=1, max_size=4000)),
    min_size=1,
    max_size=4,
    unique_by=lambda t: t[0],
)


def device_stream(files: list[tuple[str, bytes]]) -> bytes:
    """What a well-behaved camera sends for these files (no metadata, RESUME 1 each)."""
    by_id = dict(files)
    flags = sum(bit for bit, fid in fr.FILE_BITS if fid in by_id)
    out = [fr.encode_init(IMEI, flags << 24)]
    for fid in fr.FILE_IDS:
        if fid in by_id:
            data = by_id[fid]
            out += [fr.encode_start(len(packets_of(data)), file_crc(data)), fr.encode_sync(1)]
            out += data_frames(data)
    out.append(fr.encode_init(IMEI, 0))
    return b"".join(out)


Outcome = tuple[list[ft.Event], bytes, dict[str, bytes], str | None]


def drive(stream: bytes, cuts: list[int]) -> Outcome:
    """Feed ``stream`` split at ``cuts``, then end-of-stream; act like the server app.

    Returns the events, the bytes sent, the files received and the DeviceProtocolError's
    reason, if one was raised (feeding stops there, as a server closes the socket).
    """
    s = ft.CameraSession(ft.SessionConfig(request_metadata=False))
    events: list[ft.Event] = []
    sent = bytearray()
    files: dict[str, bytearray] = {}
    bounds = [0, *sorted(set(c for c in cuts if 0 < c < len(stream))), len(stream)]
    chunks = [stream[a:b] for a, b in itertools.pairwise(bounds)]
    try:
        for chunk in chunks:
            new = s.receive_data(chunk)
            while new:
                for ev in new:
                    events.append(ev)
                    if isinstance(ev, ft.InitReceived) and not ev.repeat:
                        s.accept()
                    elif isinstance(ev, ft.FileOffered):
                        files[ev.file] = bytearray()
                        s.resume()
                    elif isinstance(ev, ft.PacketReceived):
                        files[ev.file] += ev.data
                    elif isinstance(ev, ft.FileCompleted):
                        s.file_committed()
                sent += s.data_to_send()
                new = s.next_events()
        (closed,) = s.receive_data(b"")
        assert isinstance(closed, ft.ConnectionClosed)
        events.append(closed)
        error = None
    except DeviceProtocolError as exc:
        error = exc.reason
    sent += s.data_to_send()
    assert s.state is ft.State.CLOSED
    return events, bytes(sent), {k: bytes(v) for k, v in files.items()}, error


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(files=FILE_SETS, data=st.data())
def test_any_fragmentation_gives_the_same_result(files, data) -> None:
    stream = device_stream(files)
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=40))
    whole = drive(stream, [])
    assert drive(stream, cuts) == whole
    assert whole[2] == dict(files)
    assert whole[0][-1] == ft.ConnectionClosed(None, 0, 0, 0) and whole[3] is None


def test_one_byte_at_a_time() -> None:
    files = [("%photof", bytes(range(256)) * 9), ("%videor", b"\x00\x00\x00\x01\x40\x01" * 700)]
    stream = device_stream(files)
    assert drive(stream, list(range(len(stream)))) == drive(stream, [])
    assert drive(stream, [])[2] == dict(files)


@settings(max_examples=300, deadline=None)
@given(prefix_files=FILE_SETS, noise=st.binary(max_size=300), at=st.integers(0, 10_000))
def test_garbage_anywhere_raises_only_device_protocol_error(prefix_files, noise, at) -> None:
    stream = device_stream(prefix_files)
    at = min(at, len(stream))
    s = ft.CameraSession(ft.SessionConfig(request_metadata=True, max_retries=3))
    try:
        for chunk in (stream[:at], noise, stream[at:]):
            if not chunk:
                continue
            new = s.receive_data(chunk)
            while new:
                for ev in new:
                    if isinstance(ev, ft.InitReceived) and not ev.repeat:
                        s.accept()
                    elif isinstance(ev, ft.FileOffered):
                        s.resume()
                    elif isinstance(ev, ft.FileCompleted):
                        s.file_committed()
                if s.state is ft.State.AWAIT_METADATA:
                    s.metadata_timed_out()
                new = s.next_events()
        (closed,) = s.receive_data(b"")
        assert isinstance(closed, ft.ConnectionClosed)
    except DeviceProtocolError:
        assert s.state is ft.State.CLOSED
    assert s.state is ft.State.CLOSED


@settings(max_examples=300, deadline=None)
@given(noise=st.binary(max_size=2000))
def test_random_bytes_from_the_first_byte(noise: bytes) -> None:
    s = ft.CameraSession()
    try:
        s.receive_data(noise)
        s.next_events()  # an error latched behind good events
        s.receive_data(b"")
    except DeviceProtocolError:
        assert s.state is ft.State.CLOSED
        assert s.data_to_send().endswith(fr.encode_close())


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(files=FILE_SETS, noise=st.binary(min_size=1, max_size=40), data=st.data())
def test_events_before_bad_input_do_not_depend_on_fragmentation(files, noise, data) -> None:
    good = device_stream(files)
    at = data.draw(st.integers(0, len(good)))
    stream = good[:at] + noise + good[at:]
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=40))
    assert drive(stream, cuts) == drive(stream, [])
