"""dualcam.* actions and buttons: exact command JSON, validation, results, failures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import IMEI, IMEI2, PREFIX, FakeBridge, fire, get_device, publish_vehicle
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import area_registry as ar
from homeassistant.helpers import device_registry as dr
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import MqttMockHAClient

from custom_components.dualcam.command_client import _STATUS_ERRORS
from custom_components.dualcam.const import DOMAIN
from custom_components.dualcam.contract import COMMAND_STATUSES

STRINGS = Path(__file__).parents[2] / "custom_components" / "dualcam" / "strings.json"

NOW = "2025-05-01T10:00:00+00:00"


def vehicle_device_id(hass: HomeAssistant, imei: str = IMEI) -> str:
    """Device registry id of a vehicle."""
    return get_device(hass, imei).id


async def call(
    hass: HomeAssistant, service: str, data: dict[str, Any], response: bool = True
) -> dict[str, Any] | None:
    """Call a dualcam action the way an automation would."""
    return await hass.services.async_call(
        DOMAIN, service, data, blocking=True, return_response=response
    )


def published_commands(mqtt_mock: MqttMockHAClient) -> list[tuple[str, dict[str, Any], int, bool]]:
    """(topic, decoded JSON, qos, retain) of every command the integration published."""
    return [
        (c.args[0], json.loads(c.args[1]), c.args[2], c.args[3])
        for c in mqtt_mock.async_publish.call_args_list
        if c.args[0].endswith("/command")
    ]


async def test_request_photo(
    hass: HomeAssistant, fake_bridge: FakeBridge, mqtt_mock: MqttMockHAClient
) -> None:
    """The camreq JSON on P/<imei>/command, and the bridge's result as response data."""
    device_id = vehicle_device_id(hass)
    response = await call(hass, "request_photo", {"device_id": device_id, "source": "front"})
    [(topic, command, qos, retain)] = published_commands(mqtt_mock)
    assert (topic, qos, retain) == (f"{PREFIX}/{IMEI}/command", 1, False)
    command_id = command["id"]
    assert isinstance(command_id, str) and len(command_id) == 32
    assert command == {
        "id": command_id,
        "command": "camreq",
        "file_type": "photo",
        "source": "front",
        "timestamp": None,
        "duration": None,
    }
    assert response == {
        "results": [
            {
                "device_id": device_id,
                "imei": IMEI,
                "name": "Van 1",
                "id": command_id,
                "ok": True,
                "command": "camreq",
                "response": "Request for photo from source 3 received",
                "error": None,
            }
        ]
    }


async def test_request_photo_by_entity_and_area(
    hass: HomeAssistant, fake_bridge: FakeBridge
) -> None:
    """An entity or an area of the vehicle targets it too; source defaults to both."""
    await call(hass, "request_photo", {"entity_id": "camera.van_1_rear_camera"})
    area = ar.async_get(hass).async_create("Yard")
    dr.async_get(hass).async_update_device(vehicle_device_id(hass), area_id=area.id)
    await call(hass, "request_photo", {"area_id": area.id, "source": "rear"}, response=False)
    assert [(imei, c["source"]) for imei, c in fake_bridge.commands] == [
        (IMEI, "both"),
        (IMEI, "rear"),
    ]


async def test_request_photo_two_vehicles(hass: HomeAssistant, fake_bridge: FakeBridge) -> None:
    """Each targeted vehicle gets its own command; each result comes back."""
    publish_vehicle(hass, IMEI2, "Truck 2", retain=False)
    await hass.async_block_till_done()
    response = await call(
        hass,
        "request_photo",
        {"device_id": [vehicle_device_id(hass), vehicle_device_id(hass, IMEI2)]},
    )
    assert sorted(imei for imei, _ in fake_bridge.commands) == sorted([IMEI, IMEI2])
    assert sorted(r["imei"] for r in response["results"]) == sorted([IMEI, IMEI2])
    sent_ids = {c["id"] for _, c in fake_bridge.commands}
    assert {r["id"] for r in response["results"]} == sent_ids


async def test_request_video_seconds_before(
    hass: HomeAssistant, fake_bridge: FakeBridge, freezer: FrozenDateTimeFactory
) -> None:
    """seconds_before is turned into a Unix start time (now - seconds)."""
    freezer.move_to(NOW)
    await call(
        hass,
        "request_video",
        {
            "device_id": vehicle_device_id(hass),
            "source": "rear",
            "duration": 12,
            "seconds_before": 20,
        },
    )
    [(_, command)] = fake_bridge.commands
    assert command == {
        "id": command["id"],
        "command": "camreq",
        "file_type": "video",
        "source": "rear",
        "timestamp": int(dt_util.parse_datetime(NOW).timestamp()) - 20,
        "duration": 12,
    }


