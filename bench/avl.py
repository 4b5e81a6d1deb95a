"""AVL figures: decoded Codec 8E records/s, stored records/s and SOS latency over loopback.

    .venv/bin/python bench/avl.py [--seconds 2] [--sos 1000] [--trackers 20]

1. Decoded records/s on one core through ``AvlServerConnection`` (as ``bench/avl_decode.py``).
2. Handled records/s end to end: trackers over loopback TCP → AVL server → SQLite → events →
   ACK, packets of 10 realistic records, one process (server and trackers share one core).
3. SOS latency: a tracker sends one SOS record at a time; from the moment the server read the
   bytes to ``SosTriggered`` reaching a subscriber (decode, dedup + store in SQLite, events),
   and from the tracker's write (adds the loopback hop). p50/p99, bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import struct
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from avl_decode import WIKI_8E, measure, realistic_packet, server_step

from dualcam_bridge.allowlist import DeviceAllowList
from dualcam_bridge.avl import server as avl_server
from dualcam_bridge.avl.service import AvlService
from dualcam_bridge.config import AvlConfig
from dualcam_bridge.events import DomainEvent, SosTriggered
from dualcam_bridge.protocol.avl_events import LoginAnswer
from dualcam_bridge.protocol.avl_tracker import AvlTrackerConnection
from dualcam_bridge.protocol.codec8 import AvlRecord, encode_avl_packet
from dualcam_bridge.protocol.crc import crc16_ibm

IMEI_BASE = 352094082738000
_TS = struct.Struct(">Q")
_TS_CRC = struct.Struct(">I")

LOOPBACK = AvlConfig(host="127.0.0.1", port=0)


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


class Tracker:
    """A bare tracker socket (no simulator overhead in the measurement)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, imei: str):
        self.reader, self.writer = reader, writer
        self.conn = AvlTrackerConnection(imei)
        self.t = datetime(2026, 11, 26, tzinfo=UTC)

    @classmethod
    async def open(cls, port: int, imei: str) -> Tracker:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        tracker = cls(reader, writer, imei)
        tracker.conn.login()
        writer.write(tracker.conn.data_to_send())
        assert tracker.conn.receive_data(await reader.readexactly(1)) == [LoginAnswer(True)]
        return tracker

    def records(self, n: int, io: dict[int, int | bytes], event_io: int = 0) -> list[AvlRecord]:
        out = []
        for _ in range(n):
            self.t += timedelta(milliseconds=1)
            out.append(AvlRecord(self.t, 0, 25.2797, 54.6872, 112, 90, 11, 54, event_io, dict(io)))
        return out

    async def send(self, records: list[AvlRecord]) -> None:
        self.conn.send_records(records)
        self.writer.write(self.conn.data_to_send())
        self.conn.receive_data(await self.reader.readexactly(4))

    async def send_raw(self, packet: bytes, count: int) -> None:
        self.writer.write(packet)
        assert int.from_bytes(await self.reader.readexactly(4), "big") == count


class PacketStamper:
    """One encoded packet of equal-sized records, re-stamped with new times (cheap to make)."""

    def __init__(self, records: list[AvlRecord]) -> None:
        self.template = bytearray(encode_avl_packet(records))
        self.count = len(records)
        self.size = (len(self.template) - 8 - 3 - 4) // self.count

    def packet(self, first_ms: int) -> bytes:
        out = self.template
        for i in range(self.count):
            _TS.pack_into(out, 10 + i * self.size, first_ms + i)
        _TS_CRC.pack_into(out, len(out) - 4, crc16_ibm(memoryview(out)[8:-4]))
        return bytes(out)


