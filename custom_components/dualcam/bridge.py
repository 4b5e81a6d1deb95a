"""The bridge as seen through MQTT: subscriptions, per-vehicle state, commands, events.

Every message from the bridge enters here (the contract's subscriptions). Entities read the
state kept here and listen to their vehicle; they never touch MQTT themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from homeassistant.components import mqtt
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr
from homeassistant.util import dt as dt_util

from . import contract as c
from .command_client import CommandClient
from .const import (
    BRIDGE_MANUFACTURER,
    BRIDGE_MODEL,
    CONF_MEDIA_DIR,
    CONF_STORE_MEDIA,
    CONF_TOPIC_PREFIX,
    CONF_VEHICLES,
    DEFAULT_STORE_MEDIA,
    DOMAIN,
    EVENT_MEDIA_RECEIVED,
    EVENT_MEDIA_SAVED,
    EVENT_SOS,
    MANUFACTURER,
    MODEL,
)
from .media_events import link_clip_to_sos, media_received_data, media_saved_data
from .media_index import Change, MediaIndex, MediaItem
from .media_saver import MediaSaver
from .media_store import default_media_dir
from .models import (
    CameraStatus,
    MediaInfo,
    Photo,
    Position,
    SosReport,
    Transfer,
    Update,
    Vehicle,
    parse_json,
)

_LOGGER = logging.getLogger(__name__)
_T = TypeVar("_T")

VehicleAdded = Callable[[Vehicle], None]
MessageHandler = Callable[[mqtt.ReceiveMessage], None]

# A DualCam config entry: its runtime_data is the bridge set up for it.
type DualCamConfigEntry = ConfigEntry[DualCamBridge]


def _binary(payload: str | bytes | bytearray) -> bytes:
    """A payload subscribed with encoding=None: bytes, never str (encoded should it be)."""
    return payload.encode() if isinstance(payload, str) else bytes(payload)


class DualCamBridge:
    """One bridge (one topic prefix) and the vehicles it reports."""

    def __init__(self, hass: HomeAssistant, entry: DualCamConfigEntry) -> None:
        """Read the entry's settings; nothing is subscribed until async_start."""
        self.hass = hass
        self.entry = entry
        self.prefix: str = entry.data[CONF_TOPIC_PREFIX]
        # The options this instance was built from; a change means a reload.
        self.options: dict[str, Any] = dict(entry.options)
        # An empty selection means every vehicle the bridge reports.
        self.selected: set[str] = set(entry.options.get(CONF_VEHICLES) or ())
        self.online: bool | None = None
        self.mqtt_connected = False
        self.info: dict[str, Any] = {}
        self.vehicles: dict[str, Vehicle] = {}
        self.seen_imeis: set[str] = set()
        self.device_identifier = (DOMAIN, f"bridge/{self.prefix}")
        self.device_id: str | None = None  # the bridge's device, once registered
        # What the bridge reported (the media browser), and the saved copies (the option).
        self.media_index = MediaIndex(hass, entry.entry_id)
        self.saver = MediaSaver(
            hass,
            entry,
            self.media_index,
            Path(entry.options.get(CONF_MEDIA_DIR) or default_media_dir(hass)),
            entry.options.get(CONF_STORE_MEDIA, DEFAULT_STORE_MEDIA),
            self.vehicle_name,
            self._media_saved,
        )
        self._added_listeners: list[VehicleAdded] = []
        self.commands = CommandClient(hass, self.prefix)
        self._unsubscribe: list[CALLBACK_TYPE] = []

    # -- lifecycle -----------------------------------------------------------------

    async def async_start(self) -> None:
        """Load the media index, register the bridge device, subscribe to the contract."""
        await self.media_index.async_load()
        device = dr.async_get(self.hass).async_get_or_create(
            config_entry_id=self.entry.entry_id,
            identifiers={self.device_identifier},
            name=self.entry.title,
            manufacturer=BRIDGE_MANUFACTURER,
            model=BRIDGE_MODEL,
            entry_type=dr.DeviceEntryType.SERVICE,
        )
        self.device_id = device.id
        self.mqtt_connected = mqtt.is_connected(self.hass)
        self._unsubscribe.append(
            mqtt.async_subscribe_connection_status(self.hass, self._on_connection)
        )
        # Every topic the bridge publishes (contract.TOPICS) but the command it subscribes to
        # and clip payloads: clips are fetched from the bridge's links on demand.
        handlers: dict[str, tuple[MessageHandler, str | None]] = {
            c.TOPIC_BRIDGE_STATUS: (self._on_bridge_status, "utf-8"),
            c.TOPIC_BRIDGE_INFO: (self._on_bridge_info, "utf-8"),
            c.TOPIC_DEVICE_INFO: (self._on_info, "utf-8"),
            c.TOPIC_AVAILABILITY: (self._on_availability, "utf-8"),
            c.TOPIC_CAMERA_STATE: (self._on_camera_state, "utf-8"),
            c.TOPIC_PHOTO: (self._on_photo, None),
            c.TOPIC_MEDIA: (self._on_media, "utf-8"),
            c.TOPIC_TRANSFER: (self._on_transfer, "utf-8"),
            c.TOPIC_SOS: (self._on_sos, "utf-8"),
            c.TOPIC_POSITION: (self._on_position, "utf-8"),
            c.TOPIC_COMMAND_RESULT: (self.commands.handle_result, "utf-8"),
        }
        for pattern, (handler, encoding) in handlers.items():
            topic = c.topic(self.prefix, pattern)
            self._unsubscribe.append(
                await mqtt.async_subscribe(self.hass, topic, handler, qos=1, encoding=encoding)
            )
        self.saver.async_start()

    async def async_stop(self) -> None:
        """Undo async_start: subscriptions, downloads, waiting commands; write the index."""
        while self._unsubscribe:
            self._unsubscribe.pop()()
        self.saver.async_stop()
        self.commands.async_fail_all()
        self._added_listeners.clear()
        await self.media_index.async_save()

    # -- what entities use ---------------------------------------------------------

    @property
    def available(self) -> bool:
        """MQTT is connected and the bridge says it is online."""
        return self.mqtt_connected and self.online is True

    @callback
    def async_add_vehicle_listener(self, listener: VehicleAdded) -> CALLBACK_TYPE:
        """Call listener for each known vehicle now and each new one later."""
        for vehicle in self.vehicles.values():
            if vehicle.device_id:
                listener(vehicle)
        self._added_listeners.append(listener)
        return lambda: self._added_listeners.remove(listener)

    def vehicle_name(self, imei: str) -> str:
        """A vehicle's name for log lines and events (its IMEI when it has none)."""
        vehicle = self.vehicles.get(imei)
        return vehicle.display_name if vehicle else imei

    def vehicle_by_device_id(self, device_id: str) -> Vehicle | None:
        """The vehicle behind a device registry id."""
        return next((v for v in self.vehicles.values() if v.device_id == device_id), None)

    async def async_send_command(
        self, vehicle: Vehicle, command: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        """Publish a command and return the bridge's command/result for it.

        Raises HomeAssistantError when the bridge is offline, does not answer in time,
        or answers ok:false (the message then carries what the tracker said).
        """
        if not self.available:
            # Nobody would receive it: commands are not retained.
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="bridge_offline",
                translation_placeholders={"name": vehicle.display_name, "prefix": self.prefix},
            )
        return await self.commands.async_send(vehicle.imei, vehicle.display_name, command, timeout)

    # -- message handlers ----------------------------------------------------------

    def _vehicle(self, topic: str) -> Vehicle | None:
        """The selected vehicle a `P/<imei>/...` topic is about, created on first sight."""
        imei = topic[len(self.prefix) + 1 :].split("/", 1)[0]
        if not c.is_imei(imei):
            return None  # e.g. P/bridge/info, which also matches P/+/info
        self.seen_imeis.add(imei)
        if self.selected and imei not in self.selected:
            return None
        if (vehicle := self.vehicles.get(imei)) is None:
            vehicle = self.vehicles[imei] = Vehicle(imei)
        return vehicle

    @staticmethod
    def _camera(topic: str) -> str | None:
        camera = topic.split("/")[-2]
        return camera if camera in c.CAMERAS else None

    def _parse(self, msg: mqtt.ReceiveMessage, parser: Callable[[dict[str, Any]], _T]) -> _T | None:
        """The message as parser reads it, or None (logged): a bad message changes nothing."""
        try:
            return parser(parse_json(msg.payload))
        except ValueError as err:
            _LOGGER.warning("Ignoring %s: %s", msg.topic, err)
            return None

    @callback
    def _on_connection(self, connected: bool) -> None:
        self.mqtt_connected = connected
        self._notify_all()

    @callback
    def _on_bridge_status(self, msg: mqtt.ReceiveMessage) -> None:
        if msg.payload not in (c.ONLINE, c.OFFLINE):
            _LOGGER.warning("Ignoring %s: %r", msg.topic, msg.payload)
            return
        self.online = msg.payload == c.ONLINE
        self._notify_all()

    @callback
    def _on_bridge_info(self, msg: mqtt.ReceiveMessage) -> None:
        if (data := self._parse(msg, dict)) is None:
            return
        self.info = data
        devices = data.get("devices")
        if isinstance(devices, list):
            self.seen_imeis.update(str(d) for d in devices if c.is_imei(str(d)))
        if isinstance(version := data.get("version"), str):
            dr.async_get(self.hass).async_get_or_create(
                config_entry_id=self.entry.entry_id,
                identifiers={self.device_identifier},
                sw_version=version,
            )

    @callback
    def _on_info(self, msg: mqtt.ReceiveMessage) -> None:
        if (vehicle := self._vehicle(msg.topic)) is None:
            return
        if (data := self._parse(msg, dict)) is None:
            return
        vehicle.info = data
        name = data.get("name")
        vehicle.name = name if isinstance(name, str) and name else None
        registry = dr.async_get(self.hass)
        device = registry.async_get_or_create(
            config_entry_id=self.entry.entry_id,
            identifiers={(DOMAIN, vehicle.imei)},
            name=vehicle.display_name,
            manufacturer=MANUFACTURER,
            model=MODEL,
            serial_number=vehicle.imei,
        )
        # Linked by id: `via_device=` is deprecated in 2026.10 (stops working in 2027.8), and
        # 2026.4's `async_get_or_create` takes no `via_device_id`; `async_update_device` takes
        # it in both.
        if device.via_device_id != self.device_id:
            device = registry.async_update_device(device.id, via_device_id=self.device_id) or device
        if vehicle.device_id is None:
            vehicle.device_id = device.id
            for listener in list(self._added_listeners):
                listener(vehicle)
        else:
            vehicle.async_notify(Update.INFO)

    @callback
    def _on_availability(self, msg: mqtt.ReceiveMessage) -> None:
        if (vehicle := self._vehicle(msg.topic)) is None:
            return
        if msg.payload not in (c.ONLINE, c.OFFLINE):
            _LOGGER.warning("Ignoring %s: %r", msg.topic, msg.payload)
            return
        vehicle.online = msg.payload == c.ONLINE
        vehicle.async_notify(Update.AVAILABILITY)

    @callback
    def _on_camera_state(self, msg: mqtt.ReceiveMessage) -> None:
        vehicle, camera = self._vehicle(msg.topic), self._camera(msg.topic)
        if vehicle is None or camera is None:
            return
        if (status := self._parse(msg, CameraStatus.from_json)) is None:
            return
        vehicle.camera_states[camera] = status
        vehicle.async_notify(Update.CAMERA_STATE, camera)

    @callback
    def _on_photo(self, msg: mqtt.ReceiveMessage) -> None:
        vehicle, camera = self._vehicle(msg.topic), self._camera(msg.topic)
        if vehicle is None or camera is None or not msg.payload:
            return
        data = _binary(msg.payload)
        vehicle.photos[camera] = Photo(data, dt_util.utcnow())
        vehicle.async_notify(Update.PHOTO, camera)

    @callback
    def _on_media(self, msg: mqtt.ReceiveMessage) -> None:
        if (vehicle := self._vehicle(msg.topic)) is None:
            return
        if (info := self._parse(msg, MediaInfo.from_json)) is None:
            return
        item, change = self.media_index.async_add(vehicle.imei, info)
        if change is Change.NONE:
            return  # QoS 1 delivered it again
        if change is Change.NEW:
            vehicle.last_media = info
            vehicle.async_notify(Update.MEDIA, info.camera)
            if link_clip_to_sos(vehicle, item, self.entry.entry_id):
                vehicle.async_notify(Update.SOS_CLIP, info.camera)
        self.saver.async_request(item)
        self.hass.bus.async_fire(
            EVENT_MEDIA_RECEIVED,
            {
                **self._vehicle_event_data(vehicle),
                **media_received_data(self.hass, self.entry.entry_id, item, change),
            },
        )

    @callback
    def _on_transfer(self, msg: mqtt.ReceiveMessage) -> None:
        if (vehicle := self._vehicle(msg.topic)) is None:
            return
        if (transfer := self._parse(msg, Transfer.from_json)) is None:
            return
        vehicle.transfer = transfer
        vehicle.async_notify(Update.TRANSFER, transfer.camera)

    @callback
    def _on_sos(self, msg: mqtt.ReceiveMessage) -> None:
        if (vehicle := self._vehicle(msg.topic)) is None:
            return
        if msg.retain:
            # The bridge never retains an SOS: a retained one is old news (another publisher,
            # a test message left on the broker) that every (re)subscription would replay.
            _LOGGER.debug("Ignoring retained %s", msg.topic)
            return
        if (report := self._parse(msg, SosReport.from_json)) is None:
            return
        if not vehicle.remember_sos(report.key):
            _LOGGER.debug("Ignoring %s: this SOS was already reported", msg.topic)
            return
        vehicle.last_sos = report
        vehicle.async_notify(Update.SOS)
        self.hass.bus.async_fire(
            EVENT_SOS,
            {
                **self._vehicle_event_data(vehicle),
                "trigger": report.trigger,
                "value": report.value,
                "timestamp": report.timestamp.isoformat() if report.timestamp else None,
                "position": report.position,
            },
        )

    @callback
    def _on_position(self, msg: mqtt.ReceiveMessage) -> None:
        if (vehicle := self._vehicle(msg.topic)) is None:
            return
        if (position := self._parse(msg, Position.from_json)) is None:
            return
        vehicle.position = position
        vehicle.async_notify(Update.POSITION)

    # -- media and events ----------------------------------------------------------

    def _notify_all(self) -> None:
        for vehicle in self.vehicles.values():
            vehicle.async_notify(Update.AVAILABILITY)

    def _vehicle_event_data(self, vehicle: Vehicle) -> dict[str, Any]:
        return {"device_id": vehicle.device_id, "imei": vehicle.imei, "name": vehicle.display_name}

    @callback
    def _media_saved(self, item: MediaItem) -> None:
        """A saved copy is complete."""
        vehicle = self.vehicles.get(item.imei) or Vehicle(item.imei)
        self.hass.bus.async_fire(
            EVENT_MEDIA_SAVED,
            {
                **self._vehicle_event_data(vehicle),
                **media_saved_data(self.entry.entry_id, self.saver.root, item),
            },
        )
