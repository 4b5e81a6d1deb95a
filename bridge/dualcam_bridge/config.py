"""The bridge's YAML configuration, validated with voluptuous.

Every key has a default, so no file at all is a valid configuration. An error names the key
path (``camera.port``) and what was expected. ``config/bridge.example.yaml`` documents every key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import voluptuous as vol
import yaml

from .mqtt.config import MQTT_SCHEMA

IMEI = vol.All(str, vol.Match(r"^\d{15}$", msg="must be a 15-digit IMEI"))
PORT = vol.All(int, vol.Range(min=0, max=65535))


def _imei(value: Any) -> str:
    # YAML reads an unquoted IMEI as an int; accept both spellings.
    return IMEI(str(value) if isinstance(value, int) else value)


def _positive(kind: type = float) -> vol.All:
    return vol.All(vol.Coerce(kind), vol.Range(min=0, min_included=False))


def _non_negative(kind: type = float) -> vol.All:
    return vol.All(vol.Coerce(kind), vol.Range(min=0))


DEVICE = vol.Schema({vol.Required("imei"): _imei, vol.Optional("name"): str})

CAMERA = vol.Schema(
    {
        vol.Optional("host", default="0.0.0.0"): str,
        vol.Optional("port", default=5028): PORT,
        vol.Optional("idle_timeout", default=60.0): _positive(),
        vol.Optional("max_connections", default=2000): vol.All(int, vol.Range(min=1)),
        vol.Optional("max_file_mb", default=64): _positive(),
        vol.Optional("max_retries", default=5): vol.All(int, vol.Range(min=0, max=1000)),
        vol.Optional("request_metadata", default=True): bool,
        vol.Optional("metadata_timeout", default=5.0): _positive(),
    }
)

MEDIA = vol.Schema(
    {
        vol.Optional("max_age_days", default=30): _non_negative(),
        vol.Optional("max_total_gb", default=20): _non_negative(),
        vol.Optional("remux_mp4", default=True): bool,
        vol.Optional("ffmpeg", default="ffmpeg"): str,
        vol.Optional("retention_interval", default=3600): _positive(),
    }
)

AVL = vol.Schema(
    {
        vol.Optional("enabled", default=True): bool,
        vol.Optional("host", default="0.0.0.0"): str,
        vol.Optional("port", default=5027): PORT,
        vol.Optional("idle_timeout", default=600.0): _positive(),
        vol.Optional("max_connections", default=2000): vol.All(int, vol.Range(min=1)),
        vol.Optional("command_timeout", default=30.0): _positive(),
        vol.Optional("command_ttl", default=300.0): _positive(),
        vol.Optional("retention_days", default=30): _non_negative(),
        vol.Optional("sos_clip_window", default=120.0): _positive(),
    }
)

SCHEMA = vol.Schema(
    {
        vol.Optional("data_dir", default="./dualcam-data"): str,
        vol.Optional("log_level", default="info"): vol.In(
            ["debug", "info", "warning", "error"], msg="must be debug, info, warning or error"
        ),
        vol.Optional("allow_unknown_devices", default=True): bool,
        vol.Optional("devices", default=list): [DEVICE],
        vol.Optional("camera", default=dict): CAMERA,
        vol.Optional("media", default=dict): MEDIA,
        vol.Optional("avl", default=dict): AVL,
        vol.Optional("mqtt", default=dict): MQTT_SCHEMA,
    },
    extra=vol.PREVENT_EXTRA,
)


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key."""


@dataclass(frozen=True)
class Config:
    """Validated configuration (the raw dict keeps sections other modules own)."""

    raw: dict[str, Any]

    @property
    def data_dir(self) -> Path:
        return Path(self.raw["data_dir"])

    @property
    def camera(self) -> dict[str, Any]:
        return self.raw["camera"]

    @property
    def media(self) -> dict[str, Any]:
        return self.raw["media"]

    @property
    def avl(self) -> dict[str, Any]:
        return self.raw["avl"]

    @property
    def mqtt(self) -> dict[str, Any]:
        return self.raw["mqtt"]

    @property
    def devices(self) -> list[dict[str, Any]]:
        return self.raw["devices"]

    @property
    def allow_unknown_devices(self) -> bool:
        return self.raw["allow_unknown_devices"]

    @property
    def log_level(self) -> str:
        return self.raw["log_level"]


def validate(data: dict[str, Any] | None) -> Config:
    """Validate a config mapping; raises ConfigError naming the bad key."""
    try:
        return Config(SCHEMA(data or {}))
    except vol.MultipleInvalid as exc:
        raise ConfigError("; ".join(_describe(err) for err in exc.errors)) from None


def _describe(err: vol.Invalid) -> str:
    key = ".".join(str(p) for p in err.path) or "(top level)"
    if err.error_message == "extra keys not allowed":
        return f"{key}: unknown key"
    return f"{key}: {err.error_message}"


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
