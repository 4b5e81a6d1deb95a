"""Device triggers: crash detected, SOS, clip/photo received, camera state changed.

The SOS and media triggers listen to the integration's bus events filtered by device;
the camera-state trigger is a state trigger on the device's two camera-state sensors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from homeassistant.components.device_automation import (
    DEVICE_TRIGGER_BASE_SCHEMA,
    InvalidDeviceAutomationConfig,
)
from homeassistant.components.homeassistant.triggers import event as event_trigger
from homeassistant.components.homeassistant.triggers import state as state_trigger
from homeassistant.const import (
    ATTR_DEVICE_ID,
    CONF_DEVICE_ID,
    CONF_DOMAIN,
    CONF_ENTITY_ID,
    CONF_EVENT_DATA,
    CONF_PLATFORM,
    CONF_TYPE,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
)
from homeassistant.core import CALLBACK_TYPE, HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.trigger import TriggerActionType, TriggerInfo
from homeassistant.helpers.typing import ConfigType

from .const import DOMAIN, EVENT_MEDIA_RECEIVED, EVENT_SOS
from .contract import is_imei

if TYPE_CHECKING:
    # Home Assistant 2026.10+ installs probatio as `voluptuous` (API-compatible) and types
    # its schema parameters with it, so that is what `vol` is there; earlier releases
    # import the real voluptuous. mypy checks against the current release.
    import probatio as vol
else:
    import voluptuous as vol

CAMERA_STATE_CHANGED: Final = "camera_state_changed"
# trigger type -> (bus event, event data it must contain besides the device id)
EVENT_TRIGGERS: Final[dict[str, tuple[str, dict[str, str]]]] = {
    "crash_detected": (EVENT_SOS, {"trigger": "crash"}),
    "sos": (EVENT_SOS, {}),
    # Once per file: not again when a clip's browser MP4 is announced (variant "browser").
    "clip_received": (EVENT_MEDIA_RECEIVED, {"kind": "video", "variant": "original"}),
    "photo_received": (EVENT_MEDIA_RECEIVED, {"kind": "photo", "variant": "original"}),
}
TRIGGER_TYPES: Final = (*EVENT_TRIGGERS, CAMERA_STATE_CHANGED)

TRIGGER_SCHEMA = DEVICE_TRIGGER_BASE_SCHEMA.extend({vol.Required(CONF_TYPE): vol.In(TRIGGER_TYPES)})


def _is_vehicle(hass: HomeAssistant, device_id: str) -> bool:
    device = dr.async_get(hass).async_get(device_id)
    return device is not None and any(
        domain == DOMAIN and is_imei(ident) for domain, ident in device.identifiers
    )


def _camera_state_entities(hass: HomeAssistant, device_id: str) -> list[str]:
    return [
        entry.entity_id
        for entry in er.async_entries_for_device(er.async_get(hass), device_id)
        if entry.platform == DOMAIN
        and entry.unique_id.endswith(("_front_camera_state", "_rear_camera_state"))
    ]


async def async_get_triggers(hass: HomeAssistant, device_id: str) -> list[dict[str, Any]]:
    """Triggers of a vehicle (none for the bridge device)."""
    if not _is_vehicle(hass, device_id):
        return []
    return [
        {CONF_PLATFORM: "device", CONF_DOMAIN: DOMAIN, CONF_DEVICE_ID: device_id, CONF_TYPE: t}
        for t in TRIGGER_TYPES
    ]


async def async_attach_trigger(
    hass: HomeAssistant,
    config: ConfigType,
    action: TriggerActionType,
    trigger_info: TriggerInfo,
) -> CALLBACK_TYPE:
    """Attach the event or state trigger behind a device trigger."""
    device_id = config[CONF_DEVICE_ID]
    if config[CONF_TYPE] == CAMERA_STATE_CHANGED:
        if not (entity_ids := _camera_state_entities(hass, device_id)):
            raise InvalidDeviceAutomationConfig(
                translation_domain=DOMAIN,
                translation_key="no_camera_state_entities",
                translation_placeholders={"device_id": device_id},
            )
        not_states = [STATE_UNAVAILABLE, STATE_UNKNOWN]
        state_config = state_trigger.TRIGGER_STATE_SCHEMA(
            {
                CONF_PLATFORM: "state",
                CONF_ENTITY_ID: entity_ids,
                state_trigger.CONF_NOT_FROM: not_states,
                state_trigger.CONF_NOT_TO: not_states,
            }
        )
        return await state_trigger.async_attach_trigger(
            hass, state_config, action, trigger_info, platform_type="device"
        )
    event_type, event_data = EVENT_TRIGGERS[config[CONF_TYPE]]
    event_config = event_trigger.TRIGGER_SCHEMA(
        {
            CONF_PLATFORM: "event",
            event_trigger.CONF_EVENT_TYPE: event_type,
            CONF_EVENT_DATA: {ATTR_DEVICE_ID: device_id, **event_data},
        }
    )
    return await event_trigger.async_attach_trigger(
        hass, event_config, action, trigger_info, platform_type="device"
    )
