"""The command router without sockets: typed requests → text, FIFO, matching, timeout, TTL,
refusals. (Parsing MQTT payloads into typed requests: tests/bridge/mqtt/test_commands.py.)"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest

from dualcam_bridge.allowlist import DeviceAllowList
from dualcam_bridge.avl.command_text import CAMREQ_INVALID, CommandError
from dualcam_bridge.avl.replies import (
    CameraRequestAccepted,
    ParamValues,
    parse_response,
    response_matches,
)
from dualcam_bridge.avl.requests import (
    CameraPhotoRequest,
    CameraVideoRequest,
    CommandRequest,
    GetParams,
    RawCommand,
    SetCameraSettings,
)
from dualcam_bridge.avl.router import CommandRouter

IMEI = "352094082736916"
STRANGER = "352094082736999"


class FakeLink:
    """Records what the router sends; can refuse like a closing link."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.forgotten = 0
        self.closing = False

    def send_command(self, text: str) -> None:
        if self.closing:
            raise ConnectionError("closing")
        self.sent.append(text)

    def forget_command(self) -> None:
        self.forgotten += 1


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.fixture
async def router():
    r = CommandRouter(DeviceAllowList([{"imei": IMEI}], allow_unknown=False), timeout=0.2, ttl=5)
    await r.start()
    yield r
    await r.stop()


# ---- typed requests → Codec 12 text ----------------------------------------------------------

START = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
START_TS = 1795694400


@pytest.mark.parametrize(
    ("request_", "text"),
    [
        (CameraPhotoRequest(2), "camreq:1,2"),
        (CameraVideoRequest(1, START_TS, 10), f"camreq:0,1,{START_TS},10"),
        (CameraVideoRequest(3, START, 30), f"camreq:0,3,{START_TS},30"),
        (SetCameraSettings({66001: 50, 66000: 3}), "setparam 66000:3;66001:50"),
        (GetParams((66000, 66002)), "getparam 66000;66002"),
        (RawCommand("getinfo"), "getinfo"),
    ],
)
def test_request_text(request_: CommandRequest, text: str) -> None:
    assert request_.to_text() == text


@pytest.mark.parametrize(
    ("request_", "match"),
    [
        (CameraPhotoRequest(4), f"{CAMREQ_INVALID} source"),
        (CameraVideoRequest(1, START_TS, 31), f"{CAMREQ_INVALID} duration"),
        (CameraVideoRequest(1, datetime(2026, 11, 26), 5), f"{CAMREQ_INVALID} start"),
        (SetCameraSettings({66001: 101}), "compression"),
        (SetCameraSettings({}), "No camera settings"),
        (GetParams(()), "No parameter ids"),
        (RawCommand("caf\u00e9"), "printable ASCII"),
    ],
)
def test_a_request_built_by_hand_is_still_checked(request_: CommandRequest, match: str) -> None:
    with pytest.raises(CommandError, match=match):
        request_.to_text()


# ---- the queue on a link ------------------------------------------------------------------------


async def test_one_in_flight_fifo_and_answers_matched(router: CommandRouter) -> None:
    link = FakeLink()
    router.tracker_connected(IMEI, link)
    first = asyncio.create_task(router.submit(IMEI, "camreq:1,1"))
    second = asyncio.create_task(router.submit(IMEI, GetParams((66001,))))
    await settle()
    assert link.sent == ["camreq:1,1"]  # the second waits for the first's answer
    assert not router.response_received(IMEI, "Param ID:66001 Value:50")  # not the answer
    assert router.response_received(IMEI, "Request for photo from source 1 received")
    reply = await first
    assert reply.ok and reply.status == "completed" and reply.command == "camreq:1,1"
    assert reply.result == CameraRequestAccepted(
        "photo", 1, "Request for photo from source 1 received"
    )
    await settle()
    assert link.sent == ["camreq:1,1", "getparam 66001"]
    router.response_received(IMEI, "Param ID:66001 Value:50")
    reply = await second
    assert reply.ok and reply.result == ParamValues({66001: "50"}, "Param ID:66001 Value:50")


async def test_refusal_by_the_device_is_not_ok(router: CommandRouter) -> None:
    link = FakeLink()
    router.tracker_connected(IMEI, link)
    task = asyncio.create_task(router.submit(IMEI, "camreq:1,1"))
    await settle()
    router.response_received(IMEI, CAMREQ_INVALID)
    reply = await task
    assert not reply.ok and reply.response == CAMREQ_INVALID
    assert reply.error == f"the tracker refused the command: {CAMREQ_INVALID}"


async def test_timeout_frees_the_tracker_for_the_next_command(router: CommandRouter) -> None:
    link = FakeLink()
    router.tracker_connected(IMEI, link)
    first = asyncio.create_task(router.submit(IMEI, "getinfo"))
    second = asyncio.create_task(router.submit(IMEI, "getver"))
    reply = await asyncio.wait_for(first, 2)
    assert (reply.ok, reply.status) == (False, "timeout")
    assert reply.error == f"no answer from tracker {IMEI} within 0.2 s"
    await settle()
    assert link.forgotten == 1 and link.sent == ["getinfo", "getver"]
    router.response_received(IMEI, "Ver:03.29.00_04")
    assert (await second).response == "Ver:03.29.00_04"


