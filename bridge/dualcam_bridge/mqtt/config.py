"""The ``mqtt:`` section of the bridge configuration (a voluptuous fragment) and its typed view."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import voluptuous as vol

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


def _protocol(value: Any) -> str:
    # YAML reads `5` as an int and `3.1.1` as a string; accept both spellings.
    text = str(value)
    if text not in ("3.1.1", "5"):
        raise vol.Invalid("must be 3.1.1 or 5")
    return text


PORT = vol.All(int, vol.Range(min=1, max=65535))
OPTIONAL_STR = vol.Any(None, str)

TLS_SCHEMA = vol.Schema(
    {
        vol.Optional("ca_certs", default=None): OPTIONAL_STR,
        vol.Optional("certfile", default=None): OPTIONAL_STR,
        vol.Optional("keyfile", default=None): OPTIONAL_STR,
        vol.Optional("insecure", default=False): bool,
    },
    extra=vol.PREVENT_EXTRA,
)

MQTT_SCHEMA = vol.Schema(
    {
        # false: no MQTT at all (files and events stay in the bridge; tests of other parts).
        vol.Optional("enabled", default=True): bool,
        vol.Optional("host", default=None): OPTIONAL_STR,
        vol.Optional("port", default=None): vol.Any(None, PORT),
        vol.Optional("username", default=None): OPTIONAL_STR,
        vol.Exclusive("password", "password", msg="set password or password_file, not both"): str,
        vol.Exclusive(
            "password_file", "password", msg="set password or password_file, not both"
        ): str,
        vol.Optional("tls", default=None): vol.Any(None, TLS_SCHEMA),
        vol.Optional("client_id", default=None): OPTIONAL_STR,
        vol.Optional("topic_prefix", default="dualcam"): _topic_prefix,
        vol.Optional("keepalive", default=60): vol.All(int, vol.Range(min=5, max=65535)),
        vol.Optional("publish_video_payload", default=True): bool,
        vol.Optional("outbox_max_mb", default=100): vol.All(
            vol.Coerce(float), vol.Range(min=1, msg="must be at least 1")
        ),
        vol.Optional("protocol", default="3.1.1"): _protocol,
        vol.Optional("homeassistant_discovery", default=False): bool,
        vol.Optional("discovery_prefix", default="homeassistant"): _topic_prefix,
    },
    extra=vol.PREVENT_EXTRA,
)


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """TLS towards the broker; ``insecure`` skips the hostname check (like mosquitto_sub)."""

    ca_certs: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    insecure: bool = False


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """Validated ``mqtt:`` settings; ``host=None`` means the embedded broker."""

    enabled: bool = True
    host: str | None = None
    port: int | None = None
    username: str | None = None
    password: str | None = None
    password_file: str | None = None
    tls: TlsSettings | None = None
    client_id: str | None = None
    topic_prefix: str = "dualcam"
    keepalive: int = 60
    publish_video_payload: bool = True
    outbox_max_mb: float = 100
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    homeassistant_discovery: bool = False
    discovery_prefix: str = "homeassistant"

    @classmethod
    def from_config(cls, section: dict[str, Any] | None) -> MqttSettings:
        """Build settings from a raw or already validated ``mqtt:`` mapping."""
        data = MQTT_SCHEMA(dict(section or {}))
        tls = data.pop("tls")
        return cls(tls=TlsSettings(**tls) if tls is not None else None, **data)

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
