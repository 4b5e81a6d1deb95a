"""Commands: P/<imei>/command in, a typed request to the command API, one result out, no crash."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

import pytest

from dualcam_bridge.allowlist import DeviceAllowList
from dualcam_bridge.avl.command_text import CAMREQ_INVALID, CommandError
from dualcam_bridge.avl.replies import (
    CameraRequestAccepted,
    CameraRequestRejected,
    ParamValues,
    UnrecognizedResponse,
)
from dualcam_bridge.avl.requests import (
    CameraPhotoRequest,
    CameraVideoRequest,
    CommandRequest,
    GetParams,
    RawCommand,
    SetCameraSettings,
)
from dualcam_bridge.avl.router import CommandReply, CommandRouter
from dualcam_bridge.contract import COMMAND_STATUSES
from dualcam_bridge.mqtt.commands import (
    CommandMessage,
    RefusedMessage,
    command_request,
    parse_request,
    result_dict,
    result_status,
    run_command,
)

from .contract import check_message, decode
from .helpers import IMEIS, Collector, wait_until

P = "dualcam"
IMEI = IMEIS[0]
PHOTO = {"command": "camreq", "file_type": "photo", "source": "front"}


def photo(command_id: object) -> bytes:
    """A valid photo request with this id."""
    return json.dumps({"id": command_id, **PHOTO}).encode()


class RecordingHandler:
    """Stands in for the command API: records requests, answers like a tracker would."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, CommandRequest, float | None]] = []

    async def __call__(self, imei: str, request: CommandRequest, ttl: float | None) -> CommandReply:
        self.calls.append((imei, request, ttl))
        if request == RawCommand("explode"):
            raise RuntimeError("boom")
        if request == RawCommand("refuse"):
            return CommandReply(False, imei, "refuse", "completed", "?", error="refused: ?")
        text = request.to_text()
        return CommandReply(True, imei, text, "completed", "Camera request: photo front")


async def results(sub: Collector, imei: str, n: int) -> list[dict[str, Any]]:
    """The first ``n`` results on ``P/<imei>/command/result``."""
    received = await sub.wait_count(f"{P}/{imei}/command/result", n)
    for m in received:
        check_message(m)
    return [decode(m) for m in received]


async def test_camreq_round_trip(broker, make_publisher) -> None:
    handler = RecordingHandler()
    request = {"id": "req-1", **PHOTO, "ttl": 60}
    async with (
        broker.collector(f"{P}/{IMEI}/command/result") as sub,
        make_publisher(broker.port, handle_command=handler) as pub,
    ):
        await pub.wait_connected(10)
        await sub.publish(f"{P}/{IMEI}/command", json.dumps(request), qos=1)
        [result] = await results(sub, IMEI, 1)
    assert handler.calls == [(IMEI, CameraPhotoRequest(1), 60.0)]
    assert result == {
        "id": "req-1",
        "ok": True,
        "command": "camreq",
        "status": "ok",
        "response": "Camera request: photo front",
        "error": None,
        "result": None,  # the handler's reply carries no parsed answer
    }


BAD_REQUESTS = [
    (IMEI, b"{not json", None, "not valid JSON", "invalid"),
    (IMEI, b"\xff\xfe", None, "not UTF-8", "invalid"),
    (IMEI, b"[1, 2]", None, "must be a JSON object", "invalid"),
    (IMEI, b'{"id": 7}', 7, "missing 'command'", "invalid"),
    (IMEI, b'{"id": "x", "command": 5}', "x", "'command' must be a string", "invalid"),
    ("12345", photo("short"), "short", "invalid IMEI '12345'", "invalid"),
    ("bridge", photo("b"), "b", "invalid IMEI 'bridge'", "invalid"),
    (
        IMEI,
        b'{"id": "u", "command": "selfdestruct"}',
        "u",
        "unknown command 'selfdestruct'",
        "invalid",
    ),
    (
        IMEI,
        b'{"id": "v", "command": "camreq", "source": 1}',
        "v",
        f"{CAMREQ_INVALID} file_type",
        "invalid",
    ),
    (IMEI, b'{"id": "t", "command": "raw", "text": "getinfo", "ttl": 0}', "t", "ttl 0", "invalid"),
    (
        IMEI,
        b'{"id": "e", "command": "raw", "text": "explode"}',
        "e",
        "internal error: boom",
        "error",
    ),
    (IMEI, b'{"id": "r", "command": "raw", "text": "refuse"}', "r", "refused: ?", "rejected"),
]


