"""Every name, state, flow step, error and action field has an English text."""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.translation import async_get_translations

from custom_components.dualcam import binary_sensor, button, camera, event, sensor
from custom_components.dualcam.const import DOMAIN
from custom_components.dualcam.contract import (
    CAMERA_SETTINGS,
    CAMERA_STATE_NAMES,
    SOS_TRIGGER_NAMES,
)
from custom_components.dualcam.device_trigger import TRIGGER_TYPES

INTEGRATION = Path(__file__).parents[2] / "custom_components" / DOMAIN
EN = json.loads((INTEGRATION / "translations" / "en.json").read_text())


TEXT_FILES = ["strings.json", *sorted(p.name for p in (INTEGRATION / "translations").glob("*"))]


def texts(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every text of a strings file with its key path."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from texts(value, f"{path}.{key}" if path else key)
    else:
        assert isinstance(node, str), path
        yield path, node


@pytest.mark.parametrize("name", TEXT_FILES)
def test_every_text_renders(name: str) -> None:
    """Each text passes hassfest's checks of translation strings, so the frontend renders it.

    The frontend formats texts as ICU messages: `<word>` opens a markup tag (a text with
    `<prefix>` in it shows "Translation error: UNCLOSED_TAG" instead), braces are
    placeholders and must balance and name identifiers.
    """
    path = INTEGRATION / name if name == "strings.json" else INTEGRATION / "translations" / name
    found = list(texts(json.loads(path.read_text())))
    assert len(found) > 50
    for key, text in found:
        cv.string_with_no_html(text)  # hassfest: "the string should not contain HTML"
        assert not re.search(r"</?[A-Za-z]", text), f"{key}: markup tag in {text!r}"
        fields = [field for _, field, _, _ in string.Formatter().parse(text) if field]
        assert all(field.isidentifier() for field in fields), f"{key}: {fields}"
        assert not re.search(r"'\{\w+\}'", text), f"{key}: quoted placeholder"
        assert text == text.strip(), f"{key}: leading or trailing space"
        assert "http://" not in text and "https://" not in text, f"{key}: URL"


def test_strings_and_en_are_the_same() -> None:
    """strings.json is the source; translations/en.json is what HA loads."""
    assert json.loads((INTEGRATION / "strings.json").read_text()) == EN


def test_entity_names_and_states() -> None:
    """Every entity description's translation key has a name; enum states are translated."""
    platforms = {
        "binary_sensor": [binary_sensor.CONNECTION],
        "button": list(button.BUTTONS),
        "camera": list(camera.CAMERAS),
        "event": [event.SOS],
        "sensor": list(sensor.SENSORS),
    }
    for platform, descriptions in platforms.items():
        for description in descriptions:
            texts = EN["entity"][platform][description.translation_key]
            assert texts["name"], description.key
            if getattr(description, "options", None):
                assert (
                    set(texts["state"])
                    == set(description.options)
                    == set(CAMERA_STATE_NAMES.values())
                )
    event_types = EN["entity"]["event"]["sos"]["state_attributes"]["event_type"]["state"]
    assert set(event_types) == set(SOS_TRIGGER_NAMES.values())
    assert set(EN["device_automation"]["trigger_type"]) == set(TRIGGER_TYPES)


def test_services_fields_and_selectors() -> None:
    """services.yaml and the translations describe the same actions and fields."""
    services = yaml.safe_load((INTEGRATION / "services.yaml").read_text())
    assert set(services) == set(EN["services"])
    for name, spec in services.items():
        assert set(spec["fields"]) == set(EN["services"][name]["fields"]), name
        for field in spec["fields"].values():
            select = field.get("selector", {}).get("select") or {}
            if key := select.get("translation_key"):
                assert set(EN["selector"][key]["options"]) == set(select["options"])
    settings = set(services["set_camera_settings"]["fields"]) - {"timeout"}
    assert settings == {s.name for s in CAMERA_SETTINGS}


def test_every_raised_translation_key_exists() -> None:
    """Each translation_key used in the code has a message in `exceptions`."""
    used: set[str] = set()
    for path in INTEGRATION.glob("*.py"):
        source = path.read_text()
        used.update(re.findall(r'translation_domain=DOMAIN,\s*translation_key="(\w+)"', source))
        used.update(re.findall(r'_invalid\(\s*"(\w+)"', source))
    assert len(used) >= 10
    assert used <= set(EN["exceptions"])


def test_config_flow_texts() -> None:
    """Flow steps, errors and aborts used by the flows are all there."""
    flow_source = (INTEGRATION / "config_flow.py").read_text()
    for key in re.findall(r'errors\[[^\]]+\] = "(\w+)"', flow_source):
        assert key in EN["config"]["error"] or key in EN["options"]["error"], key
    for key in re.findall(r'reason="(\w+)"', flow_source):
        assert key in EN["config"]["abort"], key
    assert "already_configured" in EN["config"]["abort"]
    assert set(EN["config"]["step"]) == {"user", "discovery_confirm"}


async def test_home_assistant_loads_the_translations(hass: HomeAssistant) -> None:
    """HA's translation loader finds the integration's texts (state names as shown)."""
    translations = await async_get_translations(hass, "en", "entity", {DOMAIN})
    prefix = f"component.{DOMAIN}.entity"
    assert translations[f"{prefix}.sensor.front_camera_state.state.no_card"] == "No SD card"
    assert translations[f"{prefix}.sensor.rear_camera_state.state.card_faulty"] == "SD card faulty"
    healthy = translations[f"{prefix}.sensor.front_camera_state.state.card_mounted"]
    assert healthy == "OK (SD card mounted)"
    assert translations[f"{prefix}.event.sos.state_attributes.event_type.state.crash"] == "Crash"
    exceptions = await async_get_translations(hass, "en", "exceptions", {DOMAIN})
    assert f"component.{DOMAIN}.exceptions.command_timeout.message" in exceptions
