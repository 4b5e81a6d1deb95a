"""The ``mqtt:`` section of the bridge configuration: frozen dataclasses, each key checked once."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import voluptuous as vol

from ..config_fields import check, section

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


PORT = vol.All(int, vol.Range(min=1, max=65535))
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
    port: int | None = field(default=None, metadata=check(vol.Any(None, PORT)))
    username: str | None = field(default=None, metadata=check(OPTIONAL_STR))
    password: str | None = field(default=None, metadata=check(str, exclusive=PASSWORD))
    password_file: str | None = field(default=None, metadata=check(str, exclusive=PASSWORD))
    tls: TlsConfig | None = field(default=None, metadata=check(vol.Any(None, section(TlsConfig))))
    client_id: str | None = field(default=None, metadata=check(OPTIONAL_STR))
    topic_prefix: str = field(default="dualcam", metadata=check(_topic_prefix))
    keepalive: int = field(default=60, metadata=check(vol.All(int, vol.Range(min=5, max=65535))))
    publish_video_payload: bool = field(default=True, metadata=check(bool))
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