async def test_bad_requests_get_a_result_not_a_crash(broker, make_publisher) -> None:
    handler = RecordingHandler()
    async with (
        broker.collector(f"{P}/+/command/result") as sub,
        make_publisher(broker.port, handle_command=handler) as pub,
    ):
        await pub.wait_connected(10)
        for target, raw, *_ in BAD_REQUESTS:
            await sub.publish(f"{P}/{target}/command", raw, qos=1)
        await sub.wait_for(lambda ms: len(ms) == len(BAD_REQUESTS), what="one result each")
        # Still serving: a good command after all the bad ones.
        await sub.publish(f"{P}/{IMEI}/command", photo("ok"), qos=1)
        await sub.wait_for(lambda ms: len(ms) == len(BAD_REQUESTS) + 1, what="the good one")
        assert pub.connected

    for m in sub.messages:
        check_message(m)
    for target in {t for t, *_ in BAD_REQUESTS}:
        # One device's results keep the order of its requests.
        expected = [(cid, err, st) for t, _, cid, err, st in BAD_REQUESTS if t == target]
        got = [decode(m) for m in sub.on(f"{P}/{target}/command/result")]
        if target == IMEI:
            assert got.pop()["id"] == "ok" and len(got) == len(expected)
        for (command_id, error, status), result in zip(expected, got, strict=True):
            assert result["id"] == command_id
            assert result["ok"] is False and result["status"] == status
            assert error in result["error"], result


async def test_placeholder_handler_refuses_politely(broker, make_publisher) -> None:
    async with (
        broker.collector(f"{P}/{IMEI}/command/result") as sub,
        make_publisher(broker.port) as pub,
    ):
        await pub.wait_connected(10)
        await sub.publish(f"{P}/{IMEI}/command", photo(1), qos=1)
        [result] = await results(sub, IMEI, 1)
    assert result["id"] == 1 and result["ok"] is False
    assert "not available" in result["error"]


async def test_retained_commands_are_ignored(broker, make_publisher) -> None:
    handler = RecordingHandler()
    async with broker.collector(f"{P}/{IMEI}/command/result") as sub:
        await sub.publish(f"{P}/{IMEI}/command", photo("old"), qos=1, retain=True)
        async with make_publisher(broker.port, handle_command=handler) as pub:
            await pub.wait_connected(10)
            await sub.publish(f"{P}/{IMEI}/command", photo("live"), qos=1)
            [result] = await results(sub, IMEI, 1)
        await sub.publish(f"{P}/{IMEI}/command", b"", qos=1, retain=True)  # clear it
    assert result["id"] == "live"
    assert len(handler.calls) == 1  # only "live" ran, the result says which


async def test_slow_commands_do_not_block_others(broker, make_publisher) -> None:
    release = asyncio.Event()

    async def handler(imei: str, request: CommandRequest, ttl: float | None) -> CommandReply:
        if request == RawCommand("slow"):
            await release.wait()  # a tracker that is offline for a while
        return CommandReply(True, imei, request.to_text(), "completed", request.to_text())

    async with (
        broker.collector(f"{P}/{IMEI}/command/result") as sub,
        make_publisher(broker.port, handle_command=handler) as pub,
    ):
        await pub.wait_connected(10)
        for name in ("slow", "fast"):
            request = {"id": name, "command": "raw", "text": name}
            await sub.publish(f"{P}/{IMEI}/command", json.dumps(request), qos=1)
        await wait_until(lambda: len(sub.messages) == 1, 10, "the fast result")
        release.set()
        ids = [r["id"] for r in await results(sub, IMEI, 2)]
    assert ids == ["fast", "slow"]


@pytest.mark.parametrize(
    ("target", "raw", "ok"),
    [
        (IMEI, photo(None), True),
        (IMEI, b'{"command": ""}', False),
        (IMEI, b'{"command": "camreq"}', False),  # no file_type: refused before the API
        ("35630704244100x", photo(None), False),
    ],
)
def test_parse_request(target: str, raw: bytes, ok: bool) -> None:
    message = parse_request(target, raw)
    assert isinstance(message, CommandMessage if ok else RefusedMessage)


