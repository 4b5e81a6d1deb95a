"""What ``/healthz`` and ``/metrics`` read from the running bridge, as a structural type.

``app.Bridge`` has these attributes; the HTTP service reads them live at each request and
never imports the app (it sits below it).
"""

from __future__ import annotations

from typing import Protocol

from ..avl.service import AvlService
from ..camera.disk import DiskMonitor
from ..camera.server import CameraServer
from ..config import Config
from ..mqtt import MqttPublisher


class BridgeParts(Protocol):
    """The parts of a running bridge that report their state."""

    @property
    def config(self) -> Config: ...

    @property
    def camera(self) -> CameraServer: ...

    @property
    def avl(self) -> AvlService: ...

    @property
    def mqtt(self) -> MqttPublisher | None: ...  # None: disabled, or not started yet

    @property
    def disk(self) -> DiskMonitor: ...
