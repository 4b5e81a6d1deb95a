"""A broker that goes away delays messages, never drops them, and keeps them in order."""

from __future__ import annotations

import asyncio
from collections import Counter

from dualcam_bridge.events import MediaCompleted, SosTriggered

from .contract import check_all, decode
from .helpers import IMEIS, Fleet, Gate, Received, wait_until

P = "dualcam"
OUTAGE_S = 2.0


def history(messages: list[Received], imei: str) -> list[str]:
    """Media ids and SOS timestamps of one device, in arrival order."""
    out = []
    for m in messages:
        if m.topic == f"{P}/{imei}/media":
            out.append(decode(m)["id"])
        elif m.topic == f"{P}/{imei}/sos":
            out.append(decode(m)["timestamp"])
    return out


def expected_history(events: list[MediaCompleted | SosTriggered], imei: str) -> list[str]:
    """What ``history`` should be for the events fed."""
    out = []
    for e in events:
        if e.imei == imei:
            out.append(e.id if isinstance(e, MediaCompleted) else _iso(e))
    return out


def _iso(e: SosTriggered) -> str:
    return e.timestamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def uploads(fleet: Fleet, imeis: list[str], rounds: int) -> list[MediaCompleted | SosTriggered]:
    """Five cameras uploading: a photo per camera per round, an SOS in the middle."""
    events: list[MediaCompleted | SosTriggered] = []
    for r in range(rounds):
        for imei in imeis:
            events.append(fleet.photo(imei, "front" if r % 2 else "rear"))
            if r == rounds // 2:
                events.append(fleet.sos(imei))
    return events


def first_occurrences(items: list[str]) -> list[str]:
    """Dedupe by id the way a subscriber would (QoS 1 may deliver twice)."""
    seen: set[str] = set()
    return [x for x in items if not (x in seen or seen.add(x))]


async def test_broker_restart_delivers_everything_in_order(
    broker, make_publisher, fleet: Fleet
) -> None:
    imeis = IMEIS[:5]
    gate = Gate(broker.port)
    await gate.start()
    sub = broker.collector(f"{P}/#")
    await sub.connect()
    before = uploads(fleet, imeis, 2)
    async with make_publisher(gate.port) as pub:
        await pub.wait_connected(10)
        for e in before:
            await pub.handle_event(e)
        await pub.flush(10)
        await sub.wait_for(lambda ms: sum(m.topic.endswith("/media") for m in ms) == 10)

        await broker.stop()
        await sub.disconnect()
        await wait_until(lambda: not pub.connected, 5, "the bridge to notice the outage")
        during = uploads(fleet, imeis, 3)
        for e in during:
            await pub.handle_event(e)  # accepted at once, queued on disk
        assert pub.pending >= 2 * len(during) - len(imeis)
        await asyncio.sleep(OUTAGE_S)
        assert pub.connection.failures >= 2, "the bridge keeps retrying"

        # The test's subscriber must be back before the bridge, or it would miss messages.
        gate.shut()
        await broker.start()
        await sub.connect()
        gate.open()
        await pub.wait_connected(10)
        await pub.flush(15)
        media_total = sum(isinstance(e, MediaCompleted) for e in before + during)
        await sub.wait_for(
            lambda ms: sum(m.topic.endswith("/media") for m in ms) >= media_total,
            what="every media event",
        )
        # Retained state is on the restarted broker again (it kept nothing).
        async with broker.collector(f"{P}/#") as late:
            await late.wait_for(
                lambda ms: (
                    {f"{P}/bridge/status", f"{P}/bridge/info"} <= {m.topic for m in ms}
                    and all(
                        f"{P}/{i}/camera/{c}/photo" in {m.topic for m in ms}
                        for i in imeis
                        for c in ("front", "rear")
                    )
                ),
                what="retained state after the restart",
            )
            assert late.on(f"{P}/bridge/status")[-1].payload == b"online"
    await sub.disconnect()
    await gate.close()

    check_all(sub.messages)
    for imei in imeis:
        got = history(sub.messages, imei)
        assert got == expected_history(before + during, imei), imei
    ids = Counter(decode(m)["id"] for m in sub.messages if m.topic.endswith("/media"))
    assert set(ids.values()) == {1}, "nothing was in flight: each file exactly once"


async def test_network_cut_with_messages_in_flight(broker, make_publisher, fleet: Fleet) -> None:
    imeis = IMEIS[:5]
    gate = Gate(broker.port)
    await gate.start()
    events = uploads(fleet, imeis, 8)
    async with broker.collector(f"{P}/#") as sub, make_publisher(gate.port) as pub:
        await pub.wait_connected(10)
        for e in events[:20]:
            await pub.handle_event(e)
        await sub.wait_for(lambda ms: sum(m.topic.endswith("/media") for m in ms) >= 3)
        gate.shut()  # mid-burst: some messages are in flight, unacknowledged
        for e in events[20:]:
            await pub.handle_event(e)
        await wait_until(lambda: not pub.connected, 5, "the bridge to notice the cut")
        gate.open()
        await pub.wait_connected(10)
        await pub.flush(15)
        await sub.wait_for(
            lambda ms: (
                {decode(m)["id"] for m in ms if m.topic.endswith("/media")}
                >= {e.id for e in events if isinstance(e, MediaCompleted)}
            ),
            what="every media event",
        )
    await gate.close()

    check_all(sub.messages)
    for imei in imeis:
        assert first_occurrences(history(sub.messages, imei)) == expected_history(events, imei)
    ids = Counter(decode(m)["id"] for m in sub.messages if m.topic.endswith("/media"))
    duplicates = sum(n - 1 for n in ids.values())
    assert duplicates <= len(imeis), "at most the one in-flight message per device again"
