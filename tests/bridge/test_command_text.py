"""Command text builders: camreq, setparam, getparam, raw; refusals in the device's words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from dualcam_bridge.avl.command_text import (
    CAMERA_SETTINGS,
    CAMREQ_INVALID,
    CommandError,
    get_params,
    raw,
    request_photo,
    request_video,
    set_camera_settings,
)

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
