"""Command text builders, reply parsing and the clock-injected per-tracker queue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dualcam_bridge.avl.commands import (
    CAMERA_SETTINGS,
    CAMREQ_INVALID,
    CameraRequestAccepted,
    CameraRequestRejected,
    CommandError,
    CommandQueue,
    ParamValues,
    UnrecognizedResponse,
    get_params,
    parse_response,
    raw,
    request_photo,
    request_video,
    response_matches,
    set_camera_settings,
)

IMEI = "356307042441013"
OTHER = "350612071913857"
START = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
START_TS = 1795694400

# ---- camreq ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "number"),
    [("front", 1), ("rear", 2), ("both", 3), ("Rear ", 2), (1, 1), (3, 3), ("2", 2)],
)
def test_request_photo(source: str | int, number: int) -> None:
    assert request_photo(source) == f"camreq:1,{number}"


def test_request_video_with_datetime_and_unix_seconds() -> None:
    assert int(START.timestamp()) == START_TS
    assert request_video("both", START, 10) == f"camreq:0,3,{START_TS},10"
    assert request_video(2, START_TS, 30) == f"camreq:0,2,{START_TS},30"
    tz = timezone(timedelta(hours=2))
    assert request_video("front", START.astimezone(tz), 1) == f"camreq:0,1,{START_TS},1"


@pytest.mark.parametrize("source", ["left", 0, 4, True, None, "", 1.0])
def test_invalid_source(source: object) -> None:
    with pytest.raises(CommandError) as info:
        request_photo(source)  # type: ignore[arg-type]
    assert str(info.value).startswith(f"{CAMREQ_INVALID} source: ")


@pytest.mark.parametrize("duration", [0, 31, -1, "ten", True, 2.5, None])
def test_invalid_duration(duration: object) -> None:
    with pytest.raises(CommandError, match=r"^Invalid argument in camera request cmd! duration"):
        request_video("front", START, duration)  # type: ignore[arg-type]


@pytest.mark.parametrize("start", [datetime(2026, 11, 26, 12), -5, 0, 2**32, "yesterday", 1.5])
def test_invalid_start(start: object) -> None:
    with pytest.raises(CommandError, match=r"^Invalid argument in camera request cmd! start"):
        request_video("front", start, 10)  # type: ignore[arg-type]


def test_command_error_is_a_value_error() -> None:
    assert issubclass(CommandError, ValueError)


# ---- setparam / getparam / raw ---------------------------------------------------------------


def test_set_camera_settings_by_name_id_and_mapping() -> None:
    assert set_camera_settings(resolution=3, compression=50) == "setparam 66000:3;66001:50"
    assert set_camera_settings({66001: 50, "66000": 3}) == "setparam 66000:3;66001:50"
    assert set_camera_settings({"osd": True}, frame_rate="25") == "setparam 66002:1;66003:25"
    assert (
        set_camera_settings(resolution="1920x1080", video_trigger="crash", video_seconds_before=10)
        == "setparam 66000:4;66008:3;66009:10"
    )


def test_every_setting_has_its_spec_range() -> None:
    ranges = {s.id: (s.name, s.low, s.high) for s in CAMERA_SETTINGS}
    assert ranges == {
        66000: ("resolution", 0, 4),
        66001: ("compression", 0, 100),
        66002: ("osd", 0, 1),
        66003: ("frame_rate", 1, 30),
        66006: ("periodic_photo", 0, 1),
        66007: ("periodic_photo_interval", 10, 1800),
        66008: ("video_trigger", 0, 3),
        66009: ("video_seconds_before", 1, 10),
        66010: ("video_seconds_after", 1, 10),
    }


@pytest.mark.parametrize("setting", CAMERA_SETTINGS, ids=lambda s: s.name)
def test_setting_bounds(setting) -> None:  # type: ignore[no-untyped-def]
    assert set_camera_settings({setting.id: setting.low}) == f"setparam {setting.id}:{setting.low}"
    assert set_camera_settings({setting.name: setting.high}).endswith(f":{setting.high}")
    for bad in (setting.low - 1, setting.high + 1):
        with pytest.raises(CommandError, match=rf"{setting.name} \({setting.id}\): {bad} is not"):
            set_camera_settings({setting.id: bad})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"zoom": 2}, "Unknown camera setting 'zoom'"),
        ({"66004": 1}, "Unknown camera setting '66004'"),
        ({"compression": "high"}, "compression .* 'high' is not 0-100"),
        ({"compression": 50.0}, "is not 0-100"),
        ({"resolution": "4k"}, "or 160x120, 320x240"),
        ({}, "No camera settings"),
    ],
)
def test_set_camera_settings_refusals(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(CommandError, match=match):
        set_camera_settings(**kwargs)


def test_same_setting_twice_by_name_and_id() -> None:
    with pytest.raises(CommandError, match="given twice"):
        set_camera_settings({66001: 10}, compression=20)


def test_get_params() -> None:
    assert get_params([66000, 66001]) == "getparam 66000;66001"
    assert get_params(["resolution", "2001", 66000]) == "getparam 66000;2001"
    assert get_params(66008) == "getparam 66008"
    for bad in ([], ["apn"], [0], [100000], [True]):
        with pytest.raises(CommandError):
            get_params(bad)  # type: ignore[arg-type]


def test_raw() -> None:
    assert raw("getinfo") == "getinfo"
    for bad in ("", "   ", "getinfo\n", "caf\u00e9", "x" * 1025):
        with pytest.raises(CommandError):
            raw(bad)


# ---- replies ---------------------------------------------------------------------------------


def test_parse_photo_reply() -> None:
    result = parse_response("Request for photo from source 1 received")
    assert result == CameraRequestAccepted("photo", 1, "Request for photo from source 1 received")
    assert result.cameras == ("front",)


def test_parse_video_reply_without_date_time_separator() -> None:
    text = "Request for video from source 3 received for 10 seconds since 2026-11-2612:00:00"
    result = parse_response(text + "\r\n")
    assert result == CameraRequestAccepted("video", 3, text, 10, datetime(2026, 11, 26, 12))
    assert result.cameras == ("front", "rear")


def test_parse_video_reply_wiki_double_space_and_bad_date() -> None:
    text = "Request for video from source 2 received for  5 seconds since 2026-13-4099:00:00"
    result = parse_response(text)
    assert isinstance(result, CameraRequestAccepted)
    assert (result.source, result.duration_s, result.since) == (2, 5, None)


def test_parse_camreq_refusal() -> None:
    assert parse_response(CAMREQ_INVALID) == CameraRequestRejected(CAMREQ_INVALID)


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("Param ID:2001 Value:wap", {2001: "wap"}),
        ("Param ID:2001 Value:wap;1000:30", {2001: "wap", 1000: "30"}),
        ("New value 66000:3;66001:50;", {66000: "3", 66001: "50"}),
        ("New value 2001:internet;2002:;", {2001: "internet", 2002: ""}),
        ("Param ID:66000 Value:3;Param ID:66001 Value:50", {66000: "3", 66001: "50"}),
    ],
)
def test_parse_param_replies(text: str, values: dict[int, str]) -> None:
    assert parse_response(text) == ParamValues(values, text)


@pytest.mark.parametrize("text", ["", "OK", "Param ID:2027 doesn't exist", "New value junk"])
def test_unrecognized_replies_are_kept_verbatim(text: str) -> None:
    assert parse_response(text) == UnrecognizedResponse(text)


@given(st.text(max_size=200))
@settings(max_examples=300, deadline=None)
def test_parse_response_never_raises(text: str) -> None:
    parse_response(text)


def test_response_matches() -> None:
    photo = parse_response("Request for photo from source 1 received")
    video = parse_response(
        "Request for video from source 3 received for 10 seconds since 2026-11-2612:00:00"
    )
    params = parse_response("New value 66000:3;66001:50;")
    assert response_matches("camreq:1,1", photo)
    assert not response_matches("camreq:1,2", photo)
    assert not response_matches(f"camreq:0,1,{START_TS},10", photo)
    assert response_matches(f"camreq:0,3,{START_TS},10", video)
    assert not response_matches(f"camreq:0,3,{START_TS},20", video)
    assert response_matches("camreq:0,9", parse_response(CAMREQ_INVALID))
    assert not response_matches("getinfo", parse_response(CAMREQ_INVALID))
    assert response_matches("setparam 66000:3;66001:50", params)
    assert response_matches("getparam 66000;66001;66002", params)
    assert not response_matches("getparam 66008", params)
    assert not response_matches("camreq:1,1", params)
    assert not response_matches("getinfo", photo)
    assert response_matches("getinfo", parse_response("INI:2019/7/22 7:22"))


# ---- queue -----------------------------------------------------------------------------------


def test_fifo_one_in_flight_and_matching() -> None:
    queue = CommandQueue()
    first = queue.submit(IMEI, request_photo("front"), now=0)
    second = queue.submit(IMEI, request_video("rear", START, 10), now=1)
    assert queue.next_command(IMEI, now=2) is None  # offline: waits
    queue.connected(IMEI)
    assert queue.next_command(IMEI, now=3) == first
    assert queue.next_command(IMEI, now=3) is None  # one in flight
    assert queue.in_flight(IMEI) == first and queue.queued(IMEI) == (second,)
    outcome = queue.response(IMEI, "Request for photo from source 1 received", now=4)
    assert outcome is not None and outcome.ok and outcome.command == first
    assert outcome.status == "completed" and outcome.at == 4
    assert isinstance(outcome.result, CameraRequestAccepted)
    assert queue.next_command(IMEI, now=5) == second


def test_queues_are_per_tracker() -> None:
    queue = CommandQueue()
    queue.submit(IMEI, "getinfo", now=0)
    other = queue.submit(OTHER, "getver", now=0)
    queue.connected(OTHER)
    assert queue.next_command(IMEI, now=1) is None
    assert queue.next_command(OTHER, now=1) == other


def test_refusal_completes_but_is_not_ok() -> None:
    queue = CommandQueue()
    queue.connected(IMEI)
    queue.submit(IMEI, "camreq:0,1,1795694400,10", now=0)
    queue.next_command(IMEI, now=0)
    outcome = queue.response(IMEI, CAMREQ_INVALID, now=1)
    assert outcome is not None and outcome.status == "completed" and not outcome.ok


def test_timeout_then_late_reply_is_unmatched() -> None:
    queue = CommandQueue(timeout=30)
    queue.connected(IMEI)
    queue.submit(IMEI, "setparam 66001:50", now=0)
    nxt = queue.submit(IMEI, "camreq:1,2", now=0)
    queue.next_command(IMEI, now=10)
    assert queue.next_deadline() == 40
    assert queue.expire(now=39.9) == []
    (timeout,) = queue.expire(now=40)
    assert timeout.status == "timeout" and timeout.result is None
    assert queue.response(IMEI, "New value 66001:50;", now=41) is None  # nothing in flight
    assert queue.next_command(IMEI, now=42) == nxt
    # The setparam answer arriving while the camreq is in flight is not taken for its answer.
    assert queue.response(IMEI, "New value 66001:50;", now=43) is None
    done = queue.response(IMEI, "Request for photo from source 2 received", now=44)
    assert done is not None and done.command == nxt


def test_ttl_runs_out_for_an_offline_tracker() -> None:
    queue = CommandQueue(ttl=600)
    short = queue.submit(IMEI, "getinfo", now=0, ttl=60)
    long = queue.submit(IMEI, "getver", now=0)
    assert queue.next_deadline() == 60
    (expired,) = queue.expire(now=60)
    assert expired.command == short and expired.status == "expired"
    assert queue.queued(IMEI) == (long,)
    queue.connected(IMEI)
    assert queue.next_command(IMEI, now=100) == long


def test_expired_head_is_skipped_when_the_tracker_connects() -> None:
    queue = CommandQueue()
    stale = queue.submit(IMEI, "getinfo", now=0, ttl=5)
    fresh = queue.submit(IMEI, "getver", now=0)
    queue.connected(IMEI)
    assert queue.next_command(IMEI, now=10) == fresh
    assert queue.next_deadline() == 10
    (outcome,) = queue.expire(now=11)
    assert outcome.command == stale and outcome.status == "expired" and outcome.at == 10


def test_disconnect_ends_the_command_in_flight_and_keeps_the_rest() -> None:
    queue = CommandQueue()
    queue.connected(IMEI)
    sent = queue.submit(IMEI, "getinfo", now=0)
    waiting = queue.submit(IMEI, "getver", now=0)
    queue.next_command(IMEI, now=1)
    (outcome,) = queue.disconnected(IMEI, now=2)
    assert outcome.command == sent and outcome.status == "disconnected"
    assert queue.queued(IMEI) == (waiting,)
    assert queue.next_command(IMEI, now=3) is None
    queue.connected(IMEI)
    assert queue.next_command(IMEI, now=4) == waiting


def test_cancel() -> None:
    queue = CommandQueue()
    command = queue.submit(IMEI, "getinfo", now=0)
    outcome = queue.cancel(command.id, now=1)
    assert outcome is not None and outcome.status == "cancelled"
    assert queue.cancel(command.id, now=2) is None
    assert queue.next_deadline() is None


def test_submit_refusals() -> None:
    queue = CommandQueue(max_queued=2)
    with pytest.raises(CommandError, match="15 digits"):
        queue.submit("12345", "getinfo", now=0)
    with pytest.raises(CommandError, match="printable ASCII"):
        queue.submit(IMEI, "getinfo\r\n", now=0)
    queue.submit(IMEI, "getinfo", now=0)
    queue.submit(IMEI, "getver", now=0)
    with pytest.raises(CommandError, match="2 commands already wait"):
        queue.submit(IMEI, "getio", now=0)


def test_response_for_an_unknown_tracker_is_unmatched() -> None:
    assert CommandQueue().response(IMEI, "anything", now=0) is None
    assert CommandQueue().disconnected(IMEI, now=0) == []


def test_ids_are_unique_and_increasing() -> None:
    queue = CommandQueue()
    ids = [queue.submit(IMEI, "getinfo", now=0).id for _ in range(3)]
    assert ids == sorted(set(ids))