async def handled_rate(trackers: int, seconds: float, data_dir: Path) -> float:
    """Records stored + ACKed per second with ``trackers`` concurrent links."""
    io: dict[int, int | bytes] = {239: 1, 240: 1, 21: 4, 66: 12850, 67: 4100, 16: 1234567}
    io |= {497: 3, 498: 3, 11: 893700218, 14: 500686954, 113: 87, 24: 63, 181: 9}

    async def ignore(event: DomainEvent) -> None:
        return None

    service = AvlService(LOOPBACK, data_dir, DeviceAllowList(), ignore)
    async with service:
        assert service.port is not None
        links = [await Tracker.open(service.port, str(IMEI_BASE + n)) for n in range(trackers)]
        # Records must be new to be handled, but encoding them would cost more than the
        # server's work: re-stamp one encoded packet instead.
        stamper = PacketStamper(links[0].records(10, io))
        done = 0
        deadline = time.perf_counter() + seconds

        async def pump(t: Tracker) -> None:
            nonlocal done
            ms = 1_800_000_000_000
            while time.perf_counter() < deadline:
                await t.send_raw(stamper.packet(ms), 10)
                ms += 10
                done += 10

        start = time.perf_counter()
        await asyncio.gather(*(pump(t) for t in links))
        elapsed = time.perf_counter() - start
        for t in links:
            t.writer.close()
    return done / elapsed


async def sos_latency(
    count: int, seconds: float, data_dir: Path
) -> tuple[list[float], list[float]]:
    """Per SOS: (server read → SosTriggered emitted, tracker write → emitted) in ms."""
    read_at: list[float] = []
    emitted = asyncio.Event()
    emitted_at = 0.0

    async def on_event(event: DomainEvent) -> None:
        nonlocal emitted_at
        if isinstance(event, SosTriggered):
            emitted_at = time.perf_counter()
            emitted.set()

    # Stamp the moment the server's read returned the bytes (the bench's only intrusion).
    original = avl_server.AvlLink._process

    async def stamped(self: avl_server.AvlLink, data: bytes) -> None:
        read_at.append(time.perf_counter())
        await original(self, data)

    avl_server.AvlLink._process = stamped  # type: ignore[method-assign]
    server_side: list[float] = []
    end_to_end: list[float] = []
    try:
        service = AvlService(LOOPBACK, data_dir, DeviceAllowList(), on_event)
        async with service:
            assert service.port is not None
            t = await Tracker.open(service.port, str(IMEI_BASE + 999))
            deadline = time.perf_counter() + seconds
            for n in range(count):
                if time.perf_counter() > deadline:
                    break
                emitted.clear()
                read_at.clear()
                (record,) = t.records(1, {499: n % 4, 498: 3, 497: 3}, event_io=499)
                sent = time.perf_counter()
                await t.send([record])
                await emitted.wait()
                server_side.append((emitted_at - read_at[0]) * 1000)
                end_to_end.append((emitted_at - sent) * 1000)
            t.writer.close()
    finally:
        avl_server.AvlLink._process = original  # type: ignore[method-assign]
    return server_side, end_to_end


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per workload (default 2)")
    parser.add_argument("--sos", type=int, default=1000, help="SOS records to time (default 1000)")
    parser.add_argument("--trackers", type=int, default=20, help="concurrent links (default 20)")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    print(
        f"Python {platform.python_version()} on {platform.machine()}, one of {os.cpu_count()} CPUs"
    )
    measure("decode: wiki 8E packet (1 record, 5 IO)", args.seconds, server_step(WIKI_8E, 20))
    measure(
        "decode: 10 records x 20 IO per packet", args.seconds, server_step(realistic_packet(), 20)
    )
    with tempfile.TemporaryDirectory() as tmp:
        rate = asyncio.run(handled_rate(args.trackers, args.seconds, Path(tmp) / "rate"))
        label = f"handled end to end: {args.trackers} links, 10 records/packet, SQLite"
        print(f"{label:<58} {rate:>12,.0f} records/s")
        server, e2e = asyncio.run(sos_latency(args.sos, args.seconds * 5, Path(tmp) / "sos"))
    for label, values in (
        ("server read -> SosTriggered", server),
        ("tracker write -> SosTriggered", e2e),
    ):
        print(
            f"SOS latency {label:<30} n={len(values):<5} p50 {statistics.median(values):6.3f} ms"
            f"   p99 {percentile(values, 99):6.3f} ms   max {max(values):6.3f} ms"
        )  # fmt: skip


if __name__ == "__main__":
    main()
