"""The bridge's YAML configuration: voluptuous validates it into frozen dataclasses.

Every key has a default, so no file at all is a valid configuration. Each key is written once,
as a dataclass field with its default and its check (:mod:`.config_fields`); the servers take
these dataclasses as they are. An error names the key path (``camera.port``) and what was
expected. ``config/bridge.example.yaml`` documents every key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import voluptuous as vol
import yaml

from .config_fields import ConfigError, check, parse, section
from .contract import is_imei
from .mqtt.config import MqttConfig
from .protocol.avl_connection import DEFAULT_MAX_FRAME_SIZE

__all__ = [
    "AvlConfig",
    "CameraConfig",
    "Config",
    "ConfigError",
    "DeviceConfig",
    "MediaConfig",
    "load",
    "validate",
]

LogLevel = Literal["debug", "info", "warning", "error"]

PORT = vol.All(int, vol.Range(min=0, max=65535))
CONNECTIONS = vol.All(int, vol.Range(min=1))
LOG_LEVEL = vol.In(
    ["debug", "info", "warning", "error"], msg="must be debug, info, warning or error"
)


def _imei(value: Any) -> str:
    # YAML reads an unquoted IMEI as an int; accept both spellings.
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not is_imei(text):
        raise vol.Invalid("must be a 15-digit IMEI")
    return str(text)


def _positive(kind: type = float) -> vol.All:
    return vol.All(vol.Coerce(kind), vol.Range(min=0, min_included=False))


def _non_negative(kind: type = float) -> vol.All:
    return vol.All(vol.Coerce(kind), vol.Range(min=0))


@dataclass(frozen=True, slots=True)
class DeviceConfig:
    """One entry of ``devices:``: a known device and its name."""

    imei: str = field(metadata=check(_imei))
    name: str | None = field(default=None, metadata=check(vol.Any(None, str)))


@dataclass(frozen=True, slots=True)
class CameraConfig:
    """``camera:``: the DualCam file-transfer server."""

    host: str = field(default="0.0.0.0", metadata=check(str))
    port: int = field(default=5028, metadata=check(PORT))
    idle_timeout: float = field(default=60.0, metadata=check(_positive()))
    max_connections: int = field(default=2000, metadata=check(CONNECTIONS))
    max_file_mb: float = field(default=64.0, metadata=check(_positive()))
    max_retries: int = field(default=5, metadata=check(vol.All(int, vol.Range(min=0, max=1000))))
    request_metadata: bool = field(default=True, metadata=check(bool))
    metadata_timeout: float = field(default=5.0, metadata=check(_positive()))


@dataclass(frozen=True, slots=True)
class MediaConfig:
    """``media:``: retention and MP4 remuxing of the stored files."""

    max_age_days: float = field(default=30.0, metadata=check(_non_negative()))
    max_total_gb: float = field(default=20.0, metadata=check(_non_negative()))
    remux_mp4: bool = field(default=True, metadata=check(bool))
    ffmpeg: str = field(default="ffmpeg", metadata=check(str))
    retention_interval: float = field(default=3600.0, metadata=check(_positive()))


@dataclass(frozen=True, slots=True)
class AvlConfig:
    """``avl:``: the tracker's AVL server, its database and its commands."""

    enabled: bool = field(default=True, metadata=check(bool))
    host: str = field(default="0.0.0.0", metadata=check(str))
    port: int = field(default=5027, metadata=check(PORT))
    # Trackers close an idle link themselves after ~300 s.
    idle_timeout: float = field(default=600.0, metadata=check(_positive()))
    max_connections: int = field(default=2000, metadata=check(CONNECTIONS))
    command_timeout: float = field(default=30.0, metadata=check(_positive()))
    command_ttl: float = field(default=300.0, metadata=check(_positive()))
    retention_days: float = field(default=30.0, metadata=check(_non_negative()))
    sos_clip_window: float = field(default=120.0, metadata=check(_positive()))
    # Not a YAML key: the codec's bound on one frame (tests lower it).
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE


@dataclass(frozen=True, slots=True)
class Config:
    """The whole validated configuration."""

    data_dir: Path = field(
        default=Path("./dualcam-data"), metadata=check(vol.All(str, vol.Coerce(Path)))
    )
    log_level: LogLevel = field(default="info", metadata=check(LOG_LEVEL))
    allow_unknown_devices: bool = field(default=True, metadata=check(bool))
    devices: tuple[DeviceConfig, ...] = field(
        default=(), metadata=check(vol.All([section(DeviceConfig)], vol.Coerce(tuple)))
    )
    camera: CameraConfig = field(
        default_factory=CameraConfig, metadata=check(section(CameraConfig))
    )
    media: MediaConfig = field(default_factory=MediaConfig, metadata=check(section(MediaConfig)))
    avl: AvlConfig = field(default_factory=AvlConfig, metadata=check(section(AvlConfig)))
    mqtt: MqttConfig = field(default_factory=MqttConfig, metadata=check(section(MqttConfig)))


def validate(data: dict[str, Any] | None) -> Config:
    """Validate a config mapping; raises ConfigError naming the bad key."""
    return parse(Config, data or {})


def load(path: str | Path | None) -> Config:
    """Read and validate a YAML file (None = all defaults)."""
    if path is None:
        return validate({})
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys")
    return validate(data)
