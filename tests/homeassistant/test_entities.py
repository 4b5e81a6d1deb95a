"""Entities from retained and live messages, and their availability."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import (
    FRONT_JPEG,
    IMEI,
    IMEI2,
    POSITION,
    REAR_JPEG,
    fire,
    get_device,
    publish_bridge,
    publish_vehicle,
)
from homeassistant.components import camera
from homeassistant.components.mqtt.const import MQTT_CONNECTION_STATE
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.dualcam.camera import PLACEHOLDER
from custom_components.dualcam.const import CONF_VEHICLES, DOMAIN, EVENT_SOS

ENTITIES = {
    "binary_sensor.van_1_tracker_connection": "connection",
    "button.van_1_request_front_photo": "request_front_photo",
    "button.van_1_request_rear_photo": "request_rear_photo",
    "camera.van_1_front_camera": "front_camera",
    "camera.van_1_rear_camera": "rear_camera",
    "device_tracker.van_1": "location",
    "event.van_1_sos": "sos",
    "sensor.van_1_front_camera_state": "front_camera_state",
    "sensor.van_1_rear_camera_state": "rear_camera_state",
    "sensor.van_1_transfer_progress": "transfer_progress",
    "sensor.van_1_last_media_received": "last_media",
}


def dualcam_states(hass: HomeAssistant) -> dict[str, str]:
    """entity_id -> state of every DualCam entity."""
    registry = er.async_get(hass)
    return {
        e.entity_id: hass.states.get(e.entity_id).state
        for e in registry.entities.values()
        if e.platform == DOMAIN and hass.states.get(e.entity_id)
    }


async def test_entities_from_retained_messages(
    hass: HomeAssistant, loaded: MockConfigEntry
) -> None:
    """Every entity exists with a translated name, a stable unique id and its retained value."""
    registry = er.async_get(hass)
    for entity_id, key in ENTITIES.items():
        entry = registry.async_get(entity_id)
        assert entry is not None, entity_id
        assert entry.unique_id == f"{IMEI}_{key}"
    assert hass.states.get("sensor.van_1_front_camera_state").state == "no_card"
    assert hass.states.get("sensor.van_1_front_camera_state").name == "Van 1 Front camera state"
    assert hass.states.get("sensor.van_1_rear_camera_state").state == "not_detected"
    assert hass.states.get("binary_sensor.van_1_tracker_connection").state == "on"
    assert hass.states.get("sensor.van_1_transfer_progress").state == STATE_UNKNOWN
    assert hass.states.get("sensor.van_1_last_media_received").state == STATE_UNKNOWN
    assert hass.states.get("event.van_1_sos").state == STATE_UNKNOWN
    tracker = hass.states.get("device_tracker.van_1")
    assert tracker.name == "Van 1"
    assert tracker.attributes["latitude"] == POSITION["latitude"]
    assert tracker.attributes["longitude"] == POSITION["longitude"]
    assert tracker.attributes["source_type"] == "gps"
    assert tracker.attributes["speed"] == 48
    assert tracker.attributes["heading"] == 270
    assert tracker.attributes["satellites"] == 11
    assert tracker.state == "not_home"
    assert hass.states.get("camera.van_1_front_camera").state == "idle"


async def test_devices(hass: HomeAssistant, loaded: MockConfigEntry) -> None:
    """The vehicle is a device (bridge name, IMEI as serial) behind the bridge device."""
    vehicle = get_device(hass, IMEI)
    bridge = get_device(hass, "bridge/dualcam")
    assert vehicle is not None and bridge is not None
    assert (vehicle.name, vehicle.serial_number, vehicle.model, vehicle.manufacturer) == (
        "Van 1",
        IMEI,
        "DualCam",
        "Teltonika",
    )
    assert vehicle.via_device_id == bridge.id
    assert bridge.sw_version == "0.1.0"
    # The bridge is this project's software, not a Teltonika product.
    assert (bridge.manufacturer, bridge.model) == ("dualcam-bridge", "DualCam bridge")
    assert bridge.entry_type is dr.DeviceEntryType.SERVICE


async def test_camera_image_is_the_published_jpeg(
    hass: HomeAssistant, loaded: MockConfigEntry, hass_client: ClientSessionGenerator
) -> None:
    """Both the API and the HTTP proxy return the exact bytes of the photo topic."""
    front = await camera.async_get_image(hass, "camera.van_1_front_camera")
    rear = await camera.async_get_image(hass, "camera.van_1_rear_camera")
    assert (front.content, front.content_type) == (FRONT_JPEG, "image/jpeg")
    assert rear.content == REAR_JPEG
    client = await hass_client()
    response = await client.get("/api/camera_proxy/camera.van_1_front_camera")
    assert response.status == 200
    assert await response.read() == FRONT_JPEG


async def test_camera_placeholder_before_the_first_photo(
    hass: HomeAssistant, setup_entry: MockConfigEntry, hass_client: ClientSessionGenerator
) -> None:
    """A new vehicle has no photo yet: its cameras show a placeholder, not an HTTP error."""
    publish_bridge(hass)
    fire(hass, f"{IMEI}/info", {"imei": IMEI, "name": "Van 1"})
    fire(hass, f"{IMEI}/availability", "online")
    await hass.async_block_till_done()
    placeholder = PLACEHOLDER.read_bytes()
    assert placeholder[:3] == b"\xff\xd8\xff" and len(placeholder) > 1000
    image = await camera.async_get_image(hass, "camera.van_1_rear_camera")
    assert (image.content, image.content_type) == (placeholder, "image/jpeg")
    client = await hass_client()
    response = await client.get("/api/camera_proxy/camera.van_1_front_camera")
    assert response.status == 200
    assert response.content_type == "image/jpeg"
    assert await response.read() == placeholder
    assert hass.states.get("camera.van_1_front_camera").attributes["photo_received_at"] is None

    fire(hass, f"{IMEI}/camera/front/photo", FRONT_JPEG)
    await hass.async_block_till_done()
    assert (await camera.async_get_image(hass, "camera.van_1_front_camera")).content == FRONT_JPEG


async def test_camera_snapshot_service(
    hass: HomeAssistant, loaded: MockConfigEntry, tmp_path: Path
) -> None:
    """camera.snapshot writes the latest photo."""
    hass.config.allowlist_external_dirs = {str(tmp_path)}
    target = tmp_path / "snap.jpg"
    await hass.services.async_call(
        "camera",
        "snapshot",
        {"entity_id": "camera.van_1_rear_camera", "filename": str(target)},
        blocking=True,
    )
    await hass.async_block_till_done()
    assert target.read_bytes() == REAR_JPEG


async def test_new_photo_refreshes_entity_picture(
    hass: HomeAssistant, loaded: MockConfigEntry
) -> None:
    """A live photo replaces the image and changes entity_picture (the frontend refetches)."""
    before = hass.states.get("camera.van_1_front_camera").attributes["entity_picture"]
    rear_before = hass.states.get("camera.van_1_rear_camera").attributes["entity_picture"]
    new_photo = FRONT_JPEG + b"new"
    fire(hass, f"{IMEI}/camera/front/photo", new_photo)
    await hass.async_block_till_done()
    after = hass.states.get("camera.van_1_front_camera").attributes["entity_picture"]
    assert after != before
    assert hass.states.get("camera.van_1_rear_camera").attributes["entity_picture"] == rear_before
    assert (await camera.async_get_image(hass, "camera.van_1_front_camera")).content == new_photo


async def test_live_camera_state_transfer_position_media(
    hass: HomeAssistant, loaded: MockConfigEntry
) -> None:
    """Live (non-retained) messages update the matching entities."""
    fire(hass, f"{IMEI}/camera/rear/state", {"value": 4, "state": "card_faulty", "timestamp": None})
    # A bridge sending only the number still maps to the state name.
    fire(hass, f"{IMEI}/camera/front/state", {"value": 3})
    fire(
        hass,
        f"{IMEI}/transfer",
        {
            "file": "%videof",
            "camera": "front",
            "kind": "video",
            "packets_done": 5,
            "packets_total": 20,
            "bytes_per_s": 2048,
            "state": "receiving",
        },
    )
    fire(hass, f"{IMEI}/position", {**POSITION, "latitude": 54.7, "speed": 0})
    await hass.async_block_till_done()
    assert hass.states.get("sensor.van_1_rear_camera_state").state == "card_faulty"
    # 3 is a mounted card: the healthy state.
    assert hass.states.get("sensor.van_1_front_camera_state").state == "card_mounted"
    progress = hass.states.get("sensor.van_1_transfer_progress")
    assert float(progress.state) == 25.0
    assert progress.attributes["state"] == "receiving"
    assert progress.attributes["kind"] == "video"
    assert hass.states.get("device_tracker.van_1").attributes["latitude"] == 54.7

    fire(
        hass,
        f"{IMEI}/transfer",
        {"file": "%videof", "packets_done": 20, "packets_total": 20, "state": "done"},
    )
    fire(
        hass,
        f"{IMEI}/media",
        {
            "id": "m1",
            "imei": IMEI,
            "camera": "front",
            "kind": "photo",
            "mime": "image/jpeg",
            "size": 3,
            "sha256": "00" * 32,
            "received_at": "2025-05-01T10:02:03Z",
            "path": "/data/x.jpg",
            "url": None,
            "duration_s": None,
            "trigger": "server_request",
        },
    )
    await hass.async_block_till_done()
    assert float(hass.states.get("sensor.van_1_transfer_progress").state) == 100.0
    last_media = hass.states.get("sensor.van_1_last_media_received")
    assert dt_util.parse_datetime(last_media.state) == dt_util.parse_datetime(
        "2025-05-01T10:02:03Z"
    )
    assert last_media.attributes["kind"] == "photo"


async def test_sos_event(hass: HomeAssistant, loaded: MockConfigEntry) -> None:
    """An SOS record fires the event entity (typed, with position) and the bus event."""
    bus_events = async_capture_events(hass, EVENT_SOS)
    position = {"latitude": 54.6, "longitude": 25.2}
    fire(
        hass,
        f"{IMEI}/sos",
        {"value": 3, "trigger": "crash", "timestamp": "2025-05-01T10:05:00Z", "position": position},
    )
    await hass.async_block_till_done()
    state = hass.states.get("event.van_1_sos")
    assert state.state not in (STATE_UNKNOWN, STATE_UNAVAILABLE)
    assert state.attributes["event_type"] == "crash"
    assert state.attributes["position"] == position
    assert state.attributes["clips"] == []
    device = get_device(hass, IMEI)
    assert len(bus_events) == 1
    assert bus_events[0].data == {
        "device_id": device.id,
        "imei": IMEI,
        "name": "Van 1",
        "trigger": "crash",
        "value": 3,
        "timestamp": "2025-05-01T10:05:00+00:00",
        "position": position,
    }


async def test_availability_follows_the_bridge_not_the_tracker(
    hass: HomeAssistant, loaded: MockConfigEntry
) -> None:
    """Bridge offline: all unavailable. Tracker offline: only its connection sensor changes."""
    online = dualcam_states(hass)
    assert STATE_UNAVAILABLE not in online.values()

    fire(hass, "bridge/status", "offline")
    await hass.async_block_till_done()
    states = dualcam_states(hass)
    # The SOS event keeps its last SOS (see test_restart.py).
    assert states.pop("event.van_1_sos") == STATE_UNKNOWN
    assert set(states.values()) == {STATE_UNAVAILABLE}

    fire(hass, "bridge/status", "online")
    await hass.async_block_till_done()
    assert dualcam_states(hass) == online

    # A parked van: its last photo, position, SOS, media and buttons stay (the bridge queues
    # commands for it); the connection sensor says the tracker is away.
    fire(hass, f"{IMEI}/availability", "offline")
    await hass.async_block_till_done()
    assert dualcam_states(hass) == {**online, "binary_sensor.van_1_tracker_connection": "off"}
    assert (await camera.async_get_image(hass, "camera.van_1_front_camera")).content == FRONT_JPEG
    assert hass.states.get("device_tracker.van_1").attributes["latitude"] == POSITION["latitude"]

    fire(hass, f"{IMEI}/availability", "online")
    await hass.async_block_till_done()
    assert dualcam_states(hass) == online


async def test_availability_follows_mqtt_connection(
    hass: HomeAssistant, loaded: MockConfigEntry
) -> None:
    """Losing the broker makes the entities unavailable until it is back (the SOS event keeps
    its last SOS)."""
    async_dispatcher_send(hass, MQTT_CONNECTION_STATE, False)
    await hass.async_block_till_done()
    states = dualcam_states(hass)
    assert states.pop("event.van_1_sos") == STATE_UNKNOWN
    assert set(states.values()) == {STATE_UNAVAILABLE}
    async_dispatcher_send(hass, MQTT_CONNECTION_STATE, True)
    await hass.async_block_till_done()
    assert STATE_UNAVAILABLE not in dualcam_states(hass).values()


async def test_vehicle_appearing_later_is_added_live(
    hass: HomeAssistant, loaded: MockConfigEntry
) -> None:
    """A new `P/<imei>/info` adds a device and its entities without a reload."""
    runtime = loaded.runtime_data
    publish_vehicle(hass, IMEI2, "Truck 2", retain=False)
    await hass.async_block_till_done()
    assert loaded.runtime_data is runtime
    assert hass.states.get("sensor.truck_2_front_camera_state").state == "no_card"
    assert get_device(hass, IMEI2).name == "Truck 2"
    # A renamed vehicle keeps its entities; the device name follows the bridge.
    fire(hass, f"{IMEI2}/info", {"imei": IMEI2, "name": "Truck Two"})
    await hass.async_block_till_done()
    assert get_device(hass, IMEI2).name == "Truck Two"
    assert len([s for s in dualcam_states(hass) if "truck" in s]) == len(ENTITIES)


@pytest.mark.parametrize(
    "entry_options",
    [{CONF_VEHICLES: [IMEI2]}],
)
async def test_only_selected_vehicles(hass: HomeAssistant, loaded: MockConfigEntry) -> None:
    """With a vehicle selection, other vehicles get no device and no entities."""
    publish_vehicle(hass, IMEI2, "Truck 2", retain=False)
    await hass.async_block_till_done()
    assert get_device(hass, IMEI) is None
    assert hass.states.get("sensor.van_1_front_camera_state") is None
    assert hass.states.get("sensor.truck_2_front_camera_state") is not None
    # Unselected IMEIs are still offered in the options.
    assert IMEI in loaded.runtime_data.seen_imeis


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        (f"{IMEI}/camera/front/state", "not json"),
        (f"{IMEI}/camera/front/state", {"value": 9}),
        (f"{IMEI}/camera/side/state", {"value": 1}),
        (f"{IMEI}/position", {"latitude": 200, "longitude": 0}),
        (f"{IMEI}/position", "[1, 2]"),
        (f"{IMEI}/transfer", {"state": "receiving"}),
        (f"{IMEI}/media", {"id": "x"}),
        (f"{IMEI}/sos", {"value": 7}),
        (f"{IMEI}/availability", "maybe"),
        ("bridge/status", "sleepy"),
        (f"{IMEI}/command/result", "garbage"),
        ("not-an-imei/info", {"name": "x"}),
    ],
)
async def test_malformed_messages_are_ignored(
    hass: HomeAssistant, loaded: MockConfigEntry, topic: str, payload: object
) -> None:
    """A bad message changes nothing and raises nothing (HA's test harness fails on both)."""
    before = dualcam_states(hass)
    fire(hass, topic, payload)
    await hass.async_block_till_done()
    assert dualcam_states(hass) == before
    assert set(loaded.runtime_data.vehicles) == {IMEI}
