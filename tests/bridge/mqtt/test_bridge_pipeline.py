"""The whole bridge on a real broker: simulated fleet in, the MQTT contract out, commands back.

No part is replaced: simulated trackers and DualCams speak the real protocols over loopback to
the real Bridge (camera server, AVL server, media store, MQTT publisher), which publishes to a
real broker (mosquitto and the embedded amqtt), where a real subscriber checks the contract.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path

import aiohttp

from dualcam_bridge.simulator.fleet import make_vehicle, simulate_fleet

from .contract import check_all, decode
from .helpers import wait_until

PREFIX = "dualcam"


def mqtt_section(broker) -> dict:
    return {
        "host": "127.0.0.1",
        "port": broker.port,
        "client_id": f"bridge-{broker.port}",
        "publish_video_payload": True,
    }


def without_links(event: dict) -> dict:
    return {k: v for k, v in event.items() if not k.endswith("url") and k != "variant"}


async def test_fleet_keeps_the_contract(broker, start_bridge) -> None:
    async with broker.collector(f"{PREFIX}/#") as sub, start_bridge(mqtt=mqtt_section(broker)) as b:
        fleet = await simulate_fleet(
            "127.0.0.1", b.bridge.avl.port, b.port, vehicles=3, duration=1.5, interval=0.3,
            crash_at=0.5, imei_base=352094082738000,
        )  # fmt: skip
        imeis = [v.imei for v in fleet.vehicles]
        stored = b.bridge.store.index.all()
        assert len(stored) == 6  # each crash: a front and a rear clip
        await b.bridge.mqtt.flush(10)
        # Each clip: its media event when stored, a second once its H.264 MP4 is made.
        await sub.wait_for(
            lambda ms: (
                Counter(decode(m)["variant"] for m in ms if m.topic.endswith("/media"))
                >= Counter(original=6, browser=6)
            ),
            timeout=60,
            what="6 media events and 6 browser events",
        )
        await sub.wait_for(
            lambda ms: sum(m.topic.endswith("/sos") for m in ms) >= 3, what="3 SOS messages"
        )
        check_all(sub.messages, PREFIX)

        events = [decode(m) for m in sub.messages if m.topic.endswith("/media")]
        media = [m for m in events if m["variant"] == "original"]
        ids = Counter(m["id"] for m in media)
        assert set(ids) == {r.id for r in stored} and max(ids.values()) == 1
        browser = [m for m in events if m["variant"] == "browser"]
        assert Counter(m["id"] for m in browser) == ids  # exactly one each
        for event in browser:
            (original,) = [m for m in media if m["id"] == event["id"]]
            assert events.index(original) < events.index(event)  # after its original
            rec = b.bridge.store.index.get(event["id"])
            assert rec is not None and rec.browser_path is not None and rec.browser_path.exists()
            assert rec.browser_path.name.endswith(".browser.mp4")
            assert rec.browser_size == rec.browser_path.stat().st_size
            # The same file: only the variant and its link differ from the original's event.
            assert without_links(event) == without_links(original)
            # The browser event links the H.264 MP4 (the original's could not: not made yet).
            assert original["browser_url"] is None
            assert event["url"].split("?")[0] == original["url"].split("?")[0]  # newly signed
            assert f"/media/{event['id']}/browser?" in event["browser_url"]
            async with aiohttp.ClientSession() as client, client.get(event["browser_url"]) as resp:
                assert resp.status == 200 and resp.content_type == "video/mp4"
                assert await resp.read() == rec.browser_path.read_bytes()
        for event in media:
            rec = next(r for r in stored if r.id == event["id"])
            # The published bytes are the file on disk, and the event describes them.
            topic = f"{PREFIX}/{event['imei']}/camera/{event['camera']}/video"
            on_disk = Path(event["path"]).read_bytes()
            (payload,) = [m.payload for m in sub.on(topic) if m.payload == on_disk]
            assert rec.payload_path == Path(event["path"])
            assert event["size"] == len(payload) and event["trigger"] == "crash"
            assert event["mime"] == "video/mp4" and payload[4:8] == b"ftyp"

        for imei in imeis:
            (sos,) = [decode(m) for m in sub.on(f"{PREFIX}/{imei}/sos")]
            assert sos["trigger"] == "crash" and sos["position"]["latitude"] > 54
            for cam in ("front", "rear"):
                states = sub.on(f"{PREFIX}/{imei}/camera/{cam}/state")
                assert len(states) == 1  # once, when first seen (unchanged afterwards)
            assert sub.on(f"{PREFIX}/{imei}/availability")[0].payload == b"online"
            assert decode(sub.on(f"{PREFIX}/{imei}/position")[-1])["satellites"] > 0
        info = decode(sub.on(f"{PREFIX}/bridge/info")[-1])
        assert info["camera_port"] == b.port and info["avl_port"] == b.bridge.avl.port
        assert set(imeis) <= set(info["devices"])


async def test_bridge_info_lists_the_configured_devices(broker, start_bridge) -> None:
    """Before any tracker connects, P/bridge/info already names the config's vehicles (Home
    Assistant's discovery dialog counts them); one seen later is added."""
    configured = ["352094082738201", "352094082738202", "352094082738203"]
    devices = [{"imei": imei, "name": f"Van {n}"} for n, imei in enumerate(configured, 1)]
    async with (
        broker.collector(f"{PREFIX}/bridge/info") as sub,
        start_bridge(mqtt=mqtt_section(broker), devices=devices) as b,
    ):
        await sub.wait_count(f"{PREFIX}/bridge/info", 1)
        assert decode(sub.on(f"{PREFIX}/bridge/info")[-1])["devices"] == configured
        seen = "352094082738199"
        vehicle = make_vehicle("127.0.0.1", b.bridge.avl.port, b.port, seen, interval=None)
        run = asyncio.create_task(vehicle.tracker.run())
        await sub.wait_for(
            lambda ms: seen in decode(ms[-1])["devices"], what="the new tracker in bridge/info"
        )
        assert decode(sub.on(f"{PREFIX}/bridge/info")[-1])["devices"] == [seen, *configured]
        vehicle.tracker.stop()
        await run


