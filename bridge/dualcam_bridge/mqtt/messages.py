"""What each domain event becomes in the outbox (transfer progress excepted: not durable).

Only builds messages: the device table (:mod:`.devices`) is updated by the publisher, which
hands the resulting :class:`~.devices.DeviceUpdate` in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from .. import __version__
from ..config import MqttConfig
from ..events import (
    CameraStateChanged,
    DeviceSeen,
    DomainEvent,
    MediaCompleted,
    MediaVariantReady,
    PositionUpdated,
    SosTriggered,
    TrackerAvailability,
)
from ..http.links import MediaUrls
from . import topics as t
from .devices import DeviceRecord, DeviceUpdate
from .discovery import device_configs
from .outbox import OutMessage, Priority

log = logging.getLogger(__name__)

BRIDGE_LANE = "bridge"  # the outbox lane of the bridge's own messages
# The signed links of a stored file (the HTTP service's); None when HTTP is off.
LinkMaker = Callable[[MediaCompleted], MediaUrls]


def variant_once_key(media_id: str, variant: str) -> str:
    """The outbox's once-only key of a variant's media event (the original's is its id)."""
    return f"{media_id}:{variant}"


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
    """Maps domain events to contract messages (the device table is the caller's)."""

    def __init__(
        self,
        config: MqttConfig,
        info: BridgeInfo,
        started_at: datetime,
        links: LinkMaker | None = None,
    ) -> None:
        self.config = config
        self.topics = t.Topics(config.topic_prefix)
        self._info = info
        self._started_at = started_at
        self._links = links

    def for_event(self, event: DomainEvent) -> Batch | None:
        """The messages of one event (device updates excepted: see :meth:`device_update`)."""
        tp = self.topics
        match event:
            case MediaCompleted():
                return self._media(event)
            case MediaVariantReady(media=media, variant=variant):
                payload = t.media_payload(media, self._urls(media), variant)
                return Batch(
                    [OutMessage(media.imei, tp.media(media.imei), payload)],
                    media_id=variant_once_key(media.id, variant),
                )
            case CameraStateChanged():
                topic = tp.camera_state(event.imei, event.camera)
                return Batch([self._state(event.imei, topic, t.camera_state_payload(event))])
            case PositionUpdated():
                payload = t.position_payload(event.position)
                return Batch([self._state(event.imei, tp.position(event.imei), payload)])
            case TrackerAvailability():
                payload = t.availability_payload(event.online)
                return Batch([self._state(event.imei, tp.availability(event.imei), payload)])
            case SosTriggered():
                return Batch([OutMessage(event.imei, tp.sos(event.imei), t.sos_payload(event))])
            case DeviceSeen():
                return None  # all it says is in the device update
            case _:
                log.debug("no MQTT messages for %r", event)
                return None

    def device_update(self, update: DeviceUpdate, devices: list[str]) -> Batch:
        """``P/<imei>/info``; ``P/bridge/info`` for a new device; discovery if new or renamed."""
        batch = Batch([self._device_info(update.record)])
        if update.new:
            batch.messages.append(self.bridge_info(devices))
        if update.new or update.renamed:
            batch.messages.extend(self._discovery(update.record))
        return batch

    def bridge_info(self, devices: list[str]) -> OutMessage:
        """``P/bridge/info`` listing the devices known now: ``devices`` seen or configured."""
        payload = t.bridge_info_payload(
            self._info.version,
            self._started_at,
            self._info.camera_port,
            self._info.avl_port,
            sorted({*devices, *self._info.configured_devices}),
        )
        return self._state(BRIDGE_LANE, self.topics.bridge_info, payload)

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
        elif self.config.publish_video_payload:
            topic = tp.video(imei, event.camera)
            batch.messages.append(
                OutMessage(imei, topic, path=event.payload_path, priority=Priority.BULK)
            )
        payload = t.media_payload(event, self._urls(event))
        batch.messages.append(OutMessage(imei, tp.media(imei), payload))
        return batch

    def _urls(self, media: MediaCompleted) -> MediaUrls | None:
        return self._links(media) if self._links is not None else None

    def _state(self, device: str, topic: str, payload: bytes) -> OutMessage:
        return OutMessage(device, topic, payload, retain=True, priority=Priority.STATE)

    def _device_info(self, d: DeviceRecord) -> OutMessage:
        payload = t.device_info_payload(d.imei, d.name, d.first_seen, d.last_seen, d.protocol_id)
        return self._state(d.imei, self.topics.device_info(d.imei), payload)

    def _discovery(self, record: DeviceRecord) -> list[OutMessage]:
        if not self.config.homeassistant_discovery:
            return []
        configs = device_configs(
            self.topics, self.config.discovery_prefix, record, self._info.version
        )
        return [self._state(record.imei, topic, payload) for topic, payload in configs]
