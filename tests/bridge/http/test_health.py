"""``GET /healthz``: 200 with each part's state, 503 when one is down; no credentials."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from ..mqtt.helpers import Collector, free_port, wait_until
from .conftest import base_url, get_json, upload

TOKEN = "a-token-of-at-least-16-characters"


async def test_healthz_reports_each_part(start_bridge, client: aiohttp.ClientSession) -> None:
    # A token is set, and /healthz still needs none (a container HEALTHCHECK calls it).
    async with start_bridge(http={"token": TOKEN}, media={"min_free_mb": 1}) as b:
        async with client.get(base_url(b) + "/healthz") as resp:
            assert resp.status == 200
            assert resp.headers["Cache-Control"] == "no-store"
            body = await resp.json()
        assert body["status"] == "ok"
        parts = body["parts"]
        for name, port in (("camera", b.port), ("avl", b.bridge.avl.port)):
            assert parts[name] == {
                "status": "ok",
                "listening": True,
                "port": port,
                "connections": 0,
            }
        assert parts["mqtt"] == {"status": "disabled"}
        disk = parts["disk"]
        assert disk["status"] == "ok" and disk["full"] is False and disk["min_free_mb"] == 1
        assert disk["free_mb"] > 1
        assert str(b.data_dir) not in str(body)  # no paths for the unauthenticated

        # A camera connected: counted.
        _, writer = await asyncio.open_connection("127.0.0.1", b.port)
        await wait_until(lambda: len(b.bridge.camera.connections) == 1, what="the connection")
        _, body = await get_json(client, base_url(b) + "/healthz")
        assert body["parts"]["camera"]["connections"] == 1
        writer.close()


async def test_disk_below_its_floor_is_503(start_bridge, client: aiohttp.ClientSession) -> None:
    async with start_bridge(media={"min_free_mb": 1}) as b:
        url = base_url(b) + "/healthz"
        disk = b.bridge.disk
        disk.min_free_mb = 1e12  # more than any disk: below the floor
        assert await disk.check()
        status, body = await get_json(client, url)
        assert status == 503 and body["status"] == "down"
        assert body["parts"]["disk"]["status"] == "down" and body["parts"]["disk"]["full"] is True
        assert body["parts"]["camera"]["status"] == "ok"
        disk.min_free_mb = 1
        assert not await disk.check()
        assert (await get_json(client, url))[0] == 200


async def test_mqtt_broker_down_is_503_with_the_outbox_count(
    mosquitto, start_bridge, client: aiohttp.ClientSession
) -> None:
    mqtt = {"host": "127.0.0.1", "port": mosquitto.port, "client_id": "bridge-health"}
    async with start_bridge(mqtt=mqtt, media={"min_free_mb": 1}) as b:
        assert b.bridge.mqtt is not None
        url = base_url(b) + "/healthz"
        await b.bridge.mqtt.wait_connected(10)
        await b.bridge.mqtt.flush(10)
        status, body = await get_json(client, url)
        assert status == 200
        assert body["parts"]["mqtt"] == {
            "status": "ok",
            "connected": True,
            "outbox_pending": 0,
            "outbox_writable": True,
        }

        await mosquitto.stop()
        await wait_until(lambda: not b.bridge.mqtt.connected, what="the MQTT link to drop")
        await upload(b, photos=1, videos=0)  # its messages wait in the outbox
        status, body = await get_json(client, url)
        assert status == 503 and body["status"] == "down"
        mqtt_part = body["parts"]["mqtt"]
        assert mqtt_part["status"] == "down" and mqtt_part["connected"] is False
        assert mqtt_part["outbox_pending"] == b.bridge.mqtt.pending > 0

        await mosquitto.start()
        await b.bridge.mqtt.wait_connected(20)
        await b.bridge.mqtt.flush(10)
        status, body = await get_json(client, url)
        assert status == 200 and body["parts"]["mqtt"]["outbox_pending"] == 0


async def test_a_stopped_listener_is_503_and_a_disabled_part_is_not(
    start_bridge, client: aiohttp.ClientSession
) -> None:
    async with start_bridge(avl={"enabled": False}, media={"min_free_mb": 1}) as b:
        url = base_url(b) + "/healthz"
        status, body = await get_json(client, url)
        assert status == 200 and body["parts"]["avl"] == {"status": "disabled"}
        await b.bridge.camera.stop()
        status, body = await get_json(client, url)
        assert status == 503
        assert body["parts"]["camera"] == {"status": "down", "listening": False, "connections": 0}


async def test_http_disabled_means_no_server_and_no_links(
    mosquitto, start_bridge, client: aiohttp.ClientSession
) -> None:
    port = free_port()
    mqtt = {"host": "127.0.0.1", "port": mosquitto.port, "client_id": "bridge-nohttp"}
    async with (
        Collector(mosquitto.port, "dualcam/+/media") as sub,
        start_bridge(mqtt=mqtt, http={"enabled": False, "port": port}) as b,
    ):
        assert b.bridge.http is None and b.bridge.signer is None and b.bridge.http_port is None
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", port)
        await upload(b, photos=1, videos=0)
        await sub.wait_for(lambda ms: len(ms) >= 1, what="the media event")
        event = json.loads(sub.messages[0].payload)
        assert event["url"] is None and event["thumbnail_url"] is None
