"""MQTT: the contract's topics, a durable outbox, one reconnecting client, commands, discovery.

Shortest real use (the app also starts the :class:`EmbeddedBroker` when ``config.mqtt.embedded``)::

    async with MqttPublisher(config.mqtt, data_dir / "mqtt.sqlite3") as mqtt:
        bus.subscribe(mqtt.handle_event)  # dualcam_bridge.bus.EventBus
        await mqtt.handle_event(event)  # any dualcam_bridge.events event
"""

from ..config import MqttConfig, TlsConfig
from .broker import EmbeddedBroker, EmbeddedBrokerError
from .client import Backoff
from .commands import CommandHandler, unavailable_command_handler
from .messages import BridgeInfo
from .publisher import MqttPublisher
from .topics import Topics

__all__ = [
    "Backoff",
    "BridgeInfo",
    "CommandHandler",
    "EmbeddedBroker",
    "EmbeddedBrokerError",
    "MqttConfig",
    "MqttPublisher",
    "TlsConfig",
    "Topics",
    "unavailable_command_handler",
]
