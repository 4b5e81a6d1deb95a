"""Codec 12: text commands to a tracker and its text responses, sans-IO.

A Codec 12 frame is the common AVL envelope (``envelope.py``) around this body::

    0x0C | quantity 1 | type (0x05 command, 0x06 response) | size u32 | text | quantity 1

``encode_command("getinfo")`` gives ``000000000000000F0C010500000007676574696E666F0100004312``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .envelope import Bytes, unwrap, wrap
from .errors import DeviceProtocolError, LocalProtocolError

CODEC_12 = 0x0C
TYPE_COMMAND = 0x05
TYPE_RESPONSE = 0x06

_BODY_HEAD = struct.Struct(">BBBI")  # codec, quantity, type, size
_BODY_OVERHEAD = 8  # codec + quantity + type + size + quantity 2


@dataclass(frozen=True, slots=True)
class Codec12Message:
    """One decoded Codec 12 body: a command (0x05) or a response (0x06)."""

    type: int
    text: str


def encode_body(msg_type: int, text: str) -> bytes:
    """Encode a Codec 12 body (no envelope); the text must be ASCII."""
    try:
        payload = text.encode("ascii")
    except UnicodeEncodeError as exc:
        raise LocalProtocolError(f"Codec 12 text must be ASCII: {text!r}") from exc
    return _BODY_HEAD.pack(CODEC_12, 1, msg_type, len(payload)) + payload + b"\x01"


def encode_command(text: str) -> bytes:
    """Frame a command (type 0x05) for a tracker."""
    return wrap(encode_body(TYPE_COMMAND, text))


def encode_response(text: str) -> bytes:
    """Frame a tracker's response (type 0x06); used by the simulator."""
    return wrap(encode_body(TYPE_RESPONSE, text))


def decode_body(body: Bytes) -> Codec12Message:
    """Decode a Codec 12 body (codec ID … second quantity), envelope already checked."""
    if len(body) < _BODY_OVERHEAD:
        raise DeviceProtocolError(f"Codec 12 body of {len(body)} bytes is too short")
    codec, quantity, msg_type, size = _BODY_HEAD.unpack_from(body, 0)
    if codec != CODEC_12:
        raise DeviceProtocolError(f"expected codec 0x0C, got {codec:#04x}")
    # Teltonika only ever sends one command or response per frame.
    if quantity != 1 or body[-1] != 1:
        raise DeviceProtocolError(
            f"Codec 12 quantities {quantity} and {body[-1]}: exactly 1 is supported"
        )
    if size != len(body) - _BODY_OVERHEAD:
        raise DeviceProtocolError(
            f"Codec 12 text size {size} does not match the {len(body)}-byte body"
        )
    if msg_type not in (TYPE_COMMAND, TYPE_RESPONSE):
        raise DeviceProtocolError(f"unknown Codec 12 type {msg_type:#04x}")
    payload = bytes(body[7 : 7 + size])
    # Replacement, not an error: a stray non-ASCII byte in a reply is not worth a disconnect.
    return Codec12Message(msg_type, payload.decode("utf-8", errors="replace"))


def _decode_frame(frame: Bytes, expected_type: int) -> str:
    message = decode_body(unwrap(frame))
    if message.type != expected_type:
        raise DeviceProtocolError(
            f"expected Codec 12 type {expected_type:#04x}, got {message.type:#04x}"
        )
    return message.text


def decode_command(frame: Bytes) -> str:
    """Decode one whole command frame (type 0x05) and return its text."""
    return _decode_frame(frame, TYPE_COMMAND)


def decode_response(frame: Bytes) -> str:
    """Decode one whole response frame (type 0x06) and return its text."""
    return _decode_frame(frame, TYPE_RESPONSE)
