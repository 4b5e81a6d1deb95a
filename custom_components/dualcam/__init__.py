"""DualCam: dashcam photos, crash clips and tracker state from a DualCam bridge over MQTT."""

from __future__ import annotations

from typing import Any

from homeassistant.components import mqtt
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.device_registry import DeviceEntry
from homeassistant.helpers.storage import Store
from homeassistant.helpers.typing import ConfigType

from .bridge import DualCamBridge, DualCamConfigEntry
from .const import DOMAIN
from .media_index import STORE_VERSION, store_key
from .media_view import async_register_media_view
from .services import async_register_services

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.CAMERA,
    Platform.DEVICE_TRACKER,
    Platform.EVENT,
    Platform.SENSOR,
]

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions (and the media view when the HTTP server runs)."""
    async_register_services(hass)
    if "http" in hass.config.components:
        async_register_media_view(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: DualCamConfigEntry) -> bool:
    """Subscribe to the bridge's topics and set up the platforms."""
    if not await mqtt.async_wait_for_mqtt_client(hass):
        raise ConfigEntryNotReady(translation_domain=DOMAIN, translation_key="mqtt_not_ready")
    bridge = DualCamBridge(hass, entry)
    entry.runtime_data = bridge
    # Registered first so a failure half-way through start is undone too.
    entry.async_on_unload(bridge.async_stop)
    await bridge.async_start()
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    entry.async_on_unload(entry.add_update_listener(_async_options_updated))
    return True


async def async_unload_entry(hass: HomeAssistant, entry: DualCamConfigEntry) -> bool:
    """Unload the platforms; async_on_unload callbacks drop the subscriptions."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: DualCamConfigEntry) -> None:
    """Forget the bridge's media index (saved copies stay in the media folder)."""
    await Store[dict[str, Any]](hass, STORE_VERSION, store_key(entry.entry_id)).async_remove()


async def _async_options_updated(hass: HomeAssistant, entry: DualCamConfigEntry) -> None:
    """Options decide subscriptions and entities: apply them by reloading.

    Update listeners also run when HA records a discovery key or a new title on the
    entry (MQTT discovery of an already configured bridge does that), so only a real
    change of options reloads.
    """
    if dict(entry.options) != entry.runtime_data.options:
        hass.config_entries.async_schedule_reload(entry.entry_id)


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: DualCamConfigEntry, device: DeviceEntry
) -> bool:
    """Allow deleting a vehicle the bridge no longer reports (never the bridge itself)."""
    bridge = entry.runtime_data
    if bridge.device_identifier in device.identifiers:
        return False
    return not any(
        vehicle.device_id == device.id and vehicle.online is not None
        for vehicle in bridge.vehicles.values()
    )