def test_parse_request_keeps_id_name_and_ttl() -> None:
    message = parse_request(IMEI, b'{"id": [1], "command": "raw", "text": "getver", "ttl": 2.5}')
    assert message == CommandMessage([1], "raw", RawCommand("getver"), 2.5)
    refused = parse_request(IMEI, b'{"id": {"a": 1}, "command": "reboot"}')
    assert isinstance(refused, RefusedMessage)
    assert (refused.id, refused.name) == ({"a": 1}, "reboot")


# ---- payload → typed request (argument checks in the device's words) -------------------------

NOW = 1795694400


@pytest.mark.parametrize(
    ("payload", "request_", "text"),
    [
        (
            {"command": "camreq", "file_type": "photo", "source": "rear"},
            CameraPhotoRequest(2),
            "camreq:1,2",
        ),
        ({"command": "camreq", "file_type": 1, "source": 3}, CameraPhotoRequest(3), "camreq:1,3"),
        (
            # The integration sends the unused video fields as null.
            {"command": "camreq", "file_type": "photo", "source": "both", "duration": None},
            CameraPhotoRequest(3),
            "camreq:1,3",
        ),
        (
            {
                "command": "camreq",
                "file_type": "video",
                "source": "front",
                "timestamp": NOW,
                "duration": 10,
            },
            CameraVideoRequest(1, NOW, 10),
            f"camreq:0,1,{NOW},10",
        ),
        (
            # No start: the last `duration` seconds.
            {"command": "camreq", "file_type": "video", "source": "both", "duration": 30},
            CameraVideoRequest(3, NOW - 30, 30),
            f"camreq:0,3,{NOW - 30},30",
        ),
        (
            {"command": "camreq", "file_type": "0", "source": "2", "duration": "5",
             "timestamp": None},
            CameraVideoRequest(2, NOW - 5, 5),
            f"camreq:0,2,{NOW - 5},5",
        ),
        (
            {"command": "setparam", "params": {"66000": 3, "compression": 50}},
            SetCameraSettings({66000: 3, 66001: 50}),
            "setparam 66000:3;66001:50",
        ),
        (
            {"command": "getparam", "ids": [66000, "osd"]},
            GetParams((66000, 66002)),
            "getparam 66000;66002",
        ),
        ({"command": "getparam", "ids": 66008}, GetParams((66008,)), "getparam 66008"),
        ({"command": "raw", "text": "getinfo"}, RawCommand("getinfo"), "getinfo"),
    ],
)  # fmt: skip
def test_command_request(payload: dict[str, Any], request_: CommandRequest, text: str) -> None:
    parsed = command_request(payload, now=NOW)
    assert parsed == request_
    assert parsed.to_text() == text


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        ({"command": "camreq", "file_type": "gif", "source": 1}, f"{CAMREQ_INVALID} file_type"),
        ({"command": "camreq", "file_type": "photo", "source": "roof"}, "source"),
        ({"command": "camreq", "file_type": "photo"}, "source"),
        ({"command": "camreq", "file_type": "photo", "source": [1]}, "source"),
        ({"command": "camreq", "file_type": "video", "source": 1}, "duration: a video needs"),
        ({"command": "camreq", "file_type": "video", "source": 1, "duration": 31}, "duration"),
        ({"command": "camreq", "file_type": "video", "source": 1, "duration": 2.5}, "duration"),
        (
            {
                "command": "camreq",
                "file_type": "video",
                "source": 1,
                "duration": 5,
                "timestamp": "noon",
            },
            "start",
        ),
        ({"command": "camreq", "file_type": "video", "source": 9, "duration": 5}, "source"),
        ({"command": "setparam", "params": {"66001": 101}}, "compression"),
        ({"command": "setparam", "params": {"zoom": 2}}, "Unknown camera setting 'zoom'"),
        ({"command": "setparam", "params": {}}, "No camera settings"),
        ({"command": "setparam"}, "needs 'params'"),
        ({"command": "setparam", "params": [[66001, 5]]}, "needs 'params'"),
        ({"command": "getparam", "ids": None}, "needs 'ids'"),
        ({"command": "getparam", "ids": True}, "needs 'ids'"),
        ({"command": "getparam", "ids": []}, "No parameter ids"),
        ({"command": "raw", "text": "caf\u00e9"}, "printable ASCII"),
        ({"command": "raw"}, "Command text is empty"),
        ({"command": "reboot"}, "unknown command 'reboot'"),
    ],
)
def test_invalid_requests_are_refused_before_the_api(payload: dict[str, Any], match: str) -> None:
    with pytest.raises(CommandError, match=match):
        command_request(payload, now=NOW)


