"""One contract, checked on both sides.

The Home Assistant integration ships alone and cannot import the bridge, so the contract's
tables exist twice: ``bridge/dualcam_bridge/contract.py`` and
``custom_components/dualcam/contract.py``. This test loads the integration's copy by file path
(its package ``__init__`` imports Home Assistant) and asserts both hold the same tables, that
README.md's "MQTT topics" section documents them, that the integration's ``services.yaml``
and the schemas of ``tests/bridge/mqtt/schemas.py`` agree with them, and that every example
payload is valid and is taken by the bridge.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
import sys
import typing
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest
import yaml

from dualcam_bridge import contract
from dualcam_bridge.avl.command_text import CommandError, set_camera_settings
from dualcam_bridge.events import (
    CameraStateChanged,
    MediaCompleted,
    Position,
    SosTriggered,
    TransferProgress,
)
from dualcam_bridge.mqtt import topics as t
from dualcam_bridge.mqtt.commands import command_request, command_result
from dualcam_bridge.mqtt.devices import DeviceRecord
from dualcam_bridge.mqtt.discovery import device_configs

from .mqtt import schemas

ROOT = Path(__file__).parents[2]
INTEGRATION = ROOT / "custom_components" / "dualcam"
# What only the bridge needs: it accepts the old setting names, the integration never sends them.
BRIDGE_ONLY = {"CAMERA_SETTING_ALIASES", "CAMERA_SETTINGS_BY_KEY"}
DASH = "\u2013"  # the README writes ranges with an en dash


def load_integration_contract() -> ModuleType:
    """custom_components/dualcam/contract.py as a module of its own, without its package."""
    name = "dualcam_integration_contract"
    spec = importlib.util.spec_from_file_location(name, INTEGRATION / "contract.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while building the class
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


HA = load_integration_contract()


def public(module: ModuleType) -> dict[str, Any]:
    """A contract module's own public names (not what it imports, not ``typing``'s)."""
    imported = {"annotations", "dataclass", "Final", "Literal", "Mapping", "re"}
    return {
        name: value
        for name, value in vars(module).items()
        if not name.startswith("_") and name not in imported and not isinstance(value, ModuleType)
    }


def plain(value: Any) -> Any:
    """A value with the module's classes replaced by plain data, comparable across modules."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value).__name__, plain(dataclasses.asdict(value)))
    if isinstance(value, type) and dataclasses.is_dataclass(value):
        return [(f.name, str(f.type), f.default) for f in dataclasses.fields(value)]
    if typing.get_origin(value) is typing.Literal:
        return ("Literal", typing.get_args(value))
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return tuple(plain(item) for item in value)
    return value


# ---- the two modules ---------------------------------------------------------------------------


def test_both_modules_define_the_same_names() -> None:
    bridge, integration = set(public(contract)), set(public(HA))
    assert bridge - integration == BRIDGE_ONLY
    assert integration <= bridge


@pytest.mark.parametrize("name", sorted(set(public(HA))))
def test_tables_are_equal(name: str) -> None:
    ours, theirs = getattr(contract, name), getattr(HA, name)
    if callable(ours) and not isinstance(ours, type):
        return  # functions: compared by behaviour below
    assert plain(ours) == plain(theirs), name


def test_comparison_sees_a_difference() -> None:
    """``plain`` does not flatten away what the tables are about."""
    setting = contract.CAMERA_SETTINGS[3]
    assert plain(setting) != plain(dataclasses.replace(setting, name="framerate"))
    assert plain(setting) != plain(dataclasses.replace(setting, high=60))
    assert plain({0: "a"}) != plain({1: "a"})
    assert plain(contract.Camera) != plain(contract.MediaKind)


@pytest.mark.parametrize(
    "value",
    [
        "352094082736916",
        "35209408273691",
        "3520940827369160",
        "352094082736916\n",
        " 352094082736916",
        "35209408273691a",
        "٣٥٢٠٩٤٠٨٢٧٣٦٩١٦",  # Arabic-Indic digits: \d would take them
        "+",
        "",
        352094082736916,
        None,
    ],
)
def test_is_imei_agrees(value: object) -> None:
    assert contract.is_imei(value) == HA.is_imei(value)
    assert contract.is_imei(value) == (value == "352094082736916")


def test_topic_agrees() -> None:
    for spec in contract.TOPICS:
        for args in ((), ("352094082736916",), ("352094082736916", "rear")):
            assert contract.topic("fleet/a", spec.pattern, *args) == HA.topic(
                "fleet/a", spec.pattern, *args
            )
    assert contract.topic("p", contract.TOPIC_CAMERA_STATE) == "p/+/camera/+/state"
    assert contract.topic("p", contract.TOPIC_PHOTO, "1", "front") == "p/1/camera/front/photo"


