"""Real sample files for the simulated camera, made unique per capture.

The package ships a JPEG and a 2 s 720p H.265 Annex-B clip per camera (made with ffmpeg,
see ``scripts/make-samples``). Each simulated capture carries a tag — a JPEG comment segment
or an H.265 user-data SEI — so every file has its own bytes and sha256 while staying a valid
photo or video that viewers and ffmpeg accept.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

_UUID = bytes.fromhex("d0a1ca3e5a7e4b1c9f0e2d3c4b5a6978")  # our SEI user-data UUID


@cache
def sample(name: str) -> bytes:
    """The bytes of a shipped sample (``front.jpg``, ``rear.h265`` …)."""
    return resources.files(__package__).joinpath("samples", name).read_bytes()


def photo(camera: str, tag: str) -> bytes:
    """A valid JPEG from ``camera`` with ``tag`` in a COM segment right after SOI."""
    base = sample(f"{camera}.jpg")
    text = tag.encode("ascii", "replace")[:60000]
    com = b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text
    return base[:2] + com + base[2:]


def video(camera: str, tag: str) -> bytes:
    """A valid H.265 stream from ``camera`` with ``tag`` in a prefix SEI before the first slice."""
    base = sample(f"{camera}.h265")
    payload = _UUID + tag.encode("ascii", "replace")[:200]
    # user_data_unregistered (payloadType 5); ASCII has no 00 00 runs to escape.
    sei = bytes([5, len(payload)]) + payload + b"\x80"
    nal = b"\x00\x00\x00\x01" + bytes([39 << 1, 1]) + sei
    cut = _first_slice(base)
    return base[:cut] + nal + base[cut:]


def _first_slice(stream: bytes) -> int:
    """Offset of the start code of the first VCL NAL unit (type < 32)."""
    pos = 0
    while True:
        pos = stream.find(b"\x00\x00\x01", pos)
        if pos < 0 or pos + 3 >= len(stream):
            return 0
        nal_type = (stream[pos + 3] >> 1) & 0x3F
        if nal_type < 32:
            return pos - 1 if pos > 0 and stream[pos - 1] == 0 else pos
        pos += 3
