"""Contract tests: a simulated fleet through a real broker, checked topic by topic."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from dualcam_bridge.events import MediaCompleted

from .conftest import needs_mosquitto
from .contract import check_all, check_message, decode
from .helpers import IMEIS, Fleet, Received
from .schemas import rule_for

P = "dualcam"


async def feed_fleet(publish, fleet: Fleet, imeis: list[str]) -> list[MediaCompleted]:
    """Every kind of event for each tracker; returns the media in the order fed."""
    media: list[MediaCompleted] = []
    for imei in imeis:
        for event in (
            fleet.seen(imei, name=f"Truck {imei[-2:]}"),
            fleet.availability(imei, online=True),
            fleet.camera_state(imei, "front", 0),
            fleet.camera_state(imei, "rear", 1),
            fleet.position(imei, 54.1, 25.1),
        ):
            await publish(event)
        batch = [
            fleet.photo(imei, "front"),
            fleet.photo(imei, "rear"),
            fleet.video(imei, "rear", mp4=True),
            fleet.video(imei, "front", mp4=False),
            fleet.photo(imei, "front"),
        ]
        for event in batch:
            await publish(event)
        media += batch
        await publish(fleet.sos(imei, 3, with_position=True))
        await publish(fleet.sos(imei, 1, with_position=False))
        await publish(fleet.position(imei, 54.2, 25.2))
    return media


def markers(messages: list[Received], imei: str) -> list[tuple[str, str]]:
    """The per-device history a subscriber sees: media ids, SOS and position timestamps."""
    out = []
    for m in messages:
        if m.topic == f"{P}/{imei}/media":
            out.append(("media", decode(m)["id"]))
        elif m.topic in (f"{P}/{imei}/sos", f"{P}/{imei}/position"):
            out.append((m.topic.rsplit("/", 1)[-1], decode(m)["timestamp"]))
    return out


async def test_fleet_messages_keep_the_contract(broker, make_publisher, fleet: Fleet) -> None:
    imeis = IMEIS[:3]
    async with broker.collector(f"{P}/#") as sub:
        async with make_publisher(broker.port, publish_video_payload=True) as pub:
            media = await feed_fleet(pub.handle_event, fleet, imeis)
            await pub.flush(15)
            await sub.wait_count(f"{P}/{imeis[-1]}/position", 2)
        await sub.wait_for(lambda ms: ms[-1].payload == b"offline", what="offline on stop")

    check_all(sub.messages)
    assert sub.messages[0].topic == f"{P}/bridge/status"
    assert sub.messages[0].payload == b"online"

    # Each file exactly once, and its bytes are the file's bytes.
    ids = Counter(decode(m)["id"] for m in sub.messages if m.topic.endswith("/media"))
    assert ids == Counter(m.id for m in media)
    for imei in imeis:
        for cam in ("front", "rear"):
            photos = [m for m in media if (m.imei, m.camera, m.kind) == (imei, cam, "photo")]
            videos = [m for m in media if (m.imei, m.camera, m.kind) == (imei, cam, "video")]
            photo_topic = f"{P}/{imei}/camera/{cam}/photo"
            video_topic = f"{P}/{imei}/camera/{cam}/video"
            assert sub.payloads(photo_topic) == [m.path.read_bytes() for m in photos]
            assert sub.payloads(video_topic) == [m.payload_path.read_bytes() for m in videos]

    # The media event describes the published file.
    for m in (m for m in sub.messages if m.topic.endswith("/media")):
        event = decode(m)
        source = next(x for x in media if x.id == event["id"])
        assert event["path"] == str(source.payload_path)
        assert event["mime"] == source.mime
        assert (event["size"], event["sha256"]) == (source.size, source.sha256)
        assert Path(event["path"]).read_bytes() == source.payload_path.read_bytes()

    # Order per device is the order the events were fed.
    for imei in imeis:
        seen = markers(sub.messages, imei)
        assert [k for k, _ in seen] == ["position"] + ["media"] * 5 + ["sos", "sos", "position"]
        assert [v for k, v in seen if k == "media"] == [m.id for m in media if m.imei == imei]

    info = decode(sub.on(f"{P}/bridge/info")[-1])
    assert info["devices"] == sorted(imeis)
    device = decode(sub.on(f"{P}/{imeis[0]}/info")[-1])
    assert device["name"] == f"Truck {imeis[0][-2:]}"
    assert device["protocol_id"] == 8


async def test_retained_state_for_a_new_subscriber(broker, make_publisher, fleet: Fleet) -> None:
    imeis = IMEIS[:2]
    async with make_publisher(broker.port) as pub:
        media = await feed_fleet(pub.handle_event, fleet, imeis)
        await pub.flush(15)
        expected = {f"{P}/bridge/status", f"{P}/bridge/info"} | {
            f"{P}/{imei}/{leaf}"
            for imei in imeis
            for leaf in (
                "availability",
                "info",
                "camera/front/state",
                "camera/rear/state",
                "camera/front/photo",
                "camera/rear/photo",
                "position",
            )
        }
        async with broker.collector(f"{P}/#") as late:
            await late.wait_for(lambda ms: {m.topic for m in ms} >= expected, what="state")
            await asyncio.sleep(0.1)  # anything retained beyond the expected would show now

    by_topic = {m.topic: m for m in late.messages}
    assert set(by_topic) == expected
    assert len(late.messages) == len(expected)
    assert all(m.retain for m in late.messages), [m.topic for m in late.messages if not m.retain]
    for m in late.messages:
        rule = check_message(m)
        assert rule.retained, f"{m.topic} must not be retained"
    assert by_topic[f"{P}/bridge/status"].payload == b"online"
    for imei in imeis:
        last_front = [m for m in media if (m.imei, m.camera, m.kind) == (imei, "front", "photo")][
            -1
        ]
        assert by_topic[f"{P}/{imei}/camera/front/photo"].payload == last_front.path.read_bytes()
        assert decode(by_topic[f"{P}/{imei}/position"])["latitude"] == 54.2
        assert decode(by_topic[f"{P}/{imei}/camera/rear/state"])["state"] == "no_card"
    assert not any(t.endswith(("/media", "/sos", "/video", "/transfer")) for t in by_topic)


@needs_mosquitto
async def test_live_retain_flags_with_mqtt5(mosquitto, make_publisher, fleet: Fleet) -> None:
    """An MQTT 5 bridge; a v5 subscriber with retain-as-published sees each message's flag."""
    async with (
        mosquitto.collector(f"{P}/#", v5=True, retain_as_published=True) as sub,
        make_publisher(mosquitto.port, protocol="5") as pub,
    ):
        await feed_fleet(pub.handle_event, fleet, IMEIS[:1])
        await pub.flush(10)
        await sub.wait_count(f"{P}/{IMEIS[0]}/position", 2)
    assert len(sub.messages) > 10
    for m in sub.messages:
        rule = check_message(m)
        assert m.retain == rule.retained, f"{m.topic}: retain={m.retain}"


