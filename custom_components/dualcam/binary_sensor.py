"""Tracker connection: whether the tracker's AVL link to the bridge is up."""

from __future__ import annotations

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .bridge import DualCamConfigEntry
from .entity import DualCamEntity, async_setup_vehicle_entities

CONNECTION = BinarySensorEntityDescription(
    key="connection",
    translation_key="connection",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
    entity_category=EntityCategory.DIAGNOSTIC,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: DualCamConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the connection sensor for every vehicle, now and when one appears."""
    async_setup_vehicle_entities(entry, async_add_entities, DualCamConnection, (CONNECTION,))


class DualCamConnection(DualCamEntity, BinarySensorEntity):
    """On while the bridge reports the tracker online."""

    @property
    def is_on(self) -> bool | None:
        """Tracker link up."""
        return self.vehicle.online
