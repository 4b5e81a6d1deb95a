"""Fuzz the AVL and Codec 12 decoders; any exception other than DeviceProtocolError is a bug.

    .venv/bin/python bench/fuzz_avl.py [--seconds 60] [--seed N]

Inputs are random bytes and mutated valid frames (bit flips, byte overwrites, inserts,
deletes, truncation, splices, length-field edits), half of them with the CRC recomputed so
the record decoder behind the CRC check gets exercised too. Exits 1 if anything else escaped.
"""

from __future__ import annotations

import argparse
import random
import time
import traceback
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from dualcam_bridge.avl.replies import parse_response
from dualcam_bridge.protocol import codec12, envelope
from dualcam_bridge.protocol.avl_connection import AvlServerConnection
from dualcam_bridge.protocol.avl_events import LoginRequest, RecordsReceived
from dualcam_bridge.protocol.avl_tracker import AvlTrackerConnection
from dualcam_bridge.protocol.codec8 import (
    CODEC_8,
    CODEC_8E,
    CODEC_16,
    AvlRecord,
    decode_avl_packet,
    decode_records,
    encode_avl_packet,
)
from dualcam_bridge.protocol.errors import DeviceProtocolError

IMEI = "356307042441013"
LOGIN = bytes.fromhex("000F333536333037303432343431303133")
WIKI = [
    bytes.fromhex(h)
    for h in (
        "000000000000003608010000016B40D8EA30010000000000000000000000000000000105021503010101425E0F"
        "01F10000601A014E0000000000000000010000C7CF",
        "000000000000004A8E010000016B412CEE000100000000000000000000000000000000010005000100010100"
        "010011001D00010010015E2C880002000B000000003544C87A000E000000001DD7E06A00000100002994",
        "000000000000005F10020000016BDBC7833000000000000000000000000000000000000B050402000100000300"
        "02000B00270042563A00000000016BDBC7871800000000000000000000000000000000000B0504020001000003"
        "0002000B00260042563A00000200005FB3",
        "000000000000000F0C010500000007676574696E666F0100004312",
    )
]


def random_packet(rng: random.Random) -> bytes:
    """A valid packet of random records in a random AVL codec."""
    codec = rng.choice([CODEC_8, CODEC_8E, CODEC_16])
    id_max = 255 if codec == CODEC_8 else 65535
    records = []
    for _ in range(rng.randint(1, 5)):
        io: dict[int, int | bytes] = {}
        for _ in range(rng.randint(0, 12)):
            if codec == CODEC_8E and rng.random() < 0.2:
                io[rng.randint(0, id_max)] = rng.randbytes(rng.randint(0, 20))
            else:
                io[rng.randint(0, id_max)] = rng.getrandbits(rng.choice([8, 16, 32, 64]))
        records.append(
            AvlRecord(
                datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=rng.getrandbits(42)),
                rng.randint(0, 2),
                rng.uniform(-180, 180),
                rng.uniform(-90, 90),
                rng.randint(-500, 9000),
                rng.randint(0, 359),
                rng.randint(0, 30),
                rng.randint(0, 250),
                rng.randint(0, id_max),
                io,
                rng.randint(0, 7) if codec == CODEC_16 else None,
            )
        )
    return encode_avl_packet(records, codec)


def mutate(rng: random.Random, data: bytes, corpus: list[bytes]) -> bytes:
    """One to four random edits of ``data``."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        pos = rng.randrange(len(out) + 1)
        kind = rng.randrange(7)
        if kind == 0 and out:
            out[pos % len(out)] ^= 1 << rng.randrange(8)
        elif kind == 1 and out:
            out[pos % len(out)] = rng.choice([0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)])
        elif kind == 2:
            out[pos:pos] = rng.randbytes(rng.randint(1, 8))
        elif kind == 3:
            del out[pos : pos + rng.randint(1, 8)]
        elif kind == 4:
            del out[pos:]
        elif kind == 5:
            other = rng.choice(corpus)
            cut = rng.randrange(len(other) + 1)
            out[pos:] = other[cut:]
        elif len(out) >= 8:  # lie about the data length
            out[4:8] = rng.getrandbits(32).to_bytes(4, "big")
    return bytes(out)


def fix_crc(data: bytes) -> bytes:
    """Re-envelope the body so the CRC matches again."""
    return envelope.wrap(data[8:-4]) if len(data) > 12 else data


def server_stream(data: bytes, rng: random.Random) -> None:
    conn = AvlServerConnection()
    stream = LOGIN + data
    pos = 0
    while pos < len(stream):
        step = rng.choice([1, 2, 7, 64, 4096])
        events = conn.receive_data(stream[pos : pos + step])
        pos += step
        while events:
            for event in events:
                if isinstance(event, LoginRequest):
                    conn.accept_login()
                elif isinstance(event, RecordsReceived):
                    conn.ack()
            conn.data_to_send()
            events = conn.next_events()  # raises an error deferred behind good events
    conn.receive_data(b"")  # end-of-stream


def tracker_stream(data: bytes, rng: random.Random) -> None:
    tracker = AvlTrackerConnection(IMEI)
    tracker.login()
    tracker.receive_data(b"\x01" + data)
    tracker.next_events()  # raises an error deferred behind good events
    tracker.receive_data(b"")  # end-of-stream


def body_decoder(data: bytes, rng: random.Random) -> None:
    body = data[8:-4] if len(data) > 12 else data
    decode_records(body, 0, len(body))


def packet_decoder(data: bytes, rng: random.Random) -> None:
    decode_avl_packet(data)


def codec12_decoder(data: bytes, rng: random.Random) -> None:
    (codec12.decode_command if rng.random() < 0.5 else codec12.decode_response)(data)


TARGETS: dict[str, Callable[[bytes, random.Random], None]] = {
    "server_stream": server_stream,
    "tracker_stream": tracker_stream,
    "decode_records": body_decoder,
    "decode_avl_packet": packet_decoder,
    "codec12": codec12_decoder,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    rng = random.Random(seed)
    corpus = WIKI + [random_packet(rng) for _ in range(64)]
    runs: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    failures: list[tuple[str, bytes, str]] = []
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        for _ in range(200):
            roll = rng.random()
            if roll < 0.2:
                data = rng.randbytes(rng.randint(0, 300))
            elif roll < 0.3:
                data = random_packet(rng)
            else:
                data = mutate(rng, rng.choice(corpus), corpus)
            if rng.random() < 0.5:
                data = fix_crc(data)
            name = rng.choice(list(TARGETS))
            runs[name] += 1
            try:
                TARGETS[name](data, rng)
                parse_response(data.decode("latin-1"))
            except DeviceProtocolError:
                rejected[name] += 1
            except Exception:
                failures.append((name, data, traceback.format_exc()))
    total = sum(runs.values())
    print(f"seed {seed}: {total:,} inputs in {args.seconds:.0f} s ({total / args.seconds:,.0f}/s)")
    for name in TARGETS:
        print(f"  {name:<18} {runs[name]:>9,} run, {rejected[name]:>9,} DeviceProtocolError")
    if not failures:
        print("no exception other than DeviceProtocolError")
        return 0
    print(f"{len(failures)} inputs raised something else; first ones:")
    for name, data, trace in failures[:5]:
        print(f"--- {name}: {data.hex()}\n{trace}")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