@pytest.mark.parametrize("ttl", ["-1", "0", "true", '"60"', "[5]", "NaN", "Infinity", "1e400"])
def test_a_bad_ttl_is_refused(ttl: str) -> None:
    # NaN, Infinity and 1e400 are what Python's json reads as floats that never expire.
    raw = b'{"command": "raw", "text": "getinfo", "ttl": %s}' % ttl.encode()
    refused = parse_request(IMEI, raw)
    assert isinstance(refused, RefusedMessage)
    assert refused.error == f"ttl {json.loads(ttl)!r} is not a positive number of seconds"


# ---- reply → result ----------------------------------------------------------------------------


def test_result_dict_of_every_answer() -> None:
    video = CameraRequestAccepted("video", 3, "…", 10, datetime(2026, 11, 26, 12))
    assert result_dict(video) == {
        "type": "camera_request",
        "kind": "video",
        "source": 3,
        "cameras": ["front", "rear"],
        "duration_s": 10,
        "since": "2026-11-26T12:00:00",
    }
    assert result_dict(CameraRequestRejected(CAMREQ_INVALID)) == {"type": "camera_request_rejected"}
    params = ParamValues({66001: "50"}, "Param ID:66001 Value:50")
    assert result_dict(params) == {"type": "params", "values": {"66001": "50"}}
    assert result_dict(UnrecognizedResponse("OK")) == {"type": "text"}
    assert result_dict(None) is None


class FakeLink:
    """A logged-in tracker link that records what the router sends."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send_command(self, text: str) -> None:
        self.sent.append(text)

    def forget_command(self) -> None:
        pass


async def test_a_payload_through_the_real_router() -> None:
    stranger = "352094082736999"
    router = CommandRouter(DeviceAllowList([{"imei": IMEI}], allow_unknown=False), timeout=5)
    link = FakeLink()
    router.tracker_connected(IMEI, link)
    try:
        task = asyncio.create_task(run_command(router.submit, IMEI, photo(7)))
        await wait_until(lambda: link.sent == ["camreq:1,1"], 5, "the camreq on the link")
        router.response_received(IMEI, "Request for photo from source 1 received")
        assert await task == {
            "id": 7,
            "ok": True,
            "command": "camreq",
            "status": "ok",
            "response": "Request for photo from source 1 received",
            "error": None,
            "result": {
                "type": "camera_request",
                "kind": "photo",
                "source": 1,
                "cameras": ["front"],
                "duration_s": None,
                "since": None,
            },
        }
        # Refused by the router (allow-list), not by the payload check: still one result.
        refused = await run_command(router.submit, stranger, photo("s"))
        assert refused["ok"] is False and "not in the device list" in refused["error"]
        assert refused["status"] == "invalid"
        assert link.sent == ["camreq:1,1"]
    finally:
        await router.stop()


@pytest.mark.parametrize(
    ("router_status", "ok", "status"),
    [
        ("completed", True, "ok"),
        ("completed", False, "rejected"),
        ("timeout", False, "timeout"),
        ("expired", False, "expired"),
        ("disconnected", False, "offline"),
        ("cancelled", False, "cancelled"),
        ("refused", False, "invalid"),
    ],
)
def test_every_end_of_a_command_has_a_contract_status(
    router_status: Any, ok: bool, status: str
) -> None:
    reply = CommandReply(ok, IMEI, "camreq:1,1", router_status)
    assert result_status(reply) == status and status in COMMAND_STATUSES


async def test_handler_returning_garbage_is_an_error() -> None:
    async def handler(imei: str, request: CommandRequest, ttl: float | None) -> Any:
        return {"ok": True}

    result = await run_command(handler, IMEI, photo(3))
    assert result["ok"] is False and result["id"] == 3 and "bad result" in result["error"]
