"""``P/bridge/health``: the disk state reaches MQTT subscribers, although the outbox cannot.

A real bridge on a real mosquitto; the disk is "full" because ``media.min_free_mb`` is above
the free space of ``data_dir`` (statvfs, as in production), then it has room again. The
health message goes out directly (the outbox lives on that full disk), retained, and again
after a broker restart that lost every retained message.
"""

from __future__ import annotations

import json
from typing import Any

from .contract import check_message
from .helpers import Collector, Received

TOPIC = "dualcam/bridge/health"


def health(messages: list[Received]) -> list[dict[str, Any]]:
    for m in messages:
        check_message(m)
    return [json.loads(m.payload) for m in messages if m.topic == TOPIC]


async def test_disk_full_and_back_on_mqtt_also_after_a_broker_restart(
    mosquitto, start_bridge
) -> None:
    mqtt = {"host": "127.0.0.1", "port": mosquitto.port, "client_id": "bridge-health"}
    async with (
        Collector(mosquitto.port, TOPIC) as sub,
        start_bridge(mqtt=mqtt, media={"min_free_mb": 1e12}) as b,
    ):
        pub, disk = b.bridge.mqtt, b.bridge.disk
        await sub.wait_for(lambda ms: len(health(ms)) >= 1, what="the first health message")
        (first,) = health(sub.messages)
        assert first["status"] == "disk_full" and first["disk_full"] is True
        assert first["min_free_mb"] == 1e12 and 0 < first["free_mb"] < 1e12

        disk.min_free_mb = 0  # room again: the next check clears the state
        await disk.check()
        await sub.wait_for(lambda ms: len(health(ms)) >= 2, what="the health update")
        assert [h["status"] for h in health(sub.messages)] == ["disk_full", "ok"]

        await mosquitto.restart()  # persistence off: the retained message is gone
        await pub.wait_connected(15)
        async with Collector(mosquitto.port, TOPIC) as late:
            await late.wait_for(lambda ms: len(health(ms)) >= 1, what="the republished health")
            (again,) = health(late.messages)
    assert again["status"] == "ok" and again["disk_full"] is False
