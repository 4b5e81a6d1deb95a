"""Restarts of the bridge and of Home Assistant: nothing is reported twice, nothing is lost."""

from __future__ import annotations

from typing import Any

from conftest import IMEI, fire, publish_bridge, publish_vehicle
from homeassistant.const import EVENT_STATE_CHANGED, STATE_UNKNOWN
from homeassistant.core import HomeAssistant, State
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    mock_restore_cache_with_extra_data,
)

from custom_components.dualcam.const import EVENT_SOS

SOS_ENTITY = "event.van_1_sos"
CRASH = {
    "value": 3,
    "trigger": "crash",
    "timestamp": "2025-05-01T10:05:00Z",
    "position": {"latitude": 54.6, "longitude": 25.2},
}
# A media event whose payload never comes (pairing is not what these tests are about).
MEDIA = {
    "id": 42,
    "imei": IMEI,
    "camera": "front",
    "kind": "photo",
    "mime": "image/jpeg",
    "size": 10,
    "sha256": "0" * 64,
    "received_at": "2025-05-01T10:02:03Z",
    "path": None,
    "url": None,
    "duration_s": None,
    "trigger": "server_request",
}


def sos_changes(events: list[Any]) -> list[State]:
    """The new states of the SOS event entity among captured state_changed events."""
    return [e.data["new_state"] for e in events if e.data["entity_id"] == SOS_ENTITY]


async def test_bridge_restart_reports_no_sos(hass: HomeAssistant, loaded: MockConfigEntry) -> None:
    """One SOS, then a bridge restart: the bridge goes offline, comes back, its retained topics
    arrive again and its outbox sends the delivered SOS once more; a stale SOS is retained on
    the broker too. Nothing of that is a new SOS, in the bus, the entity or the logbook."""
    sos_events = async_capture_events(hass, EVENT_SOS)
    fire(hass, f"{IMEI}/sos", CRASH)
    await hass.async_block_till_done()
    assert len(sos_events) == 1
    fired = hass.states.get(SOS_ENTITY)
    assert fired.state != STATE_UNKNOWN

    changes = async_capture_events(hass, EVENT_STATE_CHANGED)
    fire(hass, "bridge/status", "offline")
    await hass.async_block_till_done()
    publish_bridge(hass)
    publish_vehicle(hass)
    fire(hass, f"{IMEI}/sos", CRASH)  # the outbox publishes at least once
    fire(hass, f"{IMEI}/sos", {**CRASH, "timestamp": "2025-04-01T08:00:00Z"}, retain=True)
    await hass.async_block_till_done()

    assert len(sos_events) == 1
    # No state change at all: going unavailable and back is what the logbook shows as
    # "SOS detected an event".
    assert sos_changes(changes) == []
    assert hass.states.get(SOS_ENTITY).state == fired.state

    # A new SOS after the restart still fires.
    fire(hass, f"{IMEI}/sos", {**CRASH, "timestamp": "2025-05-01T11:00:00Z"})
    await hass.async_block_till_done()
    assert len(sos_events) == 2
    assert len(sos_changes(changes)) == 1


async def test_home_assistant_restart_reports_no_old_sos(
    hass: HomeAssistant, config_entry: MockConfigEntry, mqtt_mock: Any
) -> None:
    """The SOS the event entity restored is no new SOS when the bridge publishes it again."""
    attributes = {"value": 3, "timestamp": "2025-05-01T10:05:00+00:00", "position": None}
    mock_restore_cache_with_extra_data(
        hass,
        [
            (
                State(SOS_ENTITY, "2025-05-01T10:05:01.000+00:00", {"event_type": "crash"}),
                {"last_event_type": "crash", "last_event_attributes": attributes},
            )
        ],
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    publish_bridge(hass)
    publish_vehicle(hass)
    await hass.async_block_till_done()
    assert hass.states.get(SOS_ENTITY).state == "2025-05-01T10:05:01.000+00:00"

    sos_events = async_capture_events(hass, EVENT_SOS)
    fire(hass, f"{IMEI}/sos", CRASH)
    await hass.async_block_till_done()
    assert sos_events == []
    assert hass.states.get(SOS_ENTITY).state == "2025-05-01T10:05:01.000+00:00"


async def test_last_media_received_survives_a_restart(
    hass: HomeAssistant, config_entry: MockConfigEntry, mqtt_mock: Any
) -> None:
    """The media topic is not retained: the sensor restores its value until a new file."""
    entity_id = "sensor.van_1_last_media_received"
    restored = {"camera": "rear", "kind": "video", "trigger": "crash", "id": "41"}
    mock_restore_cache_with_extra_data(
        hass,
        [
            (
                State(entity_id, "2025-05-01T09:00:00+00:00", restored),
                {
                    "native_value": {
                        "__type": "<class 'datetime.datetime'>",
                        "isoformat": "2025-05-01T09:00:00+00:00",
                    },
                    "native_unit_of_measurement": None,
                },
            )
        ],
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    publish_bridge(hass)
    publish_vehicle(hass)
    await hass.async_block_till_done()
    state = hass.states.get(entity_id)
    assert state.state == "2025-05-01T09:00:00+00:00"
    assert {k: state.attributes.get(k) for k in restored} == restored

    fire(hass, f"{IMEI}/media", MEDIA)
    await hass.async_block_till_done()
    state = hass.states.get(entity_id)
    assert state.state == "2025-05-01T10:02:03+00:00"
    assert state.attributes["id"] == "42" and state.attributes["kind"] == "photo"
