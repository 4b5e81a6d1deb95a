"""No ``mqtt.host``: the app runs the embedded amqtt broker on loopback and publishes to it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dualcam_bridge.app import Bridge
from dualcam_bridge.config import validate
from dualcam_bridge.mqtt import (
    Backoff,
    EmbeddedBroker,
    EmbeddedBrokerError,
    MqttConfig,
    MqttPublisher,
)
from dualcam_bridge.mqtt.client import Backoff as ClientBackoff

from .contract import check_message, decode
from .helpers import IMEIS, Collector, Fleet, free_port


async def test_publisher_on_the_embedded_broker(tmp_path: Path, fleet: Fleet) -> None:
    port = free_port()
    config = MqttConfig(port=port)
    assert config.embedded
    photo = fleet.photo(IMEIS[0])
    async with (
        EmbeddedBroker(config.broker_host, config.broker_port),
        MqttPublisher(config, tmp_path / "mqtt.sqlite3", backoff=Backoff(0.05, 0.3)) as pub,
    ):
        await pub.wait_connected(10)
        await pub.handle_event(photo)
        await pub.flush(10)
        async with Collector(port, "dualcam/#", exact_qos=False) as sub:
            await sub.wait_for(
                lambda ms: any(m.topic.endswith("/photo") for m in ms), what="the retained photo"
            )
    photo_msg = next(m for m in sub.messages if m.topic.endswith("/photo"))
    check_message(photo_msg)
    assert photo_msg.payload == photo.path.read_bytes()
    info = next(m for m in sub.messages if m.topic == "dualcam/bridge/info")
    assert decode(info)["devices"] == [IMEIS[0]]


async def test_the_app_starts_and_stops_the_embedded_broker(tmp_path: Path) -> None:
    port = free_port()
    config = validate(
        {
            "data_dir": str(tmp_path / "data"),
            "camera": {"host": "127.0.0.1", "port": 0},
            "avl": {"enabled": False},
            "mqtt": {"port": port},  # no host: the embedded broker
            "http": {"host": "127.0.0.1", "port": 0},
        }
    )
    async with Bridge(config) as bridge:
        assert bridge.broker is not None and bridge.mqtt is not None
        await bridge.mqtt.wait_connected(10)
        async with Collector(port, "dualcam/bridge/status", exact_qos=False) as sub:
            await sub.wait_for(lambda ms: bool(ms), what="the bridge status")
        assert sub.messages[-1].payload == b"online"
    assert bridge.broker is None
    with pytest.raises(OSError):  # the listener is gone with the bridge
        await asyncio.open_connection("127.0.0.1", port)


async def test_a_configured_host_starts_no_broker(tmp_path: Path) -> None:
    port = free_port()
    config = validate(
        {
            "data_dir": str(tmp_path / "data"),
            "camera": {"host": "127.0.0.1", "port": 0},
            "avl": {"enabled": False},
            "mqtt": {"host": "127.0.0.1", "port": port},
            "http": {"host": "127.0.0.1", "port": 0},
        }
    )
    async with Bridge(config) as bridge:
        assert bridge.broker is None
        with pytest.raises(OSError):  # nothing listens: the bridge only tries to connect
            await asyncio.open_connection("127.0.0.1", port)


async def test_a_taken_port_is_a_clear_error() -> None:
    port = free_port()
    async with EmbeddedBroker(port=port):
        with pytest.raises(EmbeddedBrokerError, match=r"set mqtt\.host"):
            await EmbeddedBroker(port=port).start()


def test_backoff_grows_with_jitter_and_resets() -> None:
    backoff = ClientBackoff(initial=1.0, maximum=8.0, rng=lambda: 1.0)
    assert [backoff.next() for _ in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    backoff.reset()
    low = ClientBackoff(initial=1.0, maximum=8.0, rng=lambda: 0.0)
    assert [low.next() for _ in range(3)] == [0.5, 1.0, 2.0]  # jitter: 50-100 % of the step
    assert backoff.next() == 1.0
