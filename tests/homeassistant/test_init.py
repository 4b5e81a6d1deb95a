"""Setup, unload (every subscription and waiter undone) and reload of a bridge entry."""

from __future__ import annotations

import json

from conftest import BRIDGE_INFO, IMEI, PREFIX, fire, get_device, publish_bridge, publish_vehicle
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_mqtt_message

from custom_components.dualcam import async_remove_config_entry_device
from custom_components.dualcam.bridge import DualCamBridge
from custom_components.dualcam.command_client import CommandClient
from custom_components.dualcam.const import DOMAIN


def our_subscriptions(hass: HomeAssistant) -> list[str]:
    """Topics the integration (not HA's mqtt discovery) is subscribed to."""
    client = hass.data["mqtt"].client
    # The test harness wraps HA's MQTT client in a MagicMock; read the real one.
    client = getattr(client, "_mock_wraps", None) or client
    return sorted(
        s.topic
        for s in client.subscriptions
        if isinstance(getattr(s.job.target, "__self__", None), DualCamBridge | CommandClient)
    )


async def test_setup_subscribes_to_the_contract(
    hass: HomeAssistant, setup_entry: MockConfigEntry
) -> None:
    """Setup loads the entry with its bridge as runtime_data and every contract topic."""
    assert setup_entry.state is ConfigEntryState.LOADED
    assert isinstance(setup_entry.runtime_data, DualCamBridge)
    assert our_subscriptions(hass) == sorted(
        f"{PREFIX}/{t}"
        for t in (
            "bridge/status",
            "bridge/info",
            "+/info",
            "+/availability",
            "+/camera/+/state",
            "+/camera/+/photo",
            "+/media",
            "+/transfer",
            "+/sos",
            "+/position",
            "+/command/result",
        )
    )


async def test_unload_undoes_everything(hass: HomeAssistant, loaded: MockConfigEntry) -> None:
    """After unload: no subscription, no listener, entities unavailable, messages ignored."""
    bridge = loaded.runtime_data
    vehicle = bridge.vehicles[IMEI]
    assert await hass.config_entries.async_unload(loaded.entry_id)
    await hass.async_block_till_done()
    assert loaded.state is ConfigEntryState.NOT_LOADED
    assert our_subscriptions(hass) == []
    assert vehicle._listeners == []
    assert bridge._added_listeners == []
    assert hass.states.get("sensor.van_1_front_camera_state").state == STATE_UNAVAILABLE
    fire(hass, f"{IMEI}/camera/front/state", {"value": 4})
    await hass.async_block_till_done()
    assert hass.states.get("sensor.van_1_front_camera_state").state == STATE_UNAVAILABLE


async def test_reload(hass: HomeAssistant, loaded: MockConfigEntry) -> None:
    """A reload subscribes afresh and reuses the same entities (no duplicates)."""
    registry = er.async_get(hass)
    entities_before = {e.entity_id for e in registry.entities.values() if e.platform == DOMAIN}
    assert await hass.config_entries.async_reload(loaded.entry_id)
    await hass.async_block_till_done()
    assert loaded.state is ConfigEntryState.LOADED
    # Retained messages are delivered again by the broker after the new subscribe.
    publish_bridge(hass, retain=False)
    publish_vehicle(hass, retain=False)
    await hass.async_block_till_done()
    assert len(our_subscriptions(hass)) == 11
    entities_after = {e.entity_id for e in registry.entities.values() if e.platform == DOMAIN}
    assert entities_after == entities_before
    assert hass.states.get("sensor.van_1_front_camera_state").state == "no_card"


async def test_rediscovery_does_not_reload(hass: HomeAssistant, loaded: MockConfigEntry) -> None:
    """HA records the discovery key on the entry; that must not reload it."""
    runtime = loaded.runtime_data
    async_fire_mqtt_message(hass, f"{PREFIX}/bridge/info", json.dumps(BRIDGE_INFO), retain=True)
    await hass.async_block_till_done()
    assert loaded.runtime_data is runtime
    assert loaded.state is ConfigEntryState.LOADED


async def test_setup_retries_without_mqtt(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> None:
    """No MQTT client: not ready, retried later."""
    await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.SETUP_RETRY


async def test_remove_device(hass: HomeAssistant, loaded: MockConfigEntry) -> None:
    """A reported vehicle and the bridge device cannot be deleted; a stale vehicle can."""
    registry = dr.async_get(hass)
    vehicle = get_device(hass, IMEI)
    bridge = get_device(hass, f"bridge/{PREFIX}")
    stale = registry.async_get_or_create(
        config_entry_id=loaded.entry_id, identifiers={(DOMAIN, "111111111111111")}
    )
    assert not await async_remove_config_entry_device(hass, loaded, vehicle)
    assert not await async_remove_config_entry_device(hass, loaded, bridge)
    assert await async_remove_config_entry_device(hass, loaded, stale)
