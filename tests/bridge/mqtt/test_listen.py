"""`listen` / `demo` output: one line per message, media bytes summarised."""

from __future__ import annotations

import asyncio
import contextlib

from dualcam_bridge.config import MqttConfig
from dualcam_bridge.mqtt.listen import describe, listen

from .helpers import IMEIS, Fleet, wait_until

P = "dualcam"


def test_describe() -> None:
    jpeg = b"\xff\xd8" + bytes(range(256)) * 4
    line = describe(f"{P}/{IMEIS[0]}/camera/front/photo", jpeg, 1, True)
    assert line.startswith(f"{P}/{IMEIS[0]}/camera/front/photo [qos 1, retained] <JPEG, 1026 bytes")
    assert describe(f"{P}/bridge/status", b"online") == f"{P}/bridge/status online"
    assert describe(f"{P}/x/sos", b'{"value": 3}', 1) == f'{P}/x/sos [qos 1] {{"value": 3}}'
    assert "<bytes, 2 bytes" in describe(f"{P}/x/command", b"\xff\xfe")


async def test_listen_prints_what_the_bridge_publishes(
    broker, make_publisher, fleet: Fleet
) -> None:
    lines: list[str] = []
    settings = MqttConfig(host="127.0.0.1", port=broker.port)
    photo = fleet.photo(IMEIS[0])
    printed: list[str] = []
    async with make_publisher(
        broker.port, on_published=lambda *m: printed.append(describe(*m))
    ) as pub:
        task = asyncio.create_task(listen(settings, lines.append))
        await pub.wait_connected(10)
        await wait_until(lambda: any("bridge/status" in line for line in lines), 10, "listen")
        await pub.handle_event(photo)
        await pub.flush(10)
        await wait_until(lambda: any("/media" in line for line in lines), 10, "the media line")
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert any("camera/front/photo" in line and "<JPEG" in line for line in lines)
    assert any(photo.id in line for line in lines if "/media" in line)
    # demo: the publisher's hook saw the same messages go out
    assert any("camera/front/photo [qos 1, retained] <JPEG" in line for line in printed)
    assert printed[-1] == f"{P}/bridge/status [qos 1, retained] offline"