async def test_request_video_start_and_default(
    hass: HomeAssistant, fake_bridge: FakeBridge, freezer: FrozenDateTimeFactory
) -> None:
    """A naive start is the user's local time; no start leaves the default to the bridge."""
    freezer.move_to(NOW)
    device_id = vehicle_device_id(hass)
    await call(
        hass,
        "request_video",
        {"device_id": device_id, "duration": 5, "start": "2025-05-01 02:58:00"},
    )
    await call(hass, "request_video", {"device_id": device_id, "duration": 30})
    local_start = dt_util.parse_datetime("2025-05-01 02:58:00").replace(
        tzinfo=dt_util.get_default_time_zone()
    )
    assert [(c["source"], c["timestamp"], c["duration"]) for _, c in fake_bridge.commands] == [
        ("both", int(local_start.timestamp()), 5),
        ("both", None, 30),
    ]


async def test_set_camera_settings(hass: HomeAssistant, fake_bridge: FakeBridge) -> None:
    """Every field maps to its 66000-66010 parameter; only given fields are sent."""
    device_id = vehicle_device_id(hass)
    await call(
        hass,
        "set_camera_settings",
        {
            "device_id": device_id,
            "resolution": "1280x720",
            "compression": 50,
            "osd": True,
            "frame_rate": 25,
            "periodic_photo": True,
            "periodic_photo_interval": 600,
            "video_trigger": "crash",
            "video_seconds_before": 5,
            "video_seconds_after": 7,
        },
    )
    await call(hass, "set_camera_settings", {"device_id": device_id, "osd": False})
    commands = [c for _, c in fake_bridge.commands]
    assert commands[0] == {
        "id": commands[0]["id"],
        "command": "setparam",
        "params": {
            "66000": 3,
            "66001": 50,
            "66002": 1,
            "66003": 25,
            "66006": 1,
            "66007": 600,
            "66008": 3,
            "66009": 5,
            "66010": 7,
        },
    }
    assert commands[1]["params"] == {"66002": 0}


@pytest.mark.parametrize(
    ("service", "data", "key", "message"),
    [
        ("request_photo", {"source": "side"}, "invalid_choice", "source must be one of"),
        ("request_photo", {"timeout": 0}, "out_of_range", "timeout must be between 1 and 300"),
        ("request_video", {"duration": 31}, "out_of_range", "duration must be between 1 and 30"),
        ("request_video", {"duration": 0}, "out_of_range", "(got 0)"),
        (
            "request_video",
            {"duration": 5, "start": "2025-05-01 02:00:00", "seconds_before": 3},
            "start_or_seconds_before",
            "not both",
        ),
        (
            "request_video",
            {"duration": 5, "start": "2099-01-01 00:00:00"},
            "start_in_future",
            "future",
        ),
        ("request_video", {"duration": 5, "seconds_before": -1}, "out_of_range", "seconds_before"),
        ("set_camera_settings", {}, "no_settings", "at least one setting"),
        ("set_camera_settings", {"compression": 101}, "out_of_range", "between 0 and 100"),
        ("set_camera_settings", {"frame_rate": 0}, "out_of_range", "between 1 and 30"),
        ("set_camera_settings", {"periodic_photo_interval": 5}, "out_of_range", "10 and 1800"),
        ("set_camera_settings", {"video_seconds_after": 11}, "out_of_range", "1 and 10"),
        ("set_camera_settings", {"resolution": "4k"}, "invalid_choice", "1920x1080"),
        ("set_camera_settings", {"video_trigger": "towing"}, "invalid_choice", "din1"),
    ],
)
async def test_validation_errors(
    hass: HomeAssistant,
    fake_bridge: FakeBridge,
    freezer: FrozenDateTimeFactory,
    service: str,
    data: dict[str, Any],
    key: str,
    message: str,
) -> None:
    """Bad input: a translated ServiceValidationError, and nothing is sent."""
    freezer.move_to(NOW)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, service, {"device_id": vehicle_device_id(hass), **data})
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == key
    assert message in str(err.value)
    assert fake_bridge.commands == []


async def test_target_without_vehicle(hass: HomeAssistant, fake_bridge: FakeBridge) -> None:
    """A target that holds no DualCam vehicle is a validation error."""
    bridge_device = get_device(hass, "bridge/dualcam")
    for target in ({"device_id": bridge_device.id}, {"entity_id": "zone.home"}, {}):
        with pytest.raises(ServiceValidationError) as err:
            await call(hass, "request_photo", target)
        assert err.value.translation_key == "no_vehicle"
    assert fake_bridge.commands == []


async def test_tracker_error_is_reported(hass: HomeAssistant, fake_bridge: FakeBridge) -> None:
    """ok:false from a bridge without statuses: what the tracker answered, untranslated."""
    fake_bridge.answer = lambda c: {
        "id": c["id"],
        "ok": False,
        "command": c["command"],
        "response": "Invalid argument in camera request cmd!",
        "error": None,
    }
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "request_photo", {"device_id": vehicle_device_id(hass)})
    assert err.value.translation_key == "command_failed"
    assert str(err.value) == "Van 1: the command failed: Invalid argument in camera request cmd!"


