"""Commands over MQTT: publish with a fresh id, await the `command/result` carrying it."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

from homeassistant.components import mqtt
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError

from .const import DOMAIN
from .contract import TOPIC_COMMAND, topic
from .models import parse_json

_LOGGER = logging.getLogger(__name__)

# command/result `status` (contract.COMMAND_STATUSES, all but "ok") -> translation key.
_STATUS_ERRORS = {
    "rejected": "command_rejected",
    "timeout": "command_no_answer",
    "expired": "command_expired",
    "offline": "command_offline",
    "invalid": "command_invalid",
    "cancelled": "command_cancelled",
    "error": "command_error",
}


class CommandClient:
    """Sends `P/<imei>/command` and matches each `P/<imei>/command/result` by its id."""

    def __init__(self, hass: HomeAssistant, prefix: str) -> None:
        """Commands for the bridge under prefix."""
        self._hass = hass
        self._prefix = prefix
        self.pending: dict[str, asyncio.Future[dict[str, Any]]] = {}

    async def async_send(
        self, imei: str, name: str, command: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        """The bridge's result for command; HomeAssistantError on timeout or ok:false.

        name is the vehicle's name, for messages the user reads.
        """
        command_id = uuid.uuid4().hex
        future: asyncio.Future[dict[str, Any]] = self._hass.loop.create_future()
        # Registered before publishing: the answer may come back before publish returns.
        self.pending[command_id] = future
        try:
            await mqtt.async_publish(
                self._hass,
                topic(self._prefix, TOPIC_COMMAND, imei),
                json.dumps({"id": command_id, **command}),
                qos=1,
                retain=False,
            )
            async with asyncio.timeout(timeout):
                result = await future
        except TimeoutError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="command_timeout",
                translation_placeholders={"name": name, "timeout": str(timeout)},
            ) from err
        finally:
            self.pending.pop(command_id, None)
        if result.get("ok") is not True:
            reason = result.get("error") or result.get("response") or "no reason given"
            # The bridge's status says why; a bridge from before statuses sends none.
            key = _STATUS_ERRORS.get(str(result.get("status")), "command_failed")
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key=key,
                translation_placeholders={"name": name, "error": str(reason)},
            )
        return result

    @callback
    def handle_result(self, msg: mqtt.ReceiveMessage) -> None:
        """A `command/result` arrived; results for ids we did not send are another client's."""
        try:
            data = parse_json(msg.payload)
        except ValueError as err:
            _LOGGER.warning("Ignoring %s: %s", msg.topic, err)
            return
        future = self.pending.get(str(data.get("id")))
        if future is not None and not future.done():
            future.set_result(data)

    @callback
    def async_fail_all(self) -> None:
        """On unload: every waiting caller is told why instead of seeing its call cancelled."""
        for future in self.pending.values():
            if not future.done():
                future.set_exception(
                    HomeAssistantError(
                        translation_domain=DOMAIN,
                        translation_key="bridge_unloaded",
                        translation_placeholders={"prefix": self._prefix},
                    )
                )
        self.pending.clear()