def test_camera_settings_are_consistent() -> None:
    ids = [s.id for s in contract.CAMERA_SETTINGS]
    names = [s.name for s in contract.CAMERA_SETTINGS]
    assert ids == sorted(set(ids)) and all(66000 <= i <= 66010 for i in ids)
    assert len(set(names)) == len(names)
    for setting in contract.CAMERA_SETTINGS:
        assert setting.low <= setting.high
        if setting.type == "choice":
            assert (setting.low, setting.high) == (0, len(setting.choices) - 1)
        elif setting.type == "bool":
            assert (setting.low, setting.high, setting.choices) == (0, 1, ())
        else:
            assert setting.choices == ()
    # The choices of video_trigger are the SOS trigger names (the tracker's 0-3 codes).
    trigger = contract.CAMERA_SETTINGS_BY_KEY["video_trigger"]
    assert trigger.choices[1:] == tuple(contract.SOS_TRIGGER_NAMES.values())[1:]


def test_old_setting_names_are_aliases_on_the_bridge() -> None:
    names = {s.name for s in contract.CAMERA_SETTINGS}
    assert set(contract.CAMERA_SETTING_ALIASES.values()) <= names
    assert not set(contract.CAMERA_SETTING_ALIASES) & names
    for alias, name in contract.CAMERA_SETTING_ALIASES.items():
        setting = contract.CAMERA_SETTINGS_BY_KEY[name]
        value = setting.high
        assert set_camera_settings({alias: value}) == set_camera_settings({name: value})
        assert set_camera_settings({alias: value}) == f"setparam {setting.id}:{value}"
        with pytest.raises(CommandError, match="given twice"):
            set_camera_settings({alias: value, name: value})
    with pytest.raises(CommandError, match="Unknown camera setting 'frame_rates'"):
        set_camera_settings({"frame_rates": 25})


# ---- the README's MQTT section ------------------------------------------------------------------


def mqtt_section() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("\n## MQTT topics\n")
    end = readme.index("\n## ", start + 1)
    return readme[start:end]


def readme_topic_rows() -> dict[str, list[str]]:
    """The topic table: ``P/...`` pattern → its cells (retained, QoS, payload)."""
    rows = {}
    for line in mqtt_section().splitlines():
        if line.startswith("| `P/"):
            cells = [cell.strip() for cell in line.strip("|").split(" | ")]
            rows[cells[0].strip("`")] = cells[1:]
    return rows


def readme_pattern(pattern: str) -> str:
    return "P/" + pattern.replace("{imei}", "<imei>").replace("{camera}", "<cam>")


def test_readme_documents_every_topic() -> None:
    rows = readme_topic_rows()
    assert set(rows) == {readme_pattern(s.pattern) for s in contract.TOPICS}
    for spec in contract.TOPICS:
        retained, qos, _ = rows[readme_pattern(spec.pattern)]
        assert (retained, qos) == ("yes" if spec.retained else "no", str(spec.qos)), spec.name


FIELDS = {
    "bridge_info": contract.BRIDGE_INFO_FIELDS,
    "bridge_health": contract.BRIDGE_HEALTH_FIELDS,
    "device_info": contract.DEVICE_INFO_FIELDS,
    "camera_state": contract.CAMERA_STATE_FIELDS,
    "media": contract.MEDIA_FIELDS,
    "transfer": contract.TRANSFER_FIELDS,
    "sos": contract.SOS_FIELDS,
    "position": contract.POSITION_FIELDS,
    "command_result": contract.COMMAND_RESULT_FIELDS,
}


def test_readme_documents_every_payload_field() -> None:
    rows = readme_topic_rows()
    by_name = {s.name: s for s in contract.TOPICS}
    assert set(FIELDS) == {s.name for s in contract.TOPICS if s.payload == "json"} - {"command"}
    for name, fields in FIELDS.items():
        payload = rows[readme_pattern(by_name[name].pattern)][2]
        assert tuple(re.findall(r'"(\w+)"', payload)) == fields, name


