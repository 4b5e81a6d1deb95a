"""The ``mqtt:`` config section: defaults, spellings YAML produces, and clear refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from dualcam_bridge.config import ConfigError, MqttConfig, validate


def mqtt(section: dict) -> MqttConfig:
    """The ``mqtt:`` section as the bridge's config loader validates it."""
    return validate({"mqtt": section}).mqtt


def test_defaults_mean_embedded_broker() -> None:
    s = mqtt({})
    assert s == MqttConfig(), "an empty section is the dataclass defaults"
    assert s.embedded and s.broker_host == "127.0.0.1" and s.broker_port == 1883
    assert (s.topic_prefix, s.keepalive, s.protocol) == ("dualcam", 60, "3.1.1")
    # Clips go by URL; their bytes on MQTT only when asked for.
    assert not s.publish_video_payload and not s.homeassistant_discovery
    assert s.discovery_prefix == "homeassistant"
    assert s.tls is None and s.outbox_max_mb == 100


def test_full_section() -> None:
    s = mqtt(
        {
            "host": "broker.lan",
            "username": "bridge",
            "password": "pw",
            "tls": {"ca_certs": "/etc/ca.crt", "insecure": True},
            "client_id": "bridge-1",
            "topic_prefix": "fleet/dualcam",
            "keepalive": 30,
            "publish_video_payload": False,
            "outbox_max_mb": 5,
            "protocol": 5,  # YAML reads it as an int
            "homeassistant_discovery": True,
        }
    )
    assert not s.embedded and s.broker_port == 8883  # the TLS default
    assert s.tls is not None and s.tls.insecure and s.tls.ca_certs == "/etc/ca.crt"
    assert s.protocol == "5" and s.read_password() == "pw"


def test_password_file_is_stripped(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("hunter2\n")
    s = mqtt({"username": "u", "password_file": str(secret)})
    assert s.read_password() == "hunter2"


@pytest.mark.parametrize(
    ("section", "error"),
    [
        ({"password": "a", "password_file": "b"}, "mqtt.<password>: set password or password_file"),
        ({"protocol": "4"}, "mqtt.protocol: must be 3.1.1 or 5"),
        ({"topic_prefix": "a/#"}, "mqtt.topic_prefix: must not contain"),
        ({"topic_prefix": "/a"}, "mqtt.topic_prefix: must not contain"),
        ({"port": 70000}, "mqtt.port: "),
        ({"keepalive": 1}, "mqtt.keepalive: "),
        ({"outbox_max_mb": 0}, "mqtt.outbox_max_mb: must be at least 1"),
        ({"tls": {"ca_cert": "x"}}, "mqtt.tls.ca_cert: unknown key"),
        ({"hostname": "x"}, "mqtt.hostname: unknown key"),
    ],
)
def test_refusals_name_the_key(section: dict, error: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate({"mqtt": section})
    assert str(info.value).startswith(error)
