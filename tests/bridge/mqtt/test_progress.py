"""Transfer progress: QoS 0, not retained, at most once a second per transfer, last one kept."""

from __future__ import annotations

import asyncio
import itertools

from dualcam_bridge.events import TransferProgress
from dualcam_bridge.mqtt.throttle import Throttle

from .contract import check_message, decode
from .helpers import IMEIS

P = "dualcam"


def progress(imei: str, file: str, done: int, state: str = "receiving") -> TransferProgress:
    """A progress update of a 100-packet transfer."""
    camera = "front" if file.endswith("f") else "rear"
    return TransferProgress(imei, file, camera, "video", done, 100, 2048.0, state)  # type: ignore[arg-type]


async def test_progress_is_throttled_per_transfer(broker, make_publisher) -> None:
    imei = IMEIS[0]
    topic = f"{P}/{imei}/transfer"
    async with broker.collector(topic) as sub, make_publisher(broker.port) as pub:
        await pub.wait_connected(10)
        # Two transfers in flight, each reporting every packet (far more than once a second).
        for n in range(1, 101):
            await pub.handle_event(progress(imei, "%videof", n))
            await pub.handle_event(progress(imei, "%videor", n))
            if n % 10 == 0:
                await asyncio.sleep(0.05)
        await pub.handle_event(progress(imei, "%videof", 100, "done"))
        await pub.handle_event(progress(imei, "%videor", 100, "done"))
        await sub.wait_for(
            lambda ms: sum(decode(m)["state"] == "done" for m in ms) == 2,
            timeout=5,
            what="both final states",
        )
        await asyncio.sleep(0.1)  # nothing may follow the final state

    for m in sub.messages:
        check_message(m)
        assert not m.retain  # (check_message checked QoS 0 where the broker shows it)
    for file in ("%videof", "%videor"):
        mine = [m for m in sub.messages if decode(m)["file"] == file]
        assert 2 <= len(mine) <= 3, [decode(m)["packets_done"] for m in mine]
        assert decode(mine[0])["packets_done"] == 1  # the first update goes out at once
        assert decode(mine[-1])["state"] == "done"  # the last one is never swallowed
        gaps = [b.at - a.at for a, b in itertools.pairwise(mine)]
        assert all(gap >= 0.9 for gap in gaps), gaps


async def test_progress_is_not_queued_while_offline(make_publisher) -> None:
    async with make_publisher(1) as pub:  # nothing listens on port 1
        await pub.handle_event(progress(IMEIS[0], "%photof", 5))
        assert pub.pending == 1  # only the bridge's own info, no progress


async def test_throttle_unit() -> None:
    sent: list[int] = []
    now = [0.0]
    throttle: Throttle[int] = Throttle(0.05, sent.append, clock=lambda: now[0])
    throttle.offer("a", 1)
    throttle.offer("a", 2)
    throttle.offer("a", 3)
    throttle.offer("b", 10)
    assert sent == [1, 10]
    now[0] = 0.05
    await asyncio.sleep(0.08)
    assert sent == [1, 10, 3]  # the newest held update, at the end of the interval
    throttle.offer("a", 4, final=True)
    await asyncio.sleep(0.08)
    assert sent == [1, 10, 3, 4]
    throttle.offer("a", 5)  # a finished transfer's key starts afresh
    assert sent == [1, 10, 3, 4, 5]
    throttle.close()
