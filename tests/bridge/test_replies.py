"""Reply parsing: the firmware's wording → typed results, and which command a reply answers."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dualcam_bridge.avl.command_text import CAMREQ_INVALID
from dualcam_bridge.avl.replies import (
    CameraRequestAccepted,
    CameraRequestRejected,
    ParamValues,
    UnrecognizedResponse,
    parse_response,
    response_matches,
)

START_TS = 1795694400


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
