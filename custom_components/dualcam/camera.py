"""Front and rear camera: the latest photo the bridge retained for each."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from homeassistant.components.camera import Camera, CameraEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .bridge import DualCamConfigEntry
from .entity import DualCamEntity, async_setup_vehicle_entities
from .models import Update

# Shown before the first photo: without an image the camera proxy answers HTTP 500 and a
# dashboard shows a broken picture.
PLACEHOLDER = Path(__file__).parent / "placeholder.jpg"


@cache
def placeholder_image() -> bytes:
    """The placeholder JPEG (read once, in the executor: it is file I/O)."""
    return PLACEHOLDER.read_bytes()


@dataclass(frozen=True, kw_only=True)
class DualCamCameraDescription(CameraEntityDescription):
    """A camera and the DualCam lens it shows."""

    camera: str


CAMERAS: tuple[DualCamCameraDescription, ...] = (
    DualCamCameraDescription(key="front_camera", translation_key="front_camera", camera="front"),
    DualCamCameraDescription(key="rear_camera", translation_key="rear_camera", camera="rear"),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: DualCamConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add both cameras for every vehicle, now and when one appears."""
    async_setup_vehicle_entities(entry, async_add_entities, DualCamCamera, CAMERAS)


class DualCamCamera(DualCamEntity, Camera):
    """Shows the newest photo; no stream (DualCam only uploads files)."""

    entity_description: DualCamCameraDescription
    _updates = frozenset({Update.PHOTO})
    _attr_content_type = "image/jpeg"

    def _wants(self, update: Update, camera: str | None) -> bool:
        return update is Update.PHOTO and camera == self.entity_description.camera

    def _update_from_vehicle(self, update: Update | None, camera: str | None) -> None:
        if update is Update.PHOTO:
            # A new token changes entity_picture, which makes the frontend fetch the photo.
            self.async_update_token()

    async def async_camera_image(
        self, width: int | None = None, height: int | None = None
    ) -> bytes | None:
        """The latest photo as published (JPEG bytes), unscaled; a placeholder before one."""
        if photo := self.vehicle.photos.get(self.entity_description.camera):
            return photo.data
        return await self.hass.async_add_executor_job(placeholder_image)

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """When the shown photo arrived."""
        photo = self.vehicle.photos.get(self.entity_description.camera)
        return {"photo_received_at": photo.received_at.isoformat() if photo else None}
