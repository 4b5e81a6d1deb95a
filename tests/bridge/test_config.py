"""The YAML configuration validated into frozen dataclasses: defaults once, errors by key path."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import voluptuous as vol

from dualcam_bridge.config import (
    AvlConfig,
    CameraConfig,
    Config,
    ConfigError,
    DeviceConfig,
    MediaConfig,
    MqttConfig,
    TlsConfig,
    load,
    validate,
)
from dualcam_bridge.config_fields import replace_checked, schema_of

EXAMPLE = Path(__file__).parents[2] / "config" / "bridge.example.yaml"
SECTIONS = [Config, DeviceConfig, CameraConfig, MediaConfig, AvlConfig, MqttConfig, TlsConfig]


def test_no_file_is_the_dataclass_defaults() -> None:
    assert load(None) == validate({}) == validate(None) == Config()
    config = Config()
    assert config.data_dir == Path("dualcam-data") and config.devices == ()
    assert (config.camera.port, config.avl.port, config.mqtt.host) == (5028, 5027, None)


def test_the_example_file_shows_the_defaults() -> None:
    # The example says "the values shown are the defaults": the dataclasses must agree.
    assert load(EXAMPLE) == Config()


@pytest.mark.parametrize("cls", SECTIONS)
def test_schemas_hold_no_defaults(cls: type) -> None:
    # Each default lives in the dataclass only; a schema default would be a second copy.
    for marker in schema_of(cls).schema:
        assert marker.default is vol.UNDEFINED, f"{cls.__name__}.{marker} has a schema default"


@pytest.mark.parametrize("cls", SECTIONS)
def test_sections_are_frozen(cls: type) -> None:
    assert dataclasses.is_dataclass(cls)
    assert cls.__dataclass_params__.frozen  # type: ignore[attr-defined]


def test_values_are_typed_and_coerced() -> None:
    config = validate(
        {
            "data_dir": "/srv/dualcam",
            "log_level": "debug",
            "devices": [{"imei": 352094082736916, "name": "Van 1"}, {"imei": "352094082736917"}],
            "camera": {"port": 6000, "idle_timeout": 5, "max_file_mb": 1},
            "media": {"max_age_days": 0, "remux_mp4": False},
            "avl": {"enabled": False, "command_ttl": 60},
            "mqtt": {"host": "broker.lan", "tls": {"insecure": True}},
        }
    )
    assert config.data_dir == Path("/srv/dualcam")
    assert config.devices == (
        DeviceConfig("352094082736916", "Van 1"),  # YAML's int IMEI, as text
        DeviceConfig("352094082736917", None),
    )
    assert config.camera == CameraConfig(port=6000, idle_timeout=5.0, max_file_mb=1.0)
    assert isinstance(config.camera.idle_timeout, float)
    assert config.media == MediaConfig(max_age_days=0.0, remux_mp4=False)
    assert config.avl == AvlConfig(enabled=False, command_ttl=60.0)
    assert config.mqtt.tls == TlsConfig(insecure=True) and config.mqtt.broker_port == 8883
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.camera.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"camera": {"port": "eighty"}}, "camera.port: expected int"),
        ({"camera": {"idle_timout": 5}}, "camera.idle_timout: unknown key"),
        ({"camera": {"idle_timeout": 0}}, "camera.idle_timeout: value must be higher than 0"),
        ({"camera": None}, "camera: expected a dictionary"),
        ({"avl": {"port": 70000}}, "avl.port: value must be at most 65535"),
        ({"avl": {"max_frame_size": 10}}, "avl.max_frame_size: unknown key"),  # not a YAML key
        ({"media": {"max_total_gb": -1}}, "media.max_total_gb: value must be at least 0"),
        ({"devices": [{"imei": "123"}]}, "devices.0.imei: must be a 15-digit IMEI"),
        ({"devices": [{"name": "van"}]}, "devices.0.imei: required key not provided"),
        ({"log_level": "loud"}, "log_level: must be debug, info, warning or error"),
        ({"mqtt": {"tls": {"ca_cert": "x"}}}, "mqtt.tls.ca_cert: unknown key"),
        ({"colour": "red"}, "colour: unknown key"),
    ],
)
def test_errors_name_the_key_path(data: dict, error: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate(data)
    assert str(info.value) == error


def test_every_error_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        validate({"camera": {"port": "eighty", "idle_timout": 5}, "avl": {"port": -1}})
    parts = sorted(str(info.value).split("; "))
    assert parts == [
        "avl.port: value must be at least 0",
        "camera.idle_timout: unknown key",
        "camera.port: expected int",
    ]


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("camera: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load(bad)
    bad.write_text("- camera\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load(bad)


def test_replace_checked_validates_each_change() -> None:
    mqtt = replace_checked(MqttConfig(), "mqtt", host="broker.lan", port=1884)
    assert (mqtt.host, mqtt.port, mqtt.topic_prefix) == ("broker.lan", 1884, "dualcam")
    with pytest.raises(ConfigError, match=r"^mqtt\.topic_prefix: must not contain"):
        replace_checked(MqttConfig(), "mqtt", topic_prefix="a/#")
