"""Which devices may connect, and their names (shared by the camera and AVL servers)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


class DeviceAllowList:
    """The configured devices and the allow-unknown policy."""

    def __init__(self, devices: Iterable[Mapping[str, Any]] = (), allow_unknown: bool = True):
        self._names: dict[str, str | None] = {d["imei"]: d.get("name") for d in devices}
        self.allow_unknown = allow_unknown

    def is_allowed(self, imei: str) -> bool:
        """May this IMEI connect?"""
        return self.allow_unknown or imei in self._names

    def name(self, imei: str) -> str | None:
        """The configured name of a device, if any."""
        return self._names.get(imei)

    @property
    def known(self) -> list[str]:
        return list(self._names)
