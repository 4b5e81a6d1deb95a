"""The reconnecting client on aiomqtt's public API: bounded connects, no noise under load."""

from __future__ import annotations

import asyncio
import logging
import time

import aiomqtt
import pytest

from dualcam_bridge.config import MqttConfig
from dualcam_bridge.mqtt.client import Backoff, MqttConnection

from .helpers import IMEIS, Fleet, wait_until


async def _close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    # Like docker-proxy or HAProxy in front of a broker that is down.
    await reader.read(1)
    writer.transport.abort()


async def _never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()  # reads the CONNECT, never sends a CONNACK
    writer.transport.abort()


@pytest.mark.parametrize("handler", [_close_at_once, _never_answer])
async def test_each_attempt_is_bounded_by_the_connect_timeout(handler, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="dualcam_bridge.mqtt")
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sessions: list[aiomqtt.Client] = []

    async def session(client: aiomqtt.Client) -> None:
        sessions.append(client)

    connection = MqttConnection(
        MqttConfig(host="127.0.0.1", port=port, client_id="bounded"),
        "dualcam/bridge/status",
        session,
        Backoff(0.01, 0.02),
        connect_timeout=0.3,
    )
    started = time.monotonic()
    task = asyncio.create_task(connection.run())
    try:
        # aiomqtt alone would wait its default 10 s for each CONNACK.
        await wait_until(lambda: connection.failures >= 3, 5, "three bounded attempts")
    finally:
        connection.stop()
        await asyncio.wait_for(task, 5)
        server.close()
        await server.wait_closed()
    assert time.monotonic() - started < 3
    assert sessions == []
    assert any("cannot reach MQTT broker" in r.getMessage() for r in caplog.records)


async def test_a_burst_raises_no_pending_call_warnings(
    broker, make_publisher, fleet: Fleet, caplog: pytest.LogCaptureFixture
) -> None:
    # Many devices at once keep up to max_inflight publishes pending: expected, not a leak.
    caplog.set_level(logging.WARNING, logger="mqtt")
    async with make_publisher(broker.port) as pub:
        await pub.wait_connected(10)
        for n in range(40):
            await pub.handle_event(fleet.photo(f"35209408273{n:04d}"))
        await pub.handle_event(fleet.photo(IMEIS[0]))
        await pub.flush(15)
    pending = [r.getMessage() for r in caplog.records if "pending" in r.getMessage()]
    assert pending == []
