"""Home Assistant MQTT discovery: retained configs that point at the contract's topics."""

from __future__ import annotations

import json

from dualcam_bridge.config import MqttConfig

from .contract import decode
from .helpers import IMEIS, Fleet
from .schemas import rule_for

P = "dualcam"


async def test_discovery_configs_are_published_and_retained(
    broker, make_publisher, fleet: Fleet
) -> None:
    imei = IMEIS[0]
    async with make_publisher(broker.port, homeassistant_discovery=True) as pub:
        await pub.handle_event(fleet.seen(imei, name="Truck 7"))
        await pub.flush(10)
        async with broker.collector("homeassistant/#") as sub:
            await sub.wait_for(lambda ms: len(ms) == 9, what="nine discovery configs")
    assert all(m.retain for m in sub.messages)
    configs = {m.topic: decode(m) for m in sub.messages}
    components = sorted(topic.split("/")[1] for topic in configs)
    assert components == sorted(
        ["camera"] * 2 + ["sensor"] * 3 + ["button"] * 2 + ["event", "device_tracker"]
    )
    for topic, config in configs.items():
        assert topic.startswith(f"homeassistant/{topic.split('/')[1]}/dualcam_{imei}/")
        assert config["unique_id"].startswith(f"dualcam_{imei}_")
        assert config["device"]["identifiers"] == [f"dualcam_{imei}"]
        assert config["device"]["name"] == "Truck 7"
        for key in ("topic", "state_topic", "json_attributes_topic", "command_topic"):
            if key in config:
                assert rule_for(config[key]) is not None, f"{key} {config[key]} not in contract"

    front_cam = configs[f"homeassistant/camera/dualcam_{imei}/front_photo/config"]
    assert front_cam["topic"] == f"{P}/{imei}/camera/front/photo"
    state = configs[f"homeassistant/sensor/dualcam_{imei}/rear_camera_state/config"]
    assert state["device_class"] == "enum" and "no_card" in state["options"]
    sos = configs[f"homeassistant/event/dualcam_{imei}/sos/config"]
    assert set(sos["event_types"]) == {"server_request", "din1", "din2", "crash"}
    tracker = configs[f"homeassistant/device_tracker/dualcam_{imei}/location/config"]
    assert tracker["json_attributes_topic"] == f"{P}/{imei}/position"
    button = configs[f"homeassistant/button/dualcam_{imei}/request_rear_photo/config"]
    assert button["command_topic"] == f"{P}/{imei}/command"
    assert json.loads(button["payload_press"]) == {
        "command": "camreq",
        "file_type": "photo",
        "source": "rear",
    }


async def test_discovery_is_off_by_default(broker, make_publisher, fleet: Fleet) -> None:
    assert not MqttConfig().homeassistant_discovery
    imei = IMEIS[0]
    async with make_publisher(broker.port) as pub, broker.collector("#") as sub:
        await pub.handle_event(fleet.seen(imei))
        await pub.handle_event(fleet.sos(imei))  # the same lane: after any discovery config
        await sub.wait_count(f"{P}/{imei}/sos", 1)
    assert not [m.topic for m in sub.messages if m.topic.startswith("homeassistant/")]