async def test_restart_never_republishes_a_delivered_file(
    broker, make_publisher, fleet: Fleet, tmp_path: Path
) -> None:
    imei = IMEIS[0]
    first, second = fleet.photo(imei), fleet.photo(imei, "rear")
    async with broker.collector(f"{P}/{imei}/#") as sub:
        async with make_publisher(broker.port) as pub:
            await pub.handle_event(first)
            await pub.flush(10)
        # A new bridge process on the same state: the store announces the first file again.
        async with make_publisher(broker.port) as pub:
            await pub.handle_event(first)
            await pub.handle_event(second)
            await pub.flush(10)
            await sub.wait_count(f"{P}/{imei}/media", 2)
    ids = [decode(m)["id"] for m in sub.on(f"{P}/{imei}/media")]
    assert ids == [first.id, second.id]


async def test_video_payload_can_be_turned_off(broker, make_publisher, fleet: Fleet) -> None:
    imei = IMEIS[0]
    video = fleet.video(imei, "front")
    async with (
        broker.collector(f"{P}/{imei}/#") as sub,
        make_publisher(broker.port, publish_video_payload=False) as pub,
    ):
        await pub.handle_event(video)
        await pub.flush(10)
        await sub.wait_count(f"{P}/{imei}/media", 1)
    assert not sub.on(f"{P}/{imei}/camera/front/video")
    assert decode(sub.on(f"{P}/{imei}/media")[0])["mime"] == "video/mp4"


async def test_a_vanished_file_does_not_block_its_device(
    broker, make_publisher, fleet: Fleet
) -> None:
    imei = IMEIS[0]
    gone, kept = fleet.photo(imei), fleet.photo(imei)
    async with make_publisher(broker.port + 1) as pub:  # nothing listens: queue only
        await pub.handle_event(gone)
        await pub.handle_event(kept)
    gone.path.unlink()  # retention removed it before the broker was reachable
    async with (
        broker.collector(f"{P}/{imei}/#") as sub,
        make_publisher(broker.port) as pub,
    ):
        await pub.flush(10)
        await sub.wait_count(f"{P}/{imei}/media", 2)
    assert sub.payloads(f"{P}/{imei}/camera/front/photo") == [kept.path.read_bytes()]
    assert [decode(m)["id"] for m in sub.on(f"{P}/{imei}/media")] == [gone.id, kept.id]


def test_schema_rules_cover_every_contract_topic() -> None:
    examples = {
        f"{P}/bridge/status": True,
        f"{P}/{IMEIS[0]}/camera/rear/photo": True,
        f"{P}/{IMEIS[0]}/transfer": False,
        f"{P}/abc/command/result": False,
    }
    for topic, retained in examples.items():
        rule = rule_for(topic)
        assert rule is not None and rule.retained == retained
    assert rule_for(f"{P}/{IMEIS[0]}/camera/side/photo") is None
