"""The ``mqtt:`` config fragment: defaults, spellings YAML produces, and clear refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
import voluptuous as vol

from dualcam_bridge.mqtt.config import MQTT_SCHEMA, MqttSettings


def test_defaults_mean_embedded_broker() -> None:
    s = MqttSettings.from_config({})
    assert s.embedded and s.broker_host == "127.0.0.1" and s.broker_port == 1883
    assert (s.topic_prefix, s.keepalive, s.protocol) == ("dualcam", 60, "3.1.1")
    assert s.publish_video_payload and not s.homeassistant_discovery
    assert s.discovery_prefix == "homeassistant"
    assert s.tls is None and s.outbox_max_mb == 100


def test_full_section() -> None:
    s = MqttSettings.from_config(
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
    s = MqttSettings.from_config({"username": "u", "password_file": str(secret)})
    assert s.read_password() == "hunter2"


@pytest.mark.parametrize(
    ("section", "key", "message"),
    [
        ({"password": "a", "password_file": "b"}, "<password>", "not both"),
        ({"protocol": "4"}, "protocol", "3.1.1 or 5"),
        ({"topic_prefix": "a/#"}, "topic_prefix", "must not contain"),
        ({"topic_prefix": "/a"}, "topic_prefix", "must not contain"),
        ({"port": 70000}, "port", ""),
        ({"keepalive": 1}, "keepalive", ""),
        ({"outbox_max_mb": 0}, "outbox_max_mb", "at least 1"),
        ({"tls": {"ca_cert": "x"}}, "tls", "extra keys"),
        ({"hostname": "x"}, "hostname", "extra keys"),
    ],
)
def test_refusals_name_the_key(section: dict, key: str, message: str) -> None:
    with pytest.raises(vol.MultipleInvalid) as info:
        MQTT_SCHEMA(section)
    err = info.value.errors[0]
    assert str(err.path[0]) == key
    assert message in str(err)
