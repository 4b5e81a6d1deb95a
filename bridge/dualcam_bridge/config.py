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
from .protocol.avl_connection import DEFAULT_MAX_FRAME_SIZE

__all__ = [
    "EMBEDDED_HOST",
    "AvlConfig",
    "CameraConfig",
    "Config",
    "ConfigError",
    "DeviceConfig",
    "HttpConfig",
    "MediaConfig",
    "MqttConfig",
    "TlsConfig",
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
    # Below this much free space in data_dir no new transfer is taken (cameras retry later).
    min_free_mb: float = field(default=200.0, metadata=check(_non_negative()))
    # An H.264 MP4 of each clip that every browser plays (HEVC plays in few): always | never.
    browser_mp4: Literal["always", "never"] = field(
        default="always", metadata=check(vol.In(["always", "never"], msg="must be always or never"))
    )
    # Background ffmpeg jobs at once, each at the lowest CPU priority (a poster an HTTP request
    # waits for has a worker of its own).
    media_jobs: int = field(default=1, metadata=check(vol.All(int, vol.Range(min=1, max=16))))


def _public_url(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise vol.Invalid("must be an http:// or https:// URL")
    return value.rstrip("/")


@dataclass(frozen=True, slots=True)
class HttpConfig:
    """``http:``: stored files by signed link, ``/healthz`` and ``/metrics``."""

    enabled: bool = field(default=True, metadata=check(bool))
    host: str = field(default="0.0.0.0", metadata=check(str))
    port: int = field(default=5080, metadata=check(PORT))
    # The base written into links (what subscribers reach); None: http://<hostname>:<port>.
    public_url: str | None = field(default=None, metadata=check(vol.Any(None, _public_url)))
    link_ttl_hours: float = field(default=168.0, metadata=check(_positive()))
    # Also accepted instead of a signed link: ``Authorization: Bearer <token>``.
    token: str | None = field(
        default=None, metadata=check(vol.Any(None, vol.All(str, vol.Length(min=16))))
    )


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


# ---- mqtt: ------------------------------------------------------------------------------------
DEFAULT_PORT = 1883
DEFAULT_TLS_PORT = 8883
EMBEDDED_HOST = "127.0.0.1"


def _topic_prefix(value: Any) -> str:
    # The prefix becomes the first levels of every topic: wildcards or empty levels would
    # make topics that subscribers cannot address.
    if not isinstance(value, str) or not value:
        raise vol.Invalid("must be a non-empty string")
    if any(c in value for c in "+#\0") or value.startswith("/") or value.endswith("/"):
        raise vol.Invalid("must not contain + or # nor start or end with /")
    if "//" in value:
        raise vol.Invalid("must not contain empty levels (//)")
    return value


def _protocol(value: Any) -> Literal["3.1.1", "5"]:
    # YAML reads `5` as an int and `3.1.1` as a string; accept both spellings.
    text = str(value)
    if text == "3.1.1":
        return "3.1.1"
    if text == "5":
        return "5"
    raise vol.Invalid("must be 3.1.1 or 5")


BROKER_PORT = vol.All(int, vol.Range(min=1, max=65535))
OPTIONAL_STR = vol.Any(None, str)
PASSWORD = ("password", "set password or password_file, not both")


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """``mqtt.tls:``; ``insecure`` skips the hostname check (like mosquitto_sub)."""

    ca_certs: str | None = field(default=None, metadata=check(OPTIONAL_STR))
    certfile: str | None = field(default=None, metadata=check(OPTIONAL_STR))
    keyfile: str | None = field(default=None, metadata=check(OPTIONAL_STR))
    insecure: bool = field(default=False, metadata=check(bool))


@dataclass(frozen=True, slots=True)
class MqttConfig:
    """``mqtt:``; ``host=None`` means the embedded broker."""

    # false: no MQTT at all (files and events stay in the bridge; tests of other parts).
    enabled: bool = field(default=True, metadata=check(bool))
    host: str | None = field(default=None, metadata=check(OPTIONAL_STR))
    port: int | None = field(default=None, metadata=check(vol.Any(None, BROKER_PORT)))
    username: str | None = field(default=None, metadata=check(OPTIONAL_STR))
    password: str | None = field(default=None, metadata=check(str, exclusive=PASSWORD))
    password_file: str | None = field(default=None, metadata=check(str, exclusive=PASSWORD))
    tls: TlsConfig | None = field(default=None, metadata=check(vol.Any(None, section(TlsConfig))))
    client_id: str | None = field(default=None, metadata=check(OPTIONAL_STR))
    topic_prefix: str = field(default="dualcam", metadata=check(_topic_prefix))
    keepalive: int = field(default=60, metadata=check(vol.All(int, vol.Range(min=5, max=65535))))
    # Clips are reached by URL (``http``); their bytes on MQTT only when asked for.
    publish_video_payload: bool = field(default=False, metadata=check(bool))
    outbox_max_mb: float = field(
        default=100.0,
        metadata=check(vol.All(vol.Coerce(float), vol.Range(min=1, msg="must be at least 1"))),
    )
    protocol: Literal["3.1.1", "5"] = field(default="3.1.1", metadata=check(_protocol))
    homeassistant_discovery: bool = field(default=False, metadata=check(bool))
    discovery_prefix: str = field(default="homeassistant", metadata=check(_topic_prefix))

    @property
    def embedded(self) -> bool:
        """True when no broker is configured and the bridge runs its own."""
        return self.host is None

    @property
    def broker_host(self) -> str:
        """The host to connect to (the embedded broker listens on loopback only)."""
        return self.host or EMBEDDED_HOST

    @property
    def broker_port(self) -> int:
        """The configured port, else 8883 with TLS and 1883 without."""
        if self.port is not None:
            return self.port
        return DEFAULT_TLS_PORT if self.tls is not None else DEFAULT_PORT

    def read_password(self) -> str | None:
        """The password, read from ``password_file`` at each connect so it can be rotated."""
        if self.password_file is None:
            return self.password
        # Strip the trailing newline editors and `echo` leave behind.
        return Path(self.password_file).read_text(encoding="utf-8").rstrip("\r\n")


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
    http: HttpConfig = field(default_factory=HttpConfig, metadata=check(section(HttpConfig)))


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
