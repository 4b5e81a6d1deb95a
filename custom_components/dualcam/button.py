"""Buttons "Request front photo" / "Request rear photo" (camreq)."""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .bridge import DualCamConfigEntry
from .commands import button_photo_request
from .const import DEFAULT_COMMAND_TIMEOUT
from .entity import DualCamEntity, async_setup_vehicle_entities


@dataclass(frozen=True, kw_only=True)
class DualCamButtonDescription(ButtonEntityDescription):
    """A photo request button and the camera it asks."""

    camera: str


BUTTONS: tuple[DualCamButtonDescription, ...] = (
    DualCamButtonDescription(
        key="request_front_photo", translation_key="request_front_photo", camera="front"
    ),
    DualCamButtonDescription(
        key="request_rear_photo", translation_key="request_rear_photo", camera="rear"
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: DualCamConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the buttons for every vehicle, now and when one appears."""
    async_setup_vehicle_entities(entry, async_add_entities, DualCamButton, BUTTONS)


class DualCamButton(DualCamEntity, ButtonEntity):
    """Asks the tracker for a photo; errors (timeout, refusal) reach the user."""

    entity_description: DualCamButtonDescription

    async def async_press(self) -> None:
        """Send camreq and wait for the bridge's result."""
        await self.bridge.async_send_command(
            self.vehicle,
            button_photo_request(self.entity_description.camera),
            DEFAULT_COMMAND_TIMEOUT,
        )
