"""Decoded Codec 8E records per second on one core, through the full sans-IO server path.

    .venv/bin/python bench/avl_decode.py [--seconds 3] [--profile]

Three workloads: the wiki's one-record packet (5 IO elements, the worst case for per-packet
overhead), a realistic packet of 10 records with 20 IO elements each, and the bare record
decoder on that packet (no framing, CRC or events).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from dualcam_bridge.protocol.avl_connection import AvlServerConnection
from dualcam_bridge.protocol.avl_events import RecordsReceived
from dualcam_bridge.protocol.codec8 import CODEC_8E, AvlRecord, decode_records, encode_avl_packet

WIKI_8E = bytes.fromhex(
    "000000000000004A8E010000016B412CEE000100000000000000000000000000000000010005000100010100010011"
    "001D00010010015E2C880002000B000000003544C87A000E000000001DD7E06A00000100002994"
)
LOGIN = bytes.fromhex("000F333536333037303432343431303133")


def realistic_packet(records: int = 10) -> bytes:
    """A packet shaped like an FMC125 with a DualCam: 20 IO elements per record."""
    start = datetime(2026, 11, 26, 12, tzinfo=UTC)
    io: dict[int, int | bytes] = {239: 1, 240: 1, 21: 4, 200: 0, 69: 1, 1: 0, 179: 0, 113: 87}
    io |= {66: 12850, 67: 4100, 68: 0, 24: 63, 181: 9, 182: 7}
    io |= {16: 1234567, 241: 24602, 199: 120, 497: 0}
    io |= {11: 893700218, 14: 500686954}
    recs = [
        AvlRecord(start + timedelta(seconds=i), 0, 25.2797, 54.6872, 112, 90, 11, 54, 0, dict(io))
        for i in range(records)
    ]
    return encode_avl_packet(recs, CODEC_8E, {66: 2, 67: 2, 68: 2, 24: 2, 181: 2, 182: 2})


def measure(label: str, seconds: float, step: Callable[[], int]) -> float:
    """Run ``step`` (returns records decoded) for about ``seconds``; print and return records/s."""
    step()  # warm caches
    done, start = 0, time.perf_counter()
    deadline = start + seconds
    while (now := time.perf_counter()) < deadline:
        for _ in range(50):
            done += step()
    rate = done / (now - start)
    print(f"{label:<58} {rate:>12,.0f} records/s")
    return rate


def server_step(packet: bytes, batch: int) -> Callable[[], int]:
    """Feed ``batch`` copies of ``packet`` in one chunk and ACK each, like the asyncio server."""
    conn = AvlServerConnection()
    conn.receive_data(LOGIN)
    conn.accept_login()
    data = packet * batch

    def step() -> int:
        count = 0
        for event in conn.receive_data(data):
            if isinstance(event, RecordsReceived):
                count += len(event.records)
                conn.ack()
        conn.data_to_send()  # the ACKs, as the server would write them
        return count

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per workload (default 3)")
    parser.add_argument("--profile", action="store_true", help="cProfile the realistic workload")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the brief asks
    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs")
    packet = realistic_packet()
    body = packet[8:-4]
    if args.profile:
        step = server_step(packet, 20)
        profiler = cProfile.Profile()
        profiler.runcall(lambda: [step() for _ in range(500)])
        pstats.Stats(profiler).sort_stats("tottime").print_stats(12)
        return
    seconds = args.seconds
    measure("wiki 8E packet (1 record, 5 IO), server connection", seconds, server_step(WIKI_8E, 20))
    measure("10 records x 20 IO per packet, server connection", seconds, server_step(packet, 20))
    measure(
        "10 records x 20 IO, decode_records only",
        seconds,
        lambda: len(decode_records(body, 0, len(body)).records),
    )


if __name__ == "__main__":
    main()
