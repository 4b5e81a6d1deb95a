"""Device registry look-ups that hold on every supported Home Assistant.

In 2026.10 device identifiers are unique per config entry only and
``DeviceRegistry.async_get_device`` is deprecated (it stops working in 2027.8); its
replacements (``async_get_device_by_identifier``, ...) do not exist in 2026.4, the oldest
supported release. Listing the entry's own devices works on both.
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr


def async_entry_device(
    hass: HomeAssistant, entry_id: str, identifier: tuple[str, str]
) -> dr.DeviceEntry | None:
    """The device of config entry ``entry_id`` that has ``identifier``, if any."""
    registry = dr.async_get(hass)
    return next(
        (
            device
            for device in dr.async_entries_for_config_entry(registry, entry_id)
            if identifier in device.identifiers
        ),
        None,
    )
