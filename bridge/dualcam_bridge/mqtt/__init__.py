"""MQTT: the contract's topics, a durable outbox, one reconnecting client, commands, discovery.

Shortest real use::

    settings = MqttSettings.from_config(config.raw["mqtt"])
    async with MqttPublisher(settings, data_dir / "mqtt.sqlite3") as mqtt:
        bus.subscribe(mqtt.handle_event)  # dualcam_bridge.bus.EventBus
        await mqtt.handle_event(event)  # any dualcam_bridge.events event
"""

from .broker import EmbeddedBroker, EmbeddedBrokerError
from .client import Backoff
from .commands import CommandHandler, unavailable_command_handler
from .config import MQTT_SCHEMA, MqttSettings, TlsSettings
from .messages import BridgeInfo
from .publisher import MqttPublisher
from .topics import Topics

__all__ = [
    "MQTT_SCHEMA",
    "Backoff",
    "BridgeInfo",
    "CommandHandler",
    "EmbeddedBroker",
    "EmbeddedBrokerError",
    "MqttPublisher",
    "MqttSettings",
    "TlsSettings",
    "Topics",
    "unavailable_command_handler",
]
