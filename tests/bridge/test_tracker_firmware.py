"""The simulated firmware answers commands in the device's words, parseable by avl.replies."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dualcam_bridge.avl.command_text import (
    CAMREQ_INVALID,
    get_params,
    request_photo,
    request_video,
    set_camera_settings,
)
from dualcam_bridge.avl.replies import (
    CameraRequestAccepted,
    CameraRequestRejected,
    ParamValues,
    parse_response,
    response_matches,
)
from dualcam_bridge.protocol.dualcam_frames import FileMetadata
from dualcam_bridge.simulator.firmware import Firmware
from dualcam_bridge.simulator.tracker import SimulatedTracker

from .avl_fixtures import running_avl

IMEI = "352094082736916"
NOW = datetime(2026, 11, 26, 12, 0, 5, tzinfo=UTC)


def test_camreq_photo_captures_each_source_camera() -> None:
    reply, files = Firmware(IMEI).answer(request_photo("both"), NOW)
    assert reply == "Request for photo from source 3 received"
    assert [f.file_id for f in files] == ["%photof", "%photor"]
    meta = files[0].metadata
    assert isinstance(meta, FileMetadata) and (meta.trigger, meta.timestamp) == (0, NOW)
    assert files[0].data[:2] == b"\xff\xd8" and files[0].data != files[1].data


def test_camreq_video_answers_with_the_firmware_date_format() -> None:
    command = request_video("rear", 1795694400, 10)
    reply, files = Firmware(IMEI).answer(command, NOW)
    assert reply == (
        "Request for video from source 2 received for 10 seconds since 2026-11-2612:00:00"
    )
    (video,) = files
    assert video.file_id == "%videor" and video.metadata is not None
    assert (video.metadata.length_s, video.metadata.trigger) == (10, 0)
    result = parse_response(reply)
    assert isinstance(result, CameraRequestAccepted) and response_matches(command, result)


@pytest.mark.parametrize(
    "command",
    ["camreq:1,7", "camreq:1", "camreq:x,1", "camreq:0,1", "camreq:0,1,1795694400,31",
     "camreq:0,1,0,10", "camreq:2,1"],
)  # fmt: skip
def test_invalid_camreq_gets_the_device_refusal(command: str) -> None:
    assert Firmware(IMEI).answer(command, NOW) == (CAMREQ_INVALID, [])


def test_setparam_then_getparam() -> None:
    firmware = Firmware(IMEI)
    reply, _ = firmware.answer(set_camera_settings(resolution="1920x1080", compression=70))
    assert reply == "New value 66000:4;66001:70;"
    assert parse_response(reply) == ParamValues({66000: "4", 66001: "70"}, reply)
    reply, _ = firmware.answer(get_params([66000, 66001]))
    assert parse_response(reply) == ParamValues({66000: "4", 66001: "70"}, reply)
    assert firmware.answer("getparam 12345")[0] == "Param ID:12345 doesn't exist"


def test_other_commands() -> None:
    firmware = Firmware(IMEI)
    assert firmware.answer("getinfo")[0].startswith("INI:")  # type: ignore[union-attr]
    assert IMEI in firmware.answer("getver")[0]  # type: ignore[operator]
    assert firmware.answer("cpureset") == (None, [])  # ignored: the router times it out


def test_crash_clips_start_before_the_trigger() -> None:
    clips = Firmware(IMEI).crash_clips(NOW)
    assert [c.file_id for c in clips] == ["%videof", "%videor"]
    assert all(c.metadata and c.metadata.trigger == 3 for c in clips)
    assert all(c.metadata and (NOW - c.metadata.timestamp).total_seconds() == 5 for c in clips)


async def test_a_refusal_from_the_device_comes_back_structured(tmp_path: Path) -> None:
    async with running_avl(tmp_path) as h:
        tracker = SimulatedTracker("127.0.0.1", h.avl_port, IMEI, interval=None)
        run = asyncio.create_task(tracker.run())
        reply = await h.avl.router.submit(IMEI, "camreq:1,7", ttl=5)  # raw text: not checked
        assert (reply.ok, reply.status, reply.response) == (False, "completed", CAMREQ_INVALID)
        assert reply.result == CameraRequestRejected(CAMREQ_INVALID)
        tracker.stop()
        await run
