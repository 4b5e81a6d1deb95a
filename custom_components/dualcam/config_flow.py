"""Config flow: a bridge found by MQTT discovery or entered by topic prefix; options."""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import TYPE_CHECKING, Any

from homeassistant.components import mqtt
from homeassistant.config_entries import (
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.selector import (
    BooleanSelector,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
)
from homeassistant.helpers.service_info.mqtt import MqttServiceInfo

from .const import (
    CONF_MEDIA_DIR,
    CONF_STORE_MEDIA,
    CONF_TOPIC_PREFIX,
    CONF_VEHICLES,
    DEFAULT_STORE_MEDIA,
    DOMAIN,
)
from .contract import DEFAULT_TOPIC_PREFIX, TOPIC_BRIDGE_INFO, is_imei
from .media_store import default_media_dir
from .models import parse_json

if TYPE_CHECKING:
    # Home Assistant 2026.10+ installs probatio as `voluptuous` (API-compatible) and types
    # its schema parameters with it, so that is what `vol` is there; earlier releases
    # import the real voluptuous. mypy checks against the current release.
    import probatio as vol

    from .bridge import DualCamBridge, DualCamConfigEntry
else:
    import voluptuous as vol

INFO_SUFFIX = f"/{TOPIC_BRIDGE_INFO}"
# Retained, so a running (or recently running) bridge answers at once.
PROBE_TIMEOUT = 5.0


async def async_probe_bridge(
    hass: HomeAssistant, prefix: str, timeout: float = PROBE_TIMEOUT
) -> dict[str, Any] | None:
    """The bridge's retained `P/bridge/info`, or None if nothing answers in time."""
    future: asyncio.Future[dict[str, Any]] = hass.loop.create_future()

    @callback
    def on_info(msg: mqtt.ReceiveMessage) -> None:
        if future.done():
            return
        # Not JSON: not a bridge (keep waiting, the user gets "not found" at worst).
        with contextlib.suppress(ValueError):
            future.set_result(parse_json(msg.payload))

    unsubscribe = await mqtt.async_subscribe(hass, f"{prefix}{INFO_SUFFIX}", on_info, qos=1)
    try:
        async with asyncio.timeout(timeout):
            return await future
    except TimeoutError:
        return None
    finally:
        unsubscribe()


def _bridge_title(prefix: str) -> str:
    return f"DualCam bridge ({prefix})"


class DualCamConfigFlow(ConfigFlow, domain=DOMAIN):
    """One entry per bridge, identified by its topic prefix."""

    VERSION = 1

    def __init__(self) -> None:
        """Start with the contract's default prefix."""
        self._prefix = DEFAULT_TOPIC_PREFIX
        self._info: dict[str, Any] = {}

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: DualCamConfigEntry) -> DualCamOptionsFlow:
        """Options: local storage and which vehicles."""
        return DualCamOptionsFlow()

    async def async_step_mqtt(self, discovery_info: MqttServiceInfo) -> ConfigFlowResult:
        """A bridge announced itself on `<prefix>/bridge/info`."""
        if not discovery_info.topic.endswith(INFO_SUFFIX):
            return self.async_abort(reason="invalid_discovery_info")
        try:
            info = parse_json(discovery_info.payload)
        except ValueError:
            return self.async_abort(reason="invalid_discovery_info")
        # Other software publishes `<x>/bridge/info` too (zigbee2mqtt): check it is ours.
        if not {"camera_port", "avl_port"} <= info.keys():
            return self.async_abort(reason="not_dualcam_bridge")
        prefix = discovery_info.topic.removesuffix(INFO_SUFFIX)
        await self.async_set_unique_id(prefix)
        self._abort_if_unique_id_configured()
        self._prefix, self._info = prefix, info
        self.context["title_placeholders"] = {"prefix": prefix}
        return await self.async_step_discovery_confirm()

    async def async_step_discovery_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask before adding a discovered bridge."""
        if user_input is not None:
            return self._async_create()
        self._set_confirm_only()
        devices = self._info.get("devices")
        return self.async_show_form(
            step_id="discovery_confirm",
            description_placeholders={
                "prefix": self._prefix,
                "version": str(self._info.get("version", "?")),
                "vehicles": str(len(devices) if isinstance(devices, list) else 0),
            },
        )

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Add a bridge by its topic prefix; it must answer on `<prefix>/bridge/info`."""
        if not await mqtt.async_wait_for_mqtt_client(self.hass):
            return self.async_abort(reason="mqtt_not_connected")
        errors: dict[str, str] = {}
        prefix = self._prefix
        if user_input is not None:
            prefix = user_input[CONF_TOPIC_PREFIX].strip().strip("/")
            try:
                # Legal in MQTT, but an empty level is always a typo in a prefix.
                if "" in prefix.split("/"):
                    raise vol.Invalid("empty level")
                # Also rejects + and #: the prefix is used in published topics.
                mqtt.valid_publish_topic(f"{prefix}{INFO_SUFFIX}")
            except vol.Invalid:
                errors[CONF_TOPIC_PREFIX] = "invalid_prefix"
            else:
                await self.async_set_unique_id(prefix)
                self._abort_if_unique_id_configured()
                if (info := await async_probe_bridge(self.hass, prefix)) is None:
                    errors["base"] = "bridge_not_found"
                else:
                    self._prefix, self._info = prefix, info
                    return self._async_create()
        schema = vol.Schema({vol.Required(CONF_TOPIC_PREFIX): str})
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(
                schema, user_input or {CONF_TOPIC_PREFIX: self._prefix}
            ),
            errors=errors,
            # The bridge_not_found error names the topic nobody answered on.
            description_placeholders={"prefix": prefix},
        )

    @callback
    def _async_create(self) -> ConfigFlowResult:
        return self.async_create_entry(
            title=_bridge_title(self._prefix),
            data={CONF_TOPIC_PREFIX: self._prefix},
            options={CONF_STORE_MEDIA: DEFAULT_STORE_MEDIA, CONF_MEDIA_DIR: "", CONF_VEHICLES: []},
        )


