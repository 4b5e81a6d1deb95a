"""Commands: P/<imei>/command in, one P/<imei>/command/result out, never a crash."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from dualcam_bridge.mqtt.commands import parse_request, run_command

from .contract import check_message, decode
from .helpers import IMEIS, Collector, wait_until

P = "dualcam"
IMEI = IMEIS[0]


class RecordingHandler:
    """Stands in for the command API: records requests, answers like a tracker would."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, imei: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((imei, payload))
        if payload["command"] == "explode":
            raise RuntimeError("boom")
        if payload["command"] != "camreq":
            return {"ok": False, "error": f"unknown command {payload['command']!r}"}
        return {"ok": True, "response": "Camera request: photo front"}


async def results(sub: Collector, imei: str, n: int) -> list[dict[str, Any]]:
    """The first ``n`` results on ``P/<imei>/command/result``."""
    received = await sub.wait_count(f"{P}/{imei}/command/result", n)
    for m in received:
        check_message(m)
    return [decode(m) for m in received]


async def test_camreq_round_trip(broker, make_publisher) -> None:
    handler = RecordingHandler()
    request = {"id": "req-1", "command": "camreq", "file_type": "photo", "source": "front"}
    async with (
        broker.collector(f"{P}/{IMEI}/command/result") as sub,
        make_publisher(broker.port, handle_command=handler) as pub,
    ):
        await pub.wait_connected(10)
        await sub.publish(f"{P}/{IMEI}/command", json.dumps(request), qos=1)
        [result] = await results(sub, IMEI, 1)
    assert handler.calls == [(IMEI, request)]
    assert result == {
        "id": "req-1",
        "ok": True,
        "command": "camreq",
        "response": "Camera request: photo front",
        "error": None,
    }


BAD_REQUESTS = [
    (IMEI, b"{not json", None, "not valid JSON"),
    (IMEI, b"\xff\xfe", None, "not UTF-8"),
    (IMEI, b"[1, 2]", None, "must be a JSON object"),
    (IMEI, b'{"id": 7}', 7, "missing 'command'"),
    (IMEI, b'{"id": "x", "command": 5}', "x", "'command' must be a string"),
    ("12345", b'{"id": "short", "command": "camreq"}', "short", "invalid IMEI '12345'"),
    ("bridge", b'{"id": "b", "command": "camreq"}', "b", "invalid IMEI 'bridge'"),
    (IMEI, b'{"id": "u", "command": "selfdestruct"}', "u", "unknown command 'selfdestruct'"),
    (IMEI, b'{"id": "e", "command": "explode"}', "e", "internal error: boom"),
]


async def test_bad_requests_get_a_result_not_a_crash(broker, make_publisher) -> None:
    handler = RecordingHandler()
    async with (
        broker.collector(f"{P}/+/command/result") as sub,
        make_publisher(broker.port, handle_command=handler) as pub,
    ):
        await pub.wait_connected(10)
        for target, raw, _, _ in BAD_REQUESTS:
            await sub.publish(f"{P}/{target}/command", raw, qos=1)
        await sub.wait_for(lambda ms: len(ms) == len(BAD_REQUESTS), what="one result each")
        # Still serving: a good command after all the bad ones.
        await sub.publish(f"{P}/{IMEI}/command", b'{"id": "ok", "command": "camreq"}', qos=1)
        await sub.wait_for(lambda ms: len(ms) == len(BAD_REQUESTS) + 1, what="the good one")
        assert pub.connected

    for m in sub.messages:
        check_message(m)
    for target in {t for t, *_ in BAD_REQUESTS}:
        # One device's results keep the order of its requests.
        expected = [(cid, err) for t, _, cid, err in BAD_REQUESTS if t == target]
        got = [decode(m) for m in sub.on(f"{P}/{target}/command/result")]
        if target == IMEI:
            assert got.pop()["id"] == "ok" and len(got) == len(expected)
        for (command_id, error), result in zip(expected, got, strict=True):
            assert result["id"] == command_id
            assert result["ok"] is False
            assert error in result["error"], result


async def test_placeholder_handler_refuses_politely(broker, make_publisher) -> None:
    async with (
        broker.collector(f"{P}/{IMEI}/command/result") as sub,
        make_publisher(broker.port) as pub,
    ):
        await pub.wait_connected(10)
        await sub.publish(f"{P}/{IMEI}/command", b'{"id": 1, "command": "camreq"}', qos=1)
        [result] = await results(sub, IMEI, 1)
    assert result["id"] == 1 and result["ok"] is False
    assert "not available" in result["error"]


async def test_retained_commands_are_ignored(broker, make_publisher) -> None:
    handler = RecordingHandler()
    async with broker.collector(f"{P}/{IMEI}/command/result") as sub:
        await sub.publish(f"{P}/{IMEI}/command", b'{"command": "camreq"}', qos=1, retain=True)
        async with make_publisher(broker.port, handle_command=handler) as pub:
            await pub.wait_connected(10)
            await sub.publish(f"{P}/{IMEI}/command", b'{"id": "live", "command": "camreq"}', qos=1)
            [result] = await results(sub, IMEI, 1)
        await sub.publish(f"{P}/{IMEI}/command", b"", qos=1, retain=True)  # clear it
    assert result["id"] == "live"
    assert [payload["id"] for _, payload in handler.calls] == ["live"]


async def test_slow_commands_do_not_block_others(broker, make_publisher) -> None:
    release = asyncio.Event()

    async def handler(imei: str, payload: dict[str, Any]) -> dict[str, Any]:
        if payload["id"] == "slow":
            await release.wait()  # a tracker that is offline for a while
        return {"ok": True, "response": payload["id"]}

    async with (
        broker.collector(f"{P}/{IMEI}/command/result") as sub,
        make_publisher(broker.port, handle_command=handler) as pub,
    ):
        await pub.wait_connected(10)
        await sub.publish(f"{P}/{IMEI}/command", b'{"id": "slow", "command": "camreq"}', qos=1)
        await sub.publish(f"{P}/{IMEI}/command", b'{"id": "fast", "command": "camreq"}', qos=1)
        await wait_until(lambda: len(sub.messages) == 1, 10, "the fast result")
        release.set()
        ids = [r["id"] for r in await results(sub, IMEI, 2)]
    assert ids == ["fast", "slow"]


@pytest.mark.parametrize(
    ("target", "raw", "ok"),
    [
        (IMEI, b'{"command": "camreq"}', True),
        (IMEI, b'{"command": ""}', False),
        ("35630704244100x", b'{"command": "camreq"}', False),
    ],
)
def test_parse_request(target: str, raw: bytes, ok: bool) -> None:
    request, refusal = parse_request(target, raw)
    assert (request is not None) == ok
    assert (refusal is None) == ok


async def test_handler_returning_garbage_is_an_error() -> None:
    async def handler(imei: str, payload: dict[str, Any]) -> Any:
        return "yes"

    result = await run_command(handler, IMEI, b'{"id": 3, "command": "camreq"}')
    assert result["ok"] is False and result["id"] == 3 and "bad result" in result["error"]
