"""Home Assistant MQTT discovery: entities for a device built from the contract's topics.

Off by default (``mqtt.homeassistant_discovery``): the custom integration creates richer
entities. This path gives a user without it a working device: a camera per lens (latest
photo), camera-state and last-media sensors, an SOS event, a device tracker and buttons that
request a photo through the command topic.
"""

from __future__ import annotations

import json
from typing import Any

from ..contract import CAMERA_STATE_NAMES, CAMERAS, SOS_TRIGGER_NAMES
from .devices import DeviceRecord
from .topics import Topics, to_json

# HA's MQTT event entity wants {"event_type": …}; keep the rest of the SOS as attributes.
SOS_TEMPLATE = (
    "{{ {'event_type': value_json.trigger, 'value': value_json.value,"
    " 'timestamp': value_json.timestamp, 'position': value_json.position} | tojson }}"
)


def device_configs(
    topics: Topics, discovery_prefix: str, device: DeviceRecord, version: str
) -> list[tuple[str, bytes]]:
    """Every discovery ``(config topic, payload)`` for one device; publish them retained."""
    imei = device.imei
    node = f"dualcam_{imei}"
    bridge = [{"topic": topics.bridge_status}]
    tracker = [*bridge, {"topic": topics.availability(imei)}]
    common: dict[str, Any] = {
        "device": {
            "identifiers": [node],
            "name": device.name or f"DualCam {imei}",
            "manufacturer": "Teltonika",
            "model": "DualCam",
            "serial_number": imei,
        },
        "origin": {"name": "dualcam-bridge", "sw_version": version},
        "availability": bridge,
    }
    entities: list[tuple[str, str, dict[str, Any]]] = []
    for cam in CAMERAS:
        label = cam.capitalize()
        entities.append(("camera", f"{cam}_photo", {
            "name": f"{label} camera",
            "topic": topics.photo(imei, cam),
        }))  # fmt: skip
        entities.append(("sensor", f"{cam}_camera_state", {
            "name": f"{label} camera state",
            "state_topic": topics.camera_state(imei, cam),
            "value_template": "{{ value_json.state }}",
            "json_attributes_topic": topics.camera_state(imei, cam),
            "device_class": "enum",
            "options": list(CAMERA_STATE_NAMES.values()),
            "entity_category": "diagnostic",
        }))  # fmt: skip
        entities.append(("button", f"request_{cam}_photo", {
            "name": f"Request {cam} photo",
            "command_topic": topics.command(imei),
            "payload_press": json.dumps(
                {"command": "camreq", "file_type": "photo", "source": cam}
            ),
            "availability": tracker,
            "availability_mode": "all",
        }))  # fmt: skip
    entities.append(("sensor", "last_media", {
        "name": "Last media",
        "state_topic": topics.media(imei),
        "value_template": "{{ value_json.received_at }}",
        "json_attributes_topic": topics.media(imei),
        "device_class": "timestamp",
    }))  # fmt: skip
    entities.append(("event", "sos", {
        "name": "SOS",
        "state_topic": topics.sos(imei),
        "event_types": list(SOS_TRIGGER_NAMES.values()),
        "value_template": SOS_TEMPLATE,
    }))  # fmt: skip
    entities.append(("device_tracker", "location", {
        "name": "Location",
        "json_attributes_topic": topics.position(imei),
        "source_type": "gps",
        "availability": tracker,
        "availability_mode": "all",
    }))  # fmt: skip
    configs = []
    for component, key, entity in entities:
        payload = {**common, **entity, "unique_id": f"{node}_{key}"}
        configs.append((f"{discovery_prefix}/{component}/{node}/{key}/config", to_json(payload)))
    return configs
