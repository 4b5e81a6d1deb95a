"""Sensors: camera states (enum), transfer progress, last media received."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntityDescription,
)
from homeassistant.const import PERCENTAGE
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType

from .bridge import DualCamConfigEntry
from .contract import CAMERA_STATE_NAMES
from .entity import DualCamEntity, async_setup_vehicle_entities
from .models import Update, Vehicle


@dataclass(frozen=True, kw_only=True)
class DualCamSensorDescription(SensorEntityDescription):
    """A sensor, the updates it follows and how to read it from the vehicle."""

    updates: frozenset[Update]
    value_fn: Callable[[Vehicle], StateType | datetime]
    attrs_fn: Callable[[Vehicle], dict[str, Any] | None] = lambda _: None
    # Shown after a restart until the bridge says something new (the topic is not retained),
    # with these of its attributes.
    restore: bool = False
    restore_attributes: tuple[str, ...] = ()


def _camera_state(camera: str) -> Callable[[Vehicle], str | None]:
    def value(vehicle: Vehicle) -> str | None:
        status = vehicle.camera_states.get(camera)
        return status.state if status else None

    return value


def _transfer_attrs(vehicle: Vehicle) -> dict[str, Any] | None:
    if (t := vehicle.transfer) is None:
        return None
    return {
        "state": t.state,
        "camera": t.camera,
        "kind": t.kind,
        "file": t.file,
        "packets_done": t.packets_done,
        "packets_total": t.packets_total,
        "bytes_per_s": t.bytes_per_s,
    }


def _media_attrs(vehicle: Vehicle) -> dict[str, Any] | None:
    if (m := vehicle.last_media) is None:
        return None
    return {"camera": m.camera, "kind": m.kind, "trigger": m.trigger, "id": m.id}


SENSORS: tuple[DualCamSensorDescription, ...] = (
    *(
        DualCamSensorDescription(
            key=f"{camera}_camera_state",
            translation_key=f"{camera}_camera_state",
            device_class=SensorDeviceClass.ENUM,
            options=list(CAMERA_STATE_NAMES.values()),
            updates=frozenset({Update.CAMERA_STATE}),
            value_fn=_camera_state(camera),
        )
        for camera in ("front", "rear")
    ),
    DualCamSensorDescription(
        key="transfer_progress",
        translation_key="transfer_progress",
        native_unit_of_measurement=PERCENTAGE,
        suggested_display_precision=0,
        updates=frozenset({Update.TRANSFER}),
        value_fn=lambda v: v.transfer.percent if v.transfer else None,
        attrs_fn=_transfer_attrs,
    ),
    DualCamSensorDescription(
        key="last_media",
        translation_key="last_media",
        device_class=SensorDeviceClass.TIMESTAMP,
        updates=frozenset({Update.MEDIA}),
        value_fn=lambda v: v.last_media.received_at if v.last_media else None,
        attrs_fn=_media_attrs,
        restore=True,
        restore_attributes=("camera", "kind", "trigger", "id"),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: DualCamConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the sensors for every vehicle, now and when one appears."""
    async_setup_vehicle_entities(entry, async_add_entities, DualCamSensor, SENSORS)


class DualCamSensor(DualCamEntity, RestoreSensor):
    """A value read from the vehicle's state (or, until there is one, the restored value)."""

    entity_description: DualCamSensorDescription
    _restored_value: StateType | datetime = None
    _restored_attrs: dict[str, Any] | None = None

    async def async_added_to_hass(self) -> None:
        """Restore the last value where the description asks for it."""
        await super().async_added_to_hass()
        if not self.entity_description.restore:
            return
        if (data := await self.async_get_last_sensor_data()) is not None:
            self._restored_value = data.native_value  # type: ignore[assignment]
        if (state := await self.async_get_last_state()) is not None:
            # Only the attributes this sensor sets itself, not HA's (friendly_name, ...).
            keys = self.entity_description.restore_attributes
            self._restored_attrs = {k: state.attributes.get(k) for k in keys}

    def _wants(self, update: Update, camera: str | None) -> bool:
        return update in self.entity_description.updates

    @property
    def native_value(self) -> StateType | datetime:
        """Current value."""
        value = self.entity_description.value_fn(self.vehicle)
        return self._restored_value if value is None else value

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Details of the value, where there are any."""
        if (attrs := self.entity_description.attrs_fn(self.vehicle)) is not None:
            return attrs
        return self._restored_attrs if self._restored_value is not None else None
