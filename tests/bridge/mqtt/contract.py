"""Checks that a list of received messages keeps the MQTT contract (used by several tests)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema

from .helpers import Received
from .schemas import BYTES, JPEG, ONLINE_OFFLINE, TopicRule, rule_for


def check_message(message: Received, prefix: str = "dualcam") -> TopicRule:
    """Assert one message's topic, QoS and payload match the contract; return its rule."""
    rule = rule_for(message.topic, prefix)
    assert rule is not None, f"{message.topic} is not a contract topic"
    if message.exact_qos:
        assert message.qos == rule.qos, f"{message.topic}: QoS {message.qos}, contract {rule.qos}"
    if rule.payload == ONLINE_OFFLINE:
        assert message.payload in (b"online", b"offline"), message
    elif rule.payload == JPEG:
        assert message.payload.startswith(b"\xff\xd8"), f"{message.topic}: not a JPEG"
    elif rule.payload == BYTES:
        assert message.payload, f"{message.topic}: empty payload"
    elif isinstance(rule.payload, dict):
        jsonschema.validate(decode(message), rule.payload)
    return rule


def check_all(messages: list[Received], prefix: str = "dualcam") -> None:
    """Assert every message keeps the contract."""
    for message in messages:
        check_message(message, prefix)


def decode(message: Received) -> Any:
    """The message's JSON payload (UTF-8, one object)."""
    value = json.loads(message.payload.decode("utf-8"))
    assert isinstance(value, dict), message
    return value
