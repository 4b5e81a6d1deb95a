"""Diagnostics for a bridge and for one vehicle, with IMEIs, locations and links redacted."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant
from homeassistant.helpers.device_registry import DeviceEntry

from .bridge import DualCamBridge, DualCamConfigEntry
from .const import DOMAIN
from .models import Vehicle

REDACTED = "**REDACTED**"
# Keys that identify a tracker or a person's whereabouts, and links that open media.
TO_REDACT = {
    "imei",
    "serial_number",
    "devices",
    "vehicles",
    "latitude",
    "longitude",
    "position",
    "path",
    "bridge_path",
    "local_path",
    # signed links (the bridge's and Home Assistant's): secrets until they expire
    "url",
    "signed_url",
    "poster_url",
    "thumbnail_url",
    "browser_url",
    "links",
}


def _scrub(value: Any, secrets: set[str]) -> Any:
    """Redact known IMEIs wherever they hide (topics, file names, free text)."""
    if isinstance(value, dict):
        return {_scrub(k, secrets): _scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_scrub(v, secrets) for v in value]
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
    return value


def _vehicle(vehicle: Vehicle) -> dict[str, Any]:
    return {
        "imei": vehicle.imei,
        "name": vehicle.name,
        "info": vehicle.info,
        "online": vehicle.online,
        "camera_states": {k: asdict(v) for k, v in vehicle.camera_states.items()},
        "photos": {
            k: {"bytes": len(p.data), "received_at": p.received_at}
            for k, p in vehicle.photos.items()
        },
        "transfer": asdict(vehicle.transfer) if vehicle.transfer else None,
        "position": asdict(vehicle.position) if vehicle.position else None,
        "last_media": asdict(vehicle.last_media) if vehicle.last_media else None,
        "last_sos": asdict(vehicle.last_sos) if vehicle.last_sos else None,
    }


def _secrets(bridge: DualCamBridge) -> set[str]:
    return set(bridge.vehicles) | bridge.seen_imeis


def _redact(data: dict[str, Any], bridge: DualCamBridge) -> dict[str, Any]:
    redacted: dict[str, Any] = _scrub(async_redact_data(data, TO_REDACT), _secrets(bridge))
    return redacted


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: DualCamConfigEntry
) -> dict[str, Any]:
    """The entry, the bridge's state and every vehicle's state."""
    bridge = entry.runtime_data
    data = {
        "entry": {"title": entry.title, "data": dict(entry.data), "options": dict(entry.options)},
        "bridge": {
            "online": bridge.online,
            "mqtt_connected": bridge.mqtt_connected,
            "info": bridge.info,
            "seen_vehicles": len(bridge.seen_imeis),
            "media_root": str(bridge.saver.root),
            "store_media": bridge.saver.enabled,
            "media_items": len(bridge.media_index),
        },
        "vehicles": [_vehicle(v) for v in bridge.vehicles.values()],
    }
    # "vehicles" as a key is the option's IMEI list; the state list is renamed to survive.
    data["vehicle_states"] = data.pop("vehicles")
    return _redact(data, bridge)


async def async_get_device_diagnostics(
    hass: HomeAssistant, entry: DualCamConfigEntry, device: DeviceEntry
) -> dict[str, Any]:
    """One vehicle's state (or the bridge's, for the bridge device)."""
    bridge = entry.runtime_data
    imei = next((i for d, i in device.identifiers if d == DOMAIN), None)
    vehicle = bridge.vehicles.get(imei or "")
    data: dict[str, Any] = {
        "device": {"name": device.name, "model": device.model, "sw_version": device.sw_version},
        "vehicle": _vehicle(vehicle) if vehicle else None,
    }
    return _redact(data, bridge)
