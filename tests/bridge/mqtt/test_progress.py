"""Transfer progress: QoS 0, not retained, not queued while offline, the final state kept.

The rate (at most once a second per transfer) is set where progress is made, in the camera
connection (tests/bridge/test_camera_server.py); the publisher sends what it gets.
"""

from __future__ import annotations

import asyncio

from dualcam_bridge.events import TransferProgress

from .contract import check_message, decode
from .helpers import IMEIS

P = "dualcam"


def progress(imei: str, file: str, done: int, state: str = "receiving") -> TransferProgress:
    """A progress update of a 100-packet transfer."""
    camera = "front" if file.endswith("f") else "rear"
    return TransferProgress(imei, file, camera, "video", done, 100, 2048.0, state)  # type: ignore[arg-type]


async def test_progress_is_published_per_transfer_without_retain(broker, make_publisher) -> None:
    imei = IMEIS[0]
    topic = f"{P}/{imei}/transfer"
    async with broker.collector(topic) as sub, make_publisher(broker.port) as pub:
        await pub.wait_connected(10)
        for n in (1, 50):
            await pub.handle_event(progress(imei, "%videof", n))
            await pub.handle_event(progress(imei, "%videor", n))
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
        mine = [decode(m) for m in sub.messages if decode(m)["file"] == file]
        assert [(p["packets_done"], p["state"]) for p in mine] == [
            (1, "receiving"),
            (50, "receiving"),
            (100, "done"),
        ]


async def test_progress_is_not_queued_while_offline(make_publisher) -> None:
    async with make_publisher(1) as pub:  # nothing listens on port 1
        await pub.handle_event(progress(IMEIS[0], "%photof", 5))
        assert pub.pending == 1  # only the bridge's own info, no progress
