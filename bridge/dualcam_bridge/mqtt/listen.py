"""Read the contract's topics back: one line per message, image and video bytes summarised.

For ``dualcam-bridge listen`` (debugging a real deployment) and ``demo`` (printing what goes
out, through ``MqttPublisher(on_published=...)``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import Callable

import aiomqtt

from ..config import MqttConfig
from .client import build_client, default_client_id

BINARY_LEAVES = ("/photo", "/video")


def describe(topic: str, payload: bytes, qos: int | None = None, retain: bool = False) -> str:
    """One readable line for a message: JSON as compact text, media bytes as a summary."""
    flags = [f"qos {qos}"] if qos is not None else []
    if retain:
        flags.append("retained")
    head = f"{topic} [{', '.join(flags)}]" if flags else topic
    return f"{head} {summarise(topic, payload)}"


def summarise(topic: str, payload: bytes) -> str:
    """The payload as text, or a size + hash line for bytes nobody wants on a terminal."""
    if topic.endswith(BINARY_LEAVES) or _is_binary(payload):
        kind = "JPEG" if payload.startswith(b"\xff\xd8") else "bytes"
        digest = hashlib.sha256(payload).hexdigest()[:16]
        return f"<{kind}, {len(payload)} bytes, sha256 {digest}…>"
    text = payload.decode("utf-8")
    try:
        return json.dumps(json.loads(text), ensure_ascii=False)
    except ValueError:
        return text


def _is_binary(payload: bytes) -> bool:
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


async def listen(
    config: MqttConfig,
    out: Callable[[str], None] = print,
    topic_filter: str | None = None,
) -> None:
    """Subscribe to ``P/#`` (or ``topic_filter``) and print every message until cancelled."""
    # Its own client id: reusing the bridge's would disconnect the running bridge.
    client_id = f"{config.client_id or default_client_id()}-listen-{os.getpid()}"
    async with build_client(config, client_id=client_id) as client:
        await client.subscribe(topic_filter or f"{config.topic_prefix}/#", qos=1)
        async for message in client.messages:
            payload = message.payload
            raw = payload if isinstance(payload, bytes) else str(payload or "").encode()
            out(describe(str(message.topic), raw, message.qos, message.retain))


def run_listen(config: MqttConfig, topic_filter: str | None = None) -> None:
    """Blocking entry point for the CLI; Ctrl-C ends it."""
    try:
        asyncio.run(listen(config, topic_filter=topic_filter))
    except KeyboardInterrupt:
        pass
    except aiomqtt.MqttError as exc:
        raise SystemExit(f"MQTT broker {config.broker_host}:{config.broker_port}: {exc}") from None
