"""SOS event (AVL 499): server request, DIN1, DIN2 or crash, with position and clips."""

from __future__ import annotations

from typing import Any

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .bridge import DualCamConfigEntry
from .contract import SOS_TRIGGER_NAMES
from .entity import DualCamEntity, async_setup_vehicle_entities
from .models import Update

SOS = EventEntityDescription(
    key="sos", translation_key="sos", event_types=list(SOS_TRIGGER_NAMES.values())
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: DualCamConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the SOS event for every vehicle, now and when one appears."""
    async_setup_vehicle_entities(entry, async_add_entities, DualCamSosEvent, (SOS,))


class DualCamSosEvent(DualCamEntity, EventEntity):
    """Fires once per SOS record; clips that follow it are listed in its attributes."""

    _updates = frozenset({Update.SOS, Update.SOS_CLIP})
    _attr_extra_state_attributes: dict[str, Any] = {}

    @property
    def available(self) -> bool:
        """Always, while loaded: the last SOS stays the last SOS through an outage.

        An event entity's state is the time of its last event, so going unavailable and back
        (every bridge restart) is a state change that the logbook shows as "SOS detected an
        event", although nothing happened.
        """
        return True

    async def async_added_to_hass(self) -> None:
        """Remember the restored SOS too, so the bridge publishing it again is no new SOS."""
        await super().async_added_to_hass()
        if (last := await self.async_get_last_event_data()) is None:
            return
        attributes = last.last_event_attributes or {}
        value, when = attributes.get("value"), attributes.get("timestamp")
        timestamp = dt_util.parse_datetime(when) if isinstance(when, str) else None
        if isinstance(value, int) and timestamp is not None:
            self.vehicle.remember_sos((value, timestamp))

    def _update_from_vehicle(self, update: Update | None, camera: str | None) -> None:
        if (sos := self.vehicle.last_sos) is None or update is None:
            return
        if update is Update.SOS:
            self._trigger_event(
                sos.trigger,
                {
                    "value": sos.value,
                    "timestamp": sos.timestamp.isoformat() if sos.timestamp else None,
                    "position": sos.position,
                },
            )
        clips = [dict(c) for c in sos.clips]
        latest = clips[-1] if clips else {}
        # The clip comes minutes after the SOS: attributes change, the event is not re-fired.
        # No links here: attributes end up in the recorder, and signed links are secrets
        # (dualcam_media_received carries them); the media browser id finds the clip.
        self._attr_extra_state_attributes = {
            "clips": clips,
            "clip_media_content_id": latest.get("media_content_id"),
        }