@pytest.mark.parametrize(
    ("status", "key", "message"),
    [
        ("rejected", "command_rejected", "Van 1: the tracker refused the command: why"),
        ("timeout", "command_no_answer", "Van 1: the tracker did not answer in time"),
        ("expired", "command_expired", "Van 1: the tracker did not connect while"),
        ("offline", "command_offline", "Van 1: the tracker disconnected before it answered"),
        ("invalid", "command_invalid", "Van 1: the bridge refused the command before sending"),
        ("cancelled", "command_cancelled", "Van 1: the bridge stopped before the command ended"),
        ("error", "command_error", "Van 1: the bridge could not run the command: why"),
    ],
)
async def test_each_command_status_has_its_translated_error(
    hass: HomeAssistant, fake_bridge: FakeBridge, status: str, key: str, message: str
) -> None:
    """The bridge's status picks the error; its English text only fills a placeholder."""
    fake_bridge.answer = lambda c: {
        "id": c["id"],
        "ok": False,
        "command": c["command"],
        "status": status,
        "response": None,
        "error": "why",
        "result": None,
    }
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "request_photo", {"device_id": vehicle_device_id(hass)})
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == key
    assert str(err.value).startswith(message), str(err.value)


async def test_timeout(hass: HomeAssistant, fake_bridge: FakeBridge) -> None:
    """No result for our id in time: HomeAssistantError (results for other ids are ignored)."""
    fake_bridge.answer = lambda c: {"id": "someone-else", "ok": True, "command": "camreq"}
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "request_photo", {"device_id": vehicle_device_id(hass), "timeout": 1})
    assert err.value.translation_key == "command_timeout"
    assert "no answer from the bridge within 1 s" in str(err.value)
    assert len(fake_bridge.commands) == 1
    assert loaded_pending(hass) == 0


def loaded_pending(hass: HomeAssistant) -> int:
    """Commands still waiting for a result (must not leak)."""
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    return len(entry.runtime_data.commands.pending)


async def test_bridge_offline(hass: HomeAssistant, fake_bridge: FakeBridge) -> None:
    """With the bridge offline nothing is sent and the user is told why."""
    device_id = vehicle_device_id(hass)
    fire(hass, "bridge/status", "offline")
    await hass.async_block_till_done()
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "request_photo", {"device_id": device_id})
    assert err.value.translation_key == "bridge_offline"
    assert fake_bridge.commands == []


async def test_buttons(hass: HomeAssistant, fake_bridge: FakeBridge) -> None:
    """The two buttons request a photo from their camera."""
    for camera in ("front", "rear"):
        await hass.services.async_call(
            "button", "press", {"entity_id": f"button.van_1_request_{camera}_photo"}, blocking=True
        )
    assert [
        (imei, c["command"], c["file_type"], c["source"]) for imei, c in fake_bridge.commands
    ] == [
        (IMEI, "camreq", "photo", "front"),
        (IMEI, "camreq", "photo", "rear"),
    ]
    fake_bridge.answer = lambda c: {
        "id": c["id"],
        "ok": False,
        "command": "camreq",
        "error": "queue full",
    }
    with pytest.raises(HomeAssistantError, match="queue full"):
        await hass.services.async_call(
            "button", "press", {"entity_id": "button.van_1_request_front_photo"}, blocking=True
        )


async def test_button_of_an_offline_tracker(hass: HomeAssistant, fake_bridge: FakeBridge) -> None:
    """A parked van's button still works: the bridge queues the request until it is back."""
    fire(hass, f"{IMEI}/availability", "offline")
    await hass.async_block_till_done()
    assert hass.states.get("button.van_1_request_front_photo").state != STATE_UNAVAILABLE
    await hass.services.async_call(
        "button", "press", {"entity_id": "button.van_1_request_front_photo"}, blocking=True
    )
    assert [(imei, c["command"], c["source"]) for imei, c in fake_bridge.commands] == [
        (IMEI, "camreq", "front")
    ]


async def test_services_without_loaded_bridge(
    hass: HomeAssistant, setup_entry: MockConfigEntry
) -> None:
    """Actions stay registered after unload and explain that no vehicle is there."""
    await hass.config_entries.async_unload(setup_entry.entry_id)
    await hass.async_block_till_done()
    assert hass.services.has_service(DOMAIN, "request_photo")
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "request_photo", {"device_id": "abc"})
    assert err.value.translation_key == "no_vehicle"


def test_every_failing_status_has_a_translation() -> None:
    """Each status the contract names (but ok) maps to an error of strings.json."""
    strings = json.loads(STRINGS.read_text())
    assert set(_STATUS_ERRORS) == set(COMMAND_STATUSES) - {"ok"}
    assert set(_STATUS_ERRORS.values()) <= set(strings["exceptions"])