def test_readme_documents_every_name_and_setting() -> None:
    section = mqtt_section()
    names = [
        *contract.CAMERA_STATE_NAMES.values(),
        *contract.SOS_TRIGGER_NAMES.values(),
        *contract.MEDIA_TRIGGER_NAMES.values(),
        *contract.TRANSFER_STATES,
        *contract.COMMAND_STATUSES,
        *contract.BRIDGE_HEALTH_STATUSES,
        *contract.MEDIA_KINDS,
        *contract.CAMERAS,
        *contract.CAMERA_SOURCES,
        *contract.COMMANDS,
        *contract.FILE_TYPES,
        *contract.CAMERA_SETTING_ALIASES,
        contract.ONLINE,
        contract.OFFLINE,
    ]
    for name in names:
        assert f"`{name}`" in section, name
    settings = {
        row[0].strip("`"): row[1:]
        for line in section.splitlines()
        if (row := [cell.strip() for cell in line.strip("|").split(" | ")])[0].startswith("`")
        and len(row) == 3
        and row[1].isdecimal()
    }
    assert list(settings) == [s.name for s in contract.CAMERA_SETTINGS]
    for setting in contract.CAMERA_SETTINGS:
        ident, values = settings[setting.name]
        assert ident == str(setting.id)
        if setting.type == "choice":
            assert all(f"`{choice}`" in values for choice in setting.choices), setting.name
            assert f"{setting.low}{DASH}{setting.high}" in values
        elif setting.type == "int":
            assert values.startswith(f"{setting.low}{DASH}{setting.high} "), setting.name
    limits = f"{contract.MIN_VIDEO_DURATION_S}{DASH}{contract.MAX_VIDEO_DURATION_S} s"
    assert f"`duration` {limits}" in section


# ---- the integration's other files ---------------------------------------------------------------


def test_services_yaml_matches_the_settings_table() -> None:
    services = yaml.safe_load((INTEGRATION / "services.yaml").read_text())
    fields = services["set_camera_settings"]["fields"]
    assert [f for f in fields if f != "timeout"] == [s.name for s in contract.CAMERA_SETTINGS]
    for setting in contract.CAMERA_SETTINGS:
        selector = fields[setting.name]["selector"]
        if setting.type == "bool":
            assert "boolean" in selector, setting.name
        elif setting.type == "choice":
            assert tuple(selector["select"]["options"]) == setting.choices, setting.name
        else:
            number = selector["number"]
            assert (number["min"], number["max"]) == (setting.low, setting.high), setting.name
    for service in ("request_photo", "request_video"):
        options = services[service]["fields"]["source"]["selector"]["select"]["options"]
        assert tuple(options) == tuple(contract.CAMERA_SOURCES)
    duration = services["request_video"]["fields"]["duration"]["selector"]["number"]
    assert (duration["min"], duration["max"]) == (
        contract.MIN_VIDEO_DURATION_S,
        contract.MAX_VIDEO_DURATION_S,
    )


def test_strings_name_every_setting_and_choice() -> None:
    strings = json.loads((INTEGRATION / "strings.json").read_text())
    fields = strings["services"]["set_camera_settings"]["fields"]
    assert {s.name for s in contract.CAMERA_SETTINGS} <= set(fields)
    for setting in contract.CAMERA_SETTINGS:
        if setting.type == "choice":
            options = strings["selector"][setting.name]["options"]
            assert tuple(options) == setting.choices, setting.name
    assert tuple(strings["selector"]["source"]["options"]) == tuple(contract.CAMERA_SOURCES)


def test_manifest_discovery_topic_is_the_bridge_info_topic() -> None:
    manifest = json.loads((INTEGRATION / "manifest.json").read_text())
    info = contract.topic(contract.DEFAULT_TOPIC_PREFIX, contract.TOPIC_BRIDGE_INFO)
    assert manifest["mqtt"] == [info]


# ---- schemas and examples ----------------------------------------------------------------------


def test_schema_rules_are_the_contract_topics() -> None:
    """schemas.py was written from the README; the contract module must say the same."""
    rules = {rule.name: rule for rule in schemas.RULES}
    assert list(rules) == [s.name for s in contract.TOPICS]
    for spec in contract.TOPICS:
        rule = rules[spec.name]
        assert (rule.retained, rule.qos) == (spec.retained, spec.qos), spec.name
        topic = contract.topic("fleet/a", spec.pattern, "352094082736916", "rear")
        assert schemas.rule_for(topic, "fleet/a") is rule, spec.name
        payload = {"online_offline": schemas.ONLINE_OFFLINE, "jpeg": schemas.JPEG}.get(
            spec.payload, schemas.BYTES
        )
        if spec.payload == "json":
            assert isinstance(schemas.RULE_SCHEMAS[spec.name], dict), spec.name
        else:
            assert rule.payload == payload, spec.name


