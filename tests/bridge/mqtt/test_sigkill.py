"""The outbox survives a SIGKILL: a new bridge process delivers what the killed one queued."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections import Counter
from pathlib import Path

from .contract import check_all, decode
from .helpers import free_port

P = "dualcam"
SCRIPT = Path(__file__).with_name("bridge_process.py")


async def spawn(*args: object) -> asyncio.subprocess.Process:
    """Start bridge_process.py with these arguments."""
    return await asyncio.create_subprocess_exec(
        sys.executable, str(SCRIPT), *map(str, args), stdout=asyncio.subprocess.PIPE
    )


async def expect_line(proc: asyncio.subprocess.Process, text: str, timeout: float = 20) -> None:
    """Wait for the process to print ``text`` (its readiness signal)."""
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), timeout)
    assert line.decode().strip() == text, f"bridge process said {line!r}"


async def sigkill(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL: no cleanup, no goodbye, whatever was in memory is gone."""
    proc.send_signal(signal.SIGKILL)
    assert await asyncio.wait_for(proc.wait(), 10) == -signal.SIGKILL


async def test_outbox_survives_sigkill(broker, tmp_path: Path) -> None:
    state, media = tmp_path / "mqtt.sqlite3", tmp_path / "media"
    dead_port = free_port()  # the broker is "down" for the first process
    first = await spawn("queue", state, dead_port, media, 4)
    await expect_line(first, "queued")
    await sigkill(first)
    manifest = json.loads((media / "manifest.json").read_text())
    assert len(manifest) == 40

    async with broker.collector(f"{P}/#") as sub:
        second = await spawn("deliver", state, broker.port, media)
        await expect_line(second, "delivered")
        assert await asyncio.wait_for(second.wait(), 10) == 0
        await sub.wait_for(
            lambda ms: sum(m.topic.endswith("/media") for m in ms) >= len(manifest),
            what="every queued media event",
        )

    check_all(sub.messages)
    for imei in {m["imei"] for m in manifest}:
        expected = [m["id"] for m in manifest if m["imei"] == imei]
        got = [decode(m)["id"] for m in sub.on(f"{P}/{imei}/media")]
        assert got == expected, "all delivered, in order, once"
        assert len(sub.on(f"{P}/{imei}/sos")) == 4
        photos = sub.payloads(f"{P}/{imei}/camera/front/photo")
        front = [Path(m["path"]) for m in manifest if m["imei"] == imei and "front" in m["path"]]
        assert photos == [p.read_bytes() for p in front]


async def test_sigkill_while_delivering_loses_nothing(broker, tmp_path: Path) -> None:
    state, media = tmp_path / "mqtt.sqlite3", tmp_path / "media"
    async with broker.collector(f"{P}/#") as sub:
        first = await spawn("queue", state, broker.port, media, 20)
        await sub.wait_for(
            lambda ms: any(m.topic.endswith("/media") for m in ms), what="delivery to start"
        )
        await sigkill(first)  # most likely mid-delivery; at worst after it
        # Queueing never yields to the loop, so the manifest exists before any delivery.
        manifest = json.loads((media / "manifest.json").read_text())
        second = await spawn("deliver", state, broker.port, media)
        await expect_line(second, "delivered")
        assert await asyncio.wait_for(second.wait(), 10) == 0
        await sub.wait_for(
            lambda ms: (
                {decode(m)["id"] for m in ms if m.topic.endswith("/media")}
                >= {m["id"] for m in manifest}
            ),
            what="every media event",
        )
    ids = Counter(decode(m)["id"] for m in sub.messages if m.topic.endswith("/media"))
    assert sum(n - 1 for n in ids.values()) <= 5, "only in-flight messages twice (QoS 1)"


async def test_last_will_marks_a_killed_bridge_offline(broker, tmp_path: Path) -> None:
    proc = await spawn("online", tmp_path / "mqtt.sqlite3", broker.port, tmp_path / "media")
    await expect_line(proc, "connected")
    async with broker.collector(f"{P}/bridge/status") as sub:
        await sub.wait_for(lambda ms: ms and ms[-1].payload == b"online", what="online")
        await sigkill(proc)
        await sub.wait_for(lambda ms: ms[-1].payload == b"offline", what="the Last Will")
    async with broker.collector(f"{P}/bridge/status") as late:
        await late.wait_for(lambda ms: bool(ms), what="the retained status")
        assert late.messages[-1].retain
        assert late.messages[-1].payload == b"offline"
