"""The dualcam.* actions: resolve the targeted vehicles, build the command, await results.

Registered once in async_setup (not per entry) so automations always validate; a call
while no bridge is loaded gets a clear error instead of "action not found".
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from homeassistant.const import ATTR_AREA_ID, ATTR_DEVICE_ID, ATTR_ENTITY_ID, ENTITY_MATCH_ALL
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er

from .bridge import DualCamBridge
from .commands import (
    camera_settings,
    check_range,
    photo_request,
    video_request,
)
from .const import DEFAULT_COMMAND_TIMEOUT, DOMAIN, MAX_COMMAND_TIMEOUT
from .contract import CAMERA_SETTINGS
from .models import Vehicle

if TYPE_CHECKING:
    # Home Assistant 2026.10+ installs probatio as `voluptuous` (API-compatible) and types
    # its schema parameters with it, so that is what `vol` is there; earlier releases
    # import the real voluptuous. mypy checks against the current release.
    import probatio as vol
else:
    import voluptuous as vol

SERVICE_REQUEST_PHOTO = "request_photo"
SERVICE_REQUEST_VIDEO = "request_video"
SERVICE_SET_CAMERA_SETTINGS = "set_camera_settings"

ATTR_SOURCE = "source"
ATTR_START = "start"
ATTR_SECONDS_BEFORE = "seconds_before"
ATTR_DURATION = "duration"
ATTR_TIMEOUT = "timeout"

# Types only: ranges and choices are checked in the handlers, where a failure becomes a
# translated ServiceValidationError rather than a bare voluptuous message.
_BASE = {
    **cv.ENTITY_SERVICE_FIELDS,
    vol.Optional(ATTR_TIMEOUT, default=DEFAULT_COMMAND_TIMEOUT): vol.Coerce(int),
}
PHOTO_SCHEMA = vol.Schema({**_BASE, vol.Optional(ATTR_SOURCE, default="both"): cv.string})
VIDEO_SCHEMA = vol.Schema(
    {
        **_BASE,
        vol.Optional(ATTR_SOURCE, default="both"): cv.string,
        vol.Required(ATTR_DURATION): vol.Coerce(int),
        vol.Optional(ATTR_START): cv.datetime,
        vol.Optional(ATTR_SECONDS_BEFORE): vol.Coerce(int),
    }
)
SETTINGS_SCHEMA = vol.Schema(
    {
        **_BASE,
        **{
            vol.Optional(s.name): {"bool": cv.boolean, "choice": cv.string}.get(
                s.type, vol.Coerce(int)
            )
            for s in CAMERA_SETTINGS
        },
    }
)


def _as_list(value: Any) -> list[str]:
    if value is None or value == "none":
        return []
    return [value] if isinstance(value, str) else list(value)


@callback
def _targeted_vehicles(
    hass: HomeAssistant, call: ServiceCall
) -> list[tuple[DualCamBridge, Vehicle]]:
    """The loaded DualCam vehicles behind the call's devices, entities and areas."""
    bridges: list[DualCamBridge] = [
        entry.runtime_data for entry in hass.config_entries.async_loaded_entries(DOMAIN)
    ]
    entity_ids = call.data.get(ATTR_ENTITY_ID)
    if entity_ids == ENTITY_MATCH_ALL:
        return [(b, v) for b in bridges for v in b.vehicles.values() if v.device_id]
    dev_reg, ent_reg = dr.async_get(hass), er.async_get(hass)
    device_ids = set(_as_list(call.data.get(ATTR_DEVICE_ID)))
    for entity_id in _as_list(entity_ids):
        if (entity := ent_reg.async_get(entity_id)) and entity.device_id:
            device_ids.add(entity.device_id)
    for area_id in _as_list(call.data.get(ATTR_AREA_ID)):
        device_ids.update(d.id for d in dr.async_entries_for_area(dev_reg, area_id))
        device_ids.update(
            e.device_id for e in er.async_entries_for_area(ent_reg, area_id) if e.device_id
        )
    targets: list[tuple[DualCamBridge, Vehicle]] = []
    for device_id in sorted(device_ids):
        for bridge in bridges:
            if vehicle := bridge.vehicle_by_device_id(device_id):
                targets.append((bridge, vehicle))
                break
    if not targets:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="no_vehicle")
    return targets


async def _async_send(
    hass: HomeAssistant, call: ServiceCall, build: Callable[[], dict[str, Any]]
) -> ServiceResponse:
    """Validate, send to every targeted vehicle at once, return their results."""
    timeout = check_range(ATTR_TIMEOUT, call.data[ATTR_TIMEOUT], (1, MAX_COMMAND_TIMEOUT))
    command = build()
    targets = _targeted_vehicles(hass, call)
    results = await asyncio.gather(
        *(bridge.async_send_command(vehicle, command, timeout) for bridge, vehicle in targets),
        return_exceptions=True,
    )
    replies: list[dict[str, Any]] = []
    for result in results:
        if isinstance(result, BaseException):
            raise result
        replies.append(result)
    if not call.return_response:
        return None
    return {
        "results": [
            {
                "device_id": vehicle.device_id,
                "imei": vehicle.imei,
                "name": vehicle.display_name,
                **result,
            }
            for (_, vehicle), result in zip(targets, replies, strict=True)
        ]
    }


@callback
def async_register_services(hass: HomeAssistant) -> None:
    """Register the dualcam.* actions."""

    async def request_photo(call: ServiceCall) -> ServiceResponse:
        return await _async_send(hass, call, lambda: photo_request(call.data[ATTR_SOURCE]))

    async def request_video(call: ServiceCall) -> ServiceResponse:
        return await _async_send(
            hass,
            call,
            lambda: video_request(
                call.data[ATTR_SOURCE],
                call.data[ATTR_DURATION],
                start=call.data.get(ATTR_START),
                seconds_before=call.data.get(ATTR_SECONDS_BEFORE),
            ),
        )

    async def set_camera_settings(call: ServiceCall) -> ServiceResponse:
        return await _async_send(hass, call, lambda: camera_settings(dict(call.data)))

    for name, handler, schema in (
        (SERVICE_REQUEST_PHOTO, request_photo, PHOTO_SCHEMA),
        (SERVICE_REQUEST_VIDEO, request_video, VIDEO_SCHEMA),
        (SERVICE_SET_CAMERA_SETTINGS, set_camera_settings, SETTINGS_SCHEMA),
    ):
        hass.services.async_register(
            DOMAIN, name, handler, schema=schema, supports_response=SupportsResponse.OPTIONAL
        )