def _usable_dir(path: str) -> bool:
    """Create the folder if needed; True if Home Assistant can write there."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK)


class DualCamOptionsFlow(OptionsFlow):
    """Store clips locally (and where), and which vehicles to add (none = all)."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Single options form."""
        errors: dict[str, str] = {}
        if user_input is not None:
            media_dir = (user_input.get(CONF_MEDIA_DIR) or "").strip()
            vehicles = [str(v).strip() for v in user_input.get(CONF_VEHICLES, [])]
            if media_dir and not os.path.isabs(media_dir):
                errors[CONF_MEDIA_DIR] = "media_dir_not_absolute"
            elif media_dir and not await self.hass.async_add_executor_job(_usable_dir, media_dir):
                errors[CONF_MEDIA_DIR] = "media_dir_not_writable"
            if not all(is_imei(v) for v in vehicles):
                errors[CONF_VEHICLES] = "invalid_imei"
            if not errors:
                return self.async_create_entry(
                    data={
                        CONF_STORE_MEDIA: user_input[CONF_STORE_MEDIA],
                        CONF_MEDIA_DIR: media_dir,
                        CONF_VEHICLES: sorted(set(vehicles)),
                    }
                )
        current = {
            CONF_STORE_MEDIA: self.config_entry.options.get(CONF_STORE_MEDIA, DEFAULT_STORE_MEDIA),
            CONF_MEDIA_DIR: self.config_entry.options.get(CONF_MEDIA_DIR)
            or default_media_dir(self.hass),
            CONF_VEHICLES: self.config_entry.options.get(CONF_VEHICLES, []),
        }
        schema = vol.Schema(
            {
                vol.Required(CONF_STORE_MEDIA): BooleanSelector(),
                vol.Optional(CONF_MEDIA_DIR): TextSelector(),
                vol.Optional(CONF_VEHICLES): SelectSelector(
                    SelectSelectorConfig(
                        options=self._vehicle_options(current[CONF_VEHICLES]),
                        multiple=True,
                        custom_value=True,
                        mode=SelectSelectorMode.DROPDOWN,
                    )
                ),
            }
        )
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(schema, user_input or current),
            errors=errors,
        )

    def _vehicle_options(self, selected: list[str]) -> list[SelectOptionDict]:
        """Every IMEI the bridge mentioned plus those already chosen, named when known."""
        names: dict[str, str] = dict.fromkeys(selected, "")
        if self.config_entry.state is ConfigEntryState.LOADED:
            bridge: DualCamBridge = self.config_entry.runtime_data
            names.update(dict.fromkeys(bridge.seen_imeis - names.keys(), ""))
            names.update({imei: v.name or "" for imei, v in bridge.vehicles.items() if v.name})
        return [
            SelectOptionDict(value=imei, label=f"{name} ({imei})" if name else imei)
            for imei, name in sorted(names.items())
        ]
