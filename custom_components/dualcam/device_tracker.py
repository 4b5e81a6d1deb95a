"""GPS position of the vehicle from `P/<imei>/position`."""

from __future__ import annotations

from typing import Any

from homeassistant.components.device_tracker import TrackerEntity
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .bridge import DualCamConfigEntry
from .entity import DualCamEntity, async_setup_vehicle_entities
from .models import Update

LOCATION = EntityDescription(key="location", translation_key="location", name=None)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: DualCamConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the tracker for every vehicle, now and when one appears."""
    async_setup_vehicle_entities(entry, async_add_entities, DualCamTracker, (LOCATION,))


class DualCamTracker(DualCamEntity, TrackerEntity):
    """Where the vehicle is; named after the vehicle itself."""

    _updates = frozenset({Update.POSITION})
    # The vehicle's location is its main feature, not a diagnostic.
    # (TrackerEntity narrows the attribute's type to EntityCategory; None is what Entity allows.)
    _attr_entity_category = None  # type: ignore[assignment]

    def _update_from_vehicle(self, update: Update | None, camera: str | None) -> None:
        position = self.vehicle.position
        self._attr_latitude = position.latitude if position else None
        self._attr_longitude = position.longitude if position else None

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Altitude, heading, speed and fix quality of the newest record."""
        if (p := self.vehicle.position) is None:
            return None
        return {
            "altitude": p.altitude,
            "heading": p.angle,
            "speed": p.speed,
            "satellites": p.satellites,
            "gps_timestamp": p.timestamp.isoformat() if p.timestamp else None,
        }
