"""Base entity: device link, unique id, availability and updates from the vehicle."""

from __future__ import annotations

from collections.abc import Sequence

from homeassistant.core import callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .bridge import DualCamBridge, DualCamConfigEntry
from .const import DOMAIN
from .models import Update, Vehicle


def async_setup_vehicle_entities(
    entry: DualCamConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    entity_class: type[DualCamEntity],
    descriptions: Sequence[EntityDescription],
) -> None:
    """Add one entity per description for every vehicle, now and when one appears."""
    bridge = entry.runtime_data

    @callback
    def add(vehicle: Vehicle) -> None:
        async_add_entities(entity_class(bridge, vehicle, d) for d in descriptions)

    entry.async_on_unload(bridge.async_add_vehicle_listener(add))


class DualCamEntity(Entity):
    """An entity of one vehicle, pushed by the bridge's MQTT messages."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    # Which vehicle updates change this entity; availability changes always do.
    _updates: frozenset[Update] = frozenset()

    def __init__(
        self, bridge: DualCamBridge, vehicle: Vehicle, description: EntityDescription
    ) -> None:
        """Bind to a vehicle; the device already exists (the bridge created it)."""
        super().__init__()
        self.bridge = bridge
        self.vehicle = vehicle
        self.entity_description = description
        self._attr_unique_id = f"{vehicle.imei}_{description.key}"
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, vehicle.imei)})
        self._update_from_vehicle(None, None)

    @property
    def available(self) -> bool:
        """Available while the bridge is online and the broker connected.

        A tracker that goes offline (a parked van) changes nothing here: its last photo,
        position and media stay valid, and the bridge queues commands for it until it is
        back. The connection sensor shows the tracker's link.
        """
        return self.bridge.available

    async def async_added_to_hass(self) -> None:
        """Follow the vehicle until removed."""
        await super().async_added_to_hass()
        self.async_on_remove(self.vehicle.async_add_listener(self._handle_update))

    @callback
    def _handle_update(self, update: Update, camera: str | None) -> None:
        if update is Update.AVAILABILITY:
            self.async_write_ha_state()
        elif self._wants(update, camera):
            self._update_from_vehicle(update, camera)
            self.async_write_ha_state()

    def _wants(self, update: Update, camera: str | None) -> bool:
        """Whether an update concerns this entity (override to filter by camera)."""
        return update in self._updates

    def _update_from_vehicle(self, update: Update | None, camera: str | None) -> None:
        """Refresh cached attributes; update is None on creation."""