async def test_camreq_round_trip_ends_in_a_media_event(broker, start_bridge) -> None:
    imei = "352094082738100"
    async with broker.collector(f"{PREFIX}/#") as sub, start_bridge(mqtt=mqtt_section(broker)) as b:
        vehicle = make_vehicle("127.0.0.1", b.bridge.avl.port, b.port, imei, interval=0.5)
        run = asyncio.create_task(vehicle.tracker.run())
        await sub.wait_for(
            lambda ms: any(m.topic == f"{PREFIX}/{imei}/availability" and m.payload == b"online"
                           for m in ms), what="the tracker online",
        )  # fmt: skip
        command = {"id": "photo-1", "command": "camreq", "file_type": "photo", "source": "front"}
        await sub.publish(f"{PREFIX}/{imei}/command", json.dumps(command), qos=1)
        (result,) = await sub.wait_count(f"{PREFIX}/{imei}/command/result", 1, timeout=15)
        answer = decode(result)
        assert answer == {
            "id": "photo-1", "ok": True, "command": "camreq", "status": "ok",
            "response": "Request for photo from source 1 received", "error": None,
            "result": {"type": "camera_request", "kind": "photo", "source": 1,
                       "cameras": ["front"], "duration_s": None, "since": None},
        }  # fmt: skip
        assert vehicle.tracker.result.commands == ["camreq:1,1"]
        (event,) = [decode(m) for m in await sub.wait_count(f"{PREFIX}/{imei}/media", 1, 15)]
        assert event["kind"] == "photo" and event["camera"] == "front"
        assert event["trigger"] == "server_request"
        photo = sub.on(f"{PREFIX}/{imei}/camera/front/photo")[-1]
        assert photo.payload == Path(event["path"]).read_bytes()

        # A video of a time span reaches the tracker as the exact camreq text.
        start = int(time.time()) - 20
        video = {"id": "v", "command": "camreq", "file_type": "video", "source": "rear",
                 "timestamp": start, "duration": 10}  # fmt: skip
        await sub.publish(f"{PREFIX}/{imei}/command", json.dumps(video), qos=1)
        await wait_until(lambda: len(sub.on(f"{PREFIX}/{imei}/command/result")) == 2, 15)
        assert vehicle.tracker.result.commands[-1] == f"camreq:0,2,{start},10"
        assert decode(sub.on(f"{PREFIX}/{imei}/command/result")[-1])["ok"] is True

        # Bad input gets ok:false and a reason, never a crash, and is not sent on.
        for bad, why in (
            (b"{not json", "JSON"),
            (json.dumps({"id": "x", "command": "camreq", "file_type": "video", "source": "front",
                         "timestamp": start, "duration": 31}).encode(), "duration"),
            (json.dumps({"id": "y", "command": "selfdestruct"}).encode(), "selfdestruct"),
        ):  # fmt: skip
            n = len(sub.on(f"{PREFIX}/{imei}/command/result"))
            await sub.publish(f"{PREFIX}/{imei}/command", bad, qos=1)
            await wait_until(lambda n=n: len(sub.on(f"{PREFIX}/{imei}/command/result")) > n, 10)
            reply = decode(sub.on(f"{PREFIX}/{imei}/command/result")[-1])
            assert reply["ok"] is False and why in reply["error"], reply
            assert reply["status"] == "invalid"
        assert len(vehicle.tracker.result.commands) == 2
        vehicle.tracker.stop()
        await asyncio.wait_for(run, 10)