def test_schemas_have_the_contract_fields_and_names() -> None:
    for name, fields in FIELDS.items():
        schema = schemas.RULE_SCHEMAS[name]
        assert tuple(schema["properties"]) == fields, name
        assert schema["required"] == list(fields), name
    assert tuple(schemas.POSITION["properties"]) == contract.POSITION_FIELDS
    states = schemas.CAMERA_STATE["properties"]["state"]["enum"]
    assert states == list(contract.CAMERA_STATE_NAMES.values())
    triggers = schemas.SOS["properties"]["trigger"]["enum"]
    assert triggers == list(contract.SOS_TRIGGER_NAMES.values())
    assert schemas.TRANSFER["properties"]["state"]["enum"] == list(contract.TRANSFER_STATES)
    health = schemas.BRIDGE_HEALTH["properties"]["status"]["enum"]
    assert health == list(contract.BRIDGE_HEALTH_STATUSES)
    statuses = schemas.COMMAND_RESULT["properties"]["status"]["enum"]
    assert statuses == list(contract.COMMAND_STATUSES)
    assert schemas.CAMERA["enum"] == list(contract.CAMERAS)
    assert schemas.KIND["enum"] == list(contract.MEDIA_KINDS)
    assert schemas.COMMAND_REQUEST["properties"]["command"]["enum"] == list(contract.COMMANDS)


@pytest.mark.parametrize("name", [s.name for s in contract.TOPICS])
def test_every_topic_has_valid_examples(name: str) -> None:
    examples = schemas.EXAMPLES[name]
    assert examples, name
    schema = schemas.RULE_SCHEMAS[name]
    for example in examples:
        if isinstance(schema, dict):
            jsonschema.validate(example, schema)
        elif schema == schemas.ONLINE_OFFLINE:
            assert example in (contract.ONLINE, contract.OFFLINE)
        elif schema == schemas.JPEG:
            assert example.startswith(b"\xff\xd8")
        else:
            assert isinstance(example, bytes) and example


def test_schemas_refuse_what_the_contract_does_not_allow() -> None:
    """The examples' schemas are not vacuous: one wrong key fails each of them."""
    for name, schema in schemas.RULE_SCHEMAS.items():
        if not isinstance(schema, dict):
            continue
        example = dict(schemas.EXAMPLES[name][0])
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**example, "command": "zoom"} if name == "command" else {}, schema)
        if name not in ("command", "command_result"):
            with pytest.raises(jsonschema.ValidationError):
                jsonschema.validate({**example, "extra": 1}, schema)
    bad_video = {"command": "camreq", "file_type": "video", "source": "front"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad_video, schemas.COMMAND_REQUEST)


@pytest.mark.parametrize("request_", schemas.EXAMPLES["command"], ids=str)
def test_the_bridge_takes_every_example_request(request_: dict[str, Any]) -> None:
    text = command_request(request_, now=1_746_093_782.0).to_text()
    assert text.split(":", 1)[0].split(" ", 1)[0] in (*contract.COMMANDS, "getinfo")


def test_the_bridge_writes_the_contract_fields() -> None:
    """Each payload builder writes exactly the contract's keys, in its order."""
    when = datetime(2025, 5, 1, 10, 1, 2, tzinfo=UTC)
    imei = schemas.EXAMPLE_IMEI
    position = Position(54.7, 25.3, 112, 270, 48, 11, when)
    media = MediaCompleted("x", imei, "rear", "video", Path("/v.h265"), 1, "0" * 64, when)
    progress = TransferProgress(imei, "%videor", "rear", "video", 1, 2, 3.0, "receiving")
    built = {
        "bridge_info": t.bridge_info_payload("1", when, 1, 2, [imei]),
        "bridge_health": t.bridge_health_payload(True, 12.5, 200.0, when),
        "device_info": t.device_info_payload(imei, None, when, when, None),
        "camera_state": t.camera_state_payload(CameraStateChanged(imei, "front", 1, when)),
        "media": t.media_payload(media),
        "transfer": t.transfer_payload(progress),
        "sos": t.sos_payload(SosTriggered(imei, 3, when, position)),
        "position": t.position_payload(position),
        "command_result": json.dumps(command_result("1", True, "camreq", "ok")).encode(),
    }
    assert set(built) == set(FIELDS)
    for name, payload in built.items():
        assert tuple(json.loads(payload)) == FIELDS[name], name
        jsonschema.validate(json.loads(payload), schemas.RULE_SCHEMAS[name])


def test_discovery_configs_match_their_schema() -> None:
    when = datetime(2025, 5, 1, tzinfo=UTC)
    record = DeviceRecord(schemas.EXAMPLE_IMEI, "Van 1", 5, when, when)
    configs = device_configs(t.Topics(), "homeassistant", record, "0.1.0")
    assert len(configs) == 9
    for topic, payload in configs:
        assert schemas.DISCOVERY_TOPIC.match(topic), topic
        config = json.loads(payload)
        jsonschema.validate(config, schemas.DISCOVERY_CONFIG)
        for key in ("topic", "state_topic", "json_attributes_topic", "command_topic"):
            if key in config:
                assert schemas.rule_for(config[key]) is not None, config[key]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            {**json.loads(configs[0][1]), "unique_id": "x"}, schemas.DISCOVERY_CONFIG
        )