async def test_offline_tracker_gets_the_command_when_it_connects(router: CommandRouter) -> None:
    task = asyncio.create_task(router.submit(IMEI, "getinfo", ttl=5))
    await settle()
    assert router.pending(IMEI) == 1
    link = FakeLink()
    router.tracker_connected(IMEI, link)
    assert link.sent == ["getinfo"]
    router.response_received(IMEI, "INI:2019/7/22 7:22")
    assert (await task).ok


async def test_ttl_runs_out_while_offline(router: CommandRouter) -> None:
    reply = await asyncio.wait_for(router.submit(IMEI, "getinfo", ttl=0.05), 2)
    assert (reply.ok, reply.status, reply.command) == (False, "expired", "getinfo")
    assert "did not connect within the command's TTL of 0.05 s" in (reply.error or "")
    link = FakeLink()
    router.tracker_connected(IMEI, link)
    assert link.sent == []  # an expired command is never sent


async def test_disconnect_with_a_command_in_flight(router: CommandRouter) -> None:
    link = FakeLink()
    router.tracker_connected(IMEI, link)
    task = asyncio.create_task(router.submit(IMEI, "getinfo"))
    await settle()
    router.tracker_disconnected(IMEI, link)
    reply = await task
    assert reply.status == "disconnected" and "may have run" in (reply.error or "")


async def test_a_new_link_supersedes_the_old_one(router: CommandRouter) -> None:
    old, new = FakeLink(), FakeLink()
    router.tracker_connected(IMEI, old)
    first = asyncio.create_task(router.submit(IMEI, "getinfo"))
    second = asyncio.create_task(router.submit(IMEI, "getver"))
    await settle()
    router.tracker_connected(IMEI, new)  # the answer to "getinfo" can never come now
    assert (await first).status == "disconnected"
    assert new.sent == ["getver"]
    router.tracker_disconnected(IMEI, old)  # late: changes nothing
    router.response_received(IMEI, "Ver:1")
    assert (await second).ok


async def test_a_closing_link_ends_the_command_as_disconnected(router: CommandRouter) -> None:
    link = FakeLink()
    link.closing = True
    router.tracker_connected(IMEI, link)
    reply = await router.submit(IMEI, "getinfo")
    assert reply.status == "disconnected"


async def test_unknown_imei_is_refused_with_a_log_line(router: CommandRouter, caplog) -> None:
    caplog.set_level(logging.INFO)
    reply = await router.submit(STRANGER, "getinfo")
    assert (reply.ok, reply.status) == (False, "refused")
    assert reply.error == f"tracker {STRANGER} is not in the device list"
    assert f"tracker {STRANGER}: command refused" in caplog.text


async def test_invalid_command_is_refused_with_the_device_wording(router: CommandRouter) -> None:
    reply = await router.submit(IMEI, CameraVideoRequest(9, START_TS, 10))
    assert reply.status == "refused" and reply.command is None
    assert (reply.error or "").startswith(CAMREQ_INVALID)
    assert router.pending(IMEI) == 0


async def test_a_full_queue_refuses() -> None:
    r = CommandRouter(DeviceAllowList(), max_queued=1)
    first = asyncio.create_task(r.submit(IMEI, "getinfo"))
    await settle()
    reply = await r.submit(IMEI, "getver")
    assert reply.status == "refused" and "already wait" in (reply.error or "")
    await r.stop()
    assert (await first).status == "cancelled"


async def test_a_caller_that_gives_up_withdraws_its_queued_command(router: CommandRouter) -> None:
    task = asyncio.create_task(router.submit(IMEI, "getinfo"))
    await settle()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert router.pending(IMEI) == 0


async def test_a_typed_request_goes_out_as_its_text(router: CommandRouter) -> None:
    link = FakeLink()
    router.tracker_connected(IMEI, link)
    task = asyncio.create_task(router.submit(IMEI, CameraPhotoRequest(1), ttl=5))
    await settle()
    assert link.sent == ["camreq:1,1"]
    router.response_received(IMEI, "Request for photo from source 1 received")
    reply = await task
    assert reply.ok and reply.command == "camreq:1,1"
    assert isinstance(reply.result, CameraRequestAccepted) and reply.result.cameras == ("front",)


def test_a_late_getinfo_answer_does_not_complete_another_command() -> None:
    # Fixed in commands.response_matches: "INI:…" answers getinfo and nothing else.
    info = parse_response("INI:2019/7/22 7:22 RTC:2019/7/22 7:53")
    assert response_matches("getinfo", info)
    assert not response_matches("camreq:1,2", info)
    assert not response_matches("getver", info)
    assert not response_matches("getinfo", parse_response("Ver:03.29.00_04 GPS:AXN_5.10"))
    assert response_matches("cpureset", parse_response("OK"))  # unknown replies still match
