"""What each domain event becomes in the outbox (transfer progress excepted: not durable)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from .. import __version__
from ..events import (
    BridgeEvent,
    CameraStateChanged,
    DeviceSeen,
    MediaCompleted,
    PositionUpdated,
    SosTriggered,
    TrackerAvailability,
)
from . import topics as t
from .config import MqttSettings
from .devices import DeviceRecord, SeenDevices
from .discovery import device_configs
from .outbox import OutMessage, Priority

log = logging.getLogger(__name__)

BRIDGE = "bridge"  # the outbox lane of the bridge's own messages
MediaUrl = Callable[[MediaCompleted], str | None]


@dataclass(frozen=True, slots=True)
class BridgeInfo:
    """What ``P/bridge/info`` says about this bridge."""

    version: str = __version__
    camera_port: int | None = None
    avl_port: int | None = None
    # The config's ``devices``: known before they ever connect (a discovery dialog counts them).
    configured_devices: tuple[str, ...] = ()


@dataclass(slots=True)
class Batch:
    """Messages queued in one transaction; ``media_id`` makes the batch once-only."""

    messages: list[OutMessage] = field(default_factory=list)
    media_id: str | None = None


class EventMessages:
    """Maps domain events to contract messages and keeps the device registry current."""

    def __init__(
        self,
        settings: MqttSettings,
        devices: SeenDevices,
        info: BridgeInfo,
        started_at: datetime,
        media_url: MediaUrl | None = None,
    ) -> None:
        self.settings = settings
        self.topics = t.Topics(settings.topic_prefix)
        self._devices = devices
        self._info = info
        self._started_at = started_at
        self._media_url = media_url

    def for_event(self, event: BridgeEvent) -> list[Batch]:
        """The batches to queue for one event (a new device first gets its info topics)."""
        tp = self.topics
        if isinstance(event, DeviceSeen):
            return [self._device_seen(event)]
        match event:
            case MediaCompleted():
                when, batch = event.received_at, self._media(event)
            case CameraStateChanged():
                topic = tp.camera_state(event.imei, event.camera)
                when, msg = (
                    event.timestamp,
                    self._state(event.imei, topic, t.camera_state_payload(event)),
                )
                batch = Batch([msg])
            case PositionUpdated():
                payload = t.position_payload(event.position)
                when = event.position.timestamp
                batch = Batch([self._state(event.imei, tp.position(event.imei), payload)])
            case TrackerAvailability():
                payload = t.availability_payload(event.online)
                when = event.timestamp
                batch = Batch([self._state(event.imei, tp.availability(event.imei), payload)])
            case SosTriggered():
                when = event.timestamp
                batch = Batch([OutMessage(event.imei, tp.sos(event.imei), t.sos_payload(event))])
            case _:
                log.debug("no MQTT messages for %r", event)
                return []
        return [*self._touch(event.imei, when), batch]

    def bridge_info(self) -> OutMessage:
        """``P/bridge/info`` with the devices known now: configured or seen."""
        payload = t.bridge_info_payload(
            self._info.version,
            self._started_at,
            self._info.camera_port,
            self._info.avl_port,
            {*self._devices.imeis, *self._info.configured_devices},
        )
        return self._state(BRIDGE, self.topics.bridge_info, payload)

    def _media(self, event: MediaCompleted) -> Batch:
        imei, tp = event.imei, self.topics
        batch = Batch(media_id=event.id)
        # The bytes go first, so a subscriber that reacts to the media event finds them.
        if event.kind == "photo":
            topic = tp.photo(imei, event.camera)
            batch.messages.append(
                OutMessage(
                    imei, topic, path=event.payload_path, retain=True, priority=Priority.STATE
                )
            )
        elif self.settings.publish_video_payload:
            topic = tp.video(imei, event.camera)
            batch.messages.append(
                OutMessage(imei, topic, path=event.payload_path, priority=Priority.BULK)
            )
        url = self._media_url(event) if self._media_url else None
        batch.messages.append(OutMessage(imei, tp.media(imei), t.media_payload(event, url)))
        return batch

    def _device_seen(self, event: DeviceSeen) -> Batch:
        old = self._devices.get(event.imei)
        record, new = self._devices.seen(event.imei, event.name, event.protocol_id, event.timestamp)
        batch = Batch([self._device_info(record)])
        if new:
            batch.messages.append(self.bridge_info())
        if new or (old is not None and old.name != record.name):
            batch.messages.extend(self._discovery(record))
        return batch

    def _touch(self, imei: str, when: datetime) -> list[Batch]:
        # Any event makes a device known: it is listed in bridge/info and gets its info topic.
        if not self._devices.touch(imei, when):
            return []
        record = self._devices.get(imei)
        assert record is not None
        return [Batch([self._device_info(record), self.bridge_info(), *self._discovery(record)])]

    def _state(self, device: str, topic: str, payload: bytes) -> OutMessage:
        return OutMessage(device, topic, payload, retain=True, priority=Priority.STATE)

    def _device_info(self, d: DeviceRecord) -> OutMessage:
        payload = t.device_info_payload(d.imei, d.name, d.first_seen, d.last_seen, d.protocol_id)
        return self._state(d.imei, self.topics.device_info(d.imei), payload)

    def _discovery(self, record: DeviceRecord) -> list[OutMessage]:
        if not self.settings.homeassistant_discovery:
            return []
        configs = device_configs(
            self.topics, self.settings.discovery_prefix, record, self._info.version
        )
        return [self._state(record.imei, topic, payload) for topic, payload in configs]
