"""A broker restart is one condition: a handful of log lines, no traceback, nothing lost.

The whole bridge runs against a real mosquitto that is stopped and started again while
events pile up (many devices' news, a real camera upload); the log must not fill with paho's
"pending publish calls" warnings or tracebacks after the reconnect. (That every message is
delivered once, in order, across an outage is test_outage's part.)
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from dualcam_bridge.simulator.camera import SimulatedCamera, make_captures

from ..conftest import no_tracebacks
from .helpers import IMEIS, Fleet, wait_until
from .test_outage import uploads

P = "dualcam"
CAMERA = "352094082736916"
# More devices than aiomqtt's default warning threshold of pending calls (10): the reconnect
# republishes each one's retained state together.
FLEET = [f"35630704245{n:04d}" for n in range(40)]


async def test_a_broker_restart_logs_a_handful_of_lines(
    mosquitto, start_bridge, fleet: Fleet, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    mqtt = {"host": "127.0.0.1", "port": mosquitto.port, "client_id": "bridge-quiet"}
    async with start_bridge(mqtt=mqtt) as b:
        pub = b.bridge.mqtt
        await pub.wait_connected(10)
        for e in uploads(fleet, FLEET, 1):  # retained state the reconnect republishes at once
            await b.bridge.emit(e)
        await pub.flush(10)
        caplog.clear()
        await mosquitto.stop()
        await wait_until(lambda: not pub.connected, 10, "the bridge to notice the outage")
        events = uploads(fleet, IMEIS, 30)  # 7 devices x 30 photos + SOS: hundreds of messages
        for e in events:
            await b.bridge.emit(e)
        files = make_captures(CAMERA, 2, 1)
        result = await SimulatedCamera("127.0.0.1", b.port, CAMERA, files).run()
        assert len(result.delivered) == len(files)
        await asyncio.sleep(1.5)  # a few reconnect attempts against the closed port
        await mosquitto.start()
        await pub.wait_connected(15)
        await pub.flush(30)  # every queued message acknowledged by the restarted broker
        assert pub.pending == 0
    loud = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(loud) <= 3, loud
    assert not any("pending publish" in m for m in caplog.messages)
    no_tracebacks(caplog)
    assert not any(r.exc_info for r in caplog.records)
