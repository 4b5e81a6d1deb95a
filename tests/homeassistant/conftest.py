"""Shared fixtures: a mocked MQTT broker, a configured bridge entry, a fake bridge.

The fake bridge answers commands over the mocked MQTT exactly as the contract says, so
tests exercise the integration's real subscriptions and payloads end to end inside HA.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, Callable, Generator, Iterator
from pathlib import Path
from typing import Any
from unittest.mock import Mock

import pytest
from e2e import Processes
from homeassistant.components import mqtt
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import frame
from media_server import MediaServer
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_mqtt_message,
)
from pytest_homeassistant_custom_component.typing import MqttMockHAClient

from custom_components.dualcam.const import (
    CONF_MEDIA_DIR,
    CONF_STORE_MEDIA,
    CONF_TOPIC_PREFIX,
    CONF_VEHICLES,
    DOMAIN,
)
from custom_components.dualcam.registry import async_entry_device

PREFIX = "dualcam"
IMEI = "352094082736916"
IMEI2 = "350612071913857"
NAME = "Van 1"
# Not decodable images, but the integration passes bytes through untouched.
FRONT_JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00front" + bytes(range(256)) + b"\xff\xd9"
REAR_JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00rear" + bytes(range(255, -1, -1)) + b"\xff\xd9"
BRIDGE_INFO = {
    "version": "0.1.0",
    "started_at": "2025-05-01T10:00:00Z",
    "camera_port": 5028,
    "avl_port": 5027,
    "devices": [IMEI],
}
POSITION = {
    "latitude": 54.6872,
    "longitude": 25.2797,
    "altitude": 112,
    "angle": 270,
    "speed": 48,
    "satellites": 11,
    "timestamp": "2025-05-01T10:01:02Z",
}


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let HA load custom_components/dualcam."""


class _FrameReports(logging.Handler):
    """Collects Home Assistant's frame reports (deprecated or wrong API use)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture(autouse=True)
def fail_on_frame_reports() -> Generator[None]:
    """A frame report is an error, not a log line.

    Home Assistant only logs (once per call site) when a custom integration uses a deprecated
    API, e.g. ``async_get_or_create(via_device=...)``; those stop working a few releases
    later. Every test fails on one, on each supported release.
    """
    # Reported call sites are remembered per process: forget them so each test reports again.
    if isinstance(reported := getattr(frame, "_REPORTED_INTEGRATIONS", None), set):
        reported.clear()
    reports = _FrameReports()
    logger = logging.getLogger(frame.__name__)
    logger.addHandler(reports)
    try:
        yield
    finally:
        logger.removeHandler(reports)
    if reports.messages:
        pytest.fail("Home Assistant reported API misuse:\n" + "\n".join(reports.messages))


def get_device(hass: HomeAssistant, identifier: str) -> dr.DeviceEntry | None:
    """The DualCam device whose identifier is (dualcam, identifier), in any DualCam entry."""
    for entry in hass.config_entries.async_entries(DOMAIN):
        if device := async_entry_device(hass, entry.entry_id, (DOMAIN, identifier)):
            return device
    return None


@pytest.fixture
def mqtt_client_mock(mqtt_client_mock: Mock) -> Generator[Mock]:
    """Close the mocked socket at teardown so no MQTT misc timer lingers."""
    yield mqtt_client_mock
    mqtt_client_mock.on_socket_close(mqtt_client_mock, None, Mock(fileno=Mock(return_value=-1)))


@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    """Where the integration saves clips in a test."""
    return tmp_path / "media" / "dualcam"


@pytest.fixture
def entry_options(media_dir: Path) -> dict[str, Any]:
    """Options of the test entry (override in a module to change them)."""
    return {CONF_STORE_MEDIA: True, CONF_MEDIA_DIR: str(media_dir), CONF_VEHICLES: []}


@pytest.fixture
def config_entry(hass: HomeAssistant, entry_options: dict[str, Any]) -> MockConfigEntry:
    """A DualCam entry for the default prefix, added to hass but not set up."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=f"DualCam bridge ({PREFIX})",
        unique_id=PREFIX,
        data={CONF_TOPIC_PREFIX: PREFIX},
        options=entry_options,
    )
    entry.add_to_hass(hass)
    return entry


@pytest.fixture
async def setup_entry(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, config_entry: MockConfigEntry
) -> MockConfigEntry:
    """The entry, set up against the mocked broker (no messages yet)."""
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    return config_entry


def fire(hass: HomeAssistant, topic: str, payload: Any, retain: bool = False) -> None:
    """Publish as the bridge would: dicts as JSON, bytes and text as they are."""
    if isinstance(payload, dict):
        payload = json.dumps(payload)
    async_fire_mqtt_message(hass, f"{PREFIX}/{topic}", payload, qos=1, retain=retain)


def publish_bridge(hass: HomeAssistant, retain: bool = True) -> None:
    """The bridge's own retained topics."""
    fire(hass, "bridge/status", "online", retain)
    fire(hass, "bridge/info", BRIDGE_INFO, retain)


def publish_vehicle(
    hass: HomeAssistant, imei: str = IMEI, name: str = NAME, retain: bool = True
) -> None:
    """Everything a vehicle has retained: info, availability, states, photos, position."""
    fire(
        hass,
        f"{imei}/info",
        {
            "imei": imei,
            "name": name,
            "first_seen": "2025-05-01T09:00:00Z",
            "last_seen": "2025-05-01T10:01:02Z",
            "protocol_id": 5,
        },
        retain,
    )
    fire(hass, f"{imei}/availability", "online", retain)
    fire(
        hass,
        f"{imei}/camera/front/state",
        {"value": 1, "state": "no_card", "timestamp": "2025-05-01T10:00:00Z"},
        retain,
    )
    fire(
        hass,
        f"{imei}/camera/rear/state",
        {"value": 0, "state": "not_detected", "timestamp": "2025-05-01T10:00:00Z"},
        retain,
    )
    fire(hass, f"{imei}/camera/front/photo", FRONT_JPEG, retain)
    fire(hass, f"{imei}/camera/rear/photo", REAR_JPEG, retain)
    fire(hass, f"{imei}/position", POSITION, retain)


@pytest.fixture
async def loaded(hass: HomeAssistant, setup_entry: MockConfigEntry) -> MockConfigEntry:
    """A set-up entry that has received the bridge's and one vehicle's retained state."""
    publish_bridge(hass)
    publish_vehicle(hass)
    await hass.async_block_till_done()
    return setup_entry


class FakeBridge:
    """Answers `P/<imei>/command` on the mocked broker like the bridge's command router."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Answer ok by default; set `answer` to change that (None = stay silent)."""
        self.hass = hass
        self.commands: list[tuple[str, dict[str, Any]]] = []
        self.answer: Callable[[dict[str, Any]], dict[str, Any] | None] | None = lambda c: {
            "id": c.get("id"),
            "ok": True,
            "command": c["command"],
            "response": "Request for photo from source 3 received",
            "error": None,
        }

    async def async_start(self) -> None:
        """Subscribe to the command topics."""
        await mqtt.async_subscribe(self.hass, f"{PREFIX}/+/command", self._on_command)

    @callback
    def _on_command(self, msg: mqtt.ReceiveMessage) -> None:
        imei = msg.topic.split("/")[1]
        command = json.loads(msg.payload)
        self.commands.append((imei, command))
        if self.answer is not None and (result := self.answer(command)) is not None:
            # Answer on the next loop turn, like a real round trip.
            self.hass.loop.call_soon(fire, self.hass, f"{imei}/command/result", result)


@pytest.fixture
async def fake_bridge(hass: HomeAssistant, loaded: MockConfigEntry) -> FakeBridge:
    """A loaded entry plus a bridge that answers its commands."""
    bridge = FakeBridge(hass)
    await bridge.async_start()
    return bridge


@pytest.fixture
async def media_server(socket_enabled: None, tmp_path: Path) -> AsyncGenerator[MediaServer]:
    """The bridge's HTTP service as far as media goes: real files on 127.0.0.1."""
    server = MediaServer(tmp_path / "bridge-files")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


class EventWaiter:
    """Collects events of a type from now on; `await waiter.wait(n)` returns the first n."""

    def __init__(self, hass: HomeAssistant, event_type: str) -> None:
        """Start listening."""
        self.events: list[Event] = []
        self._changed = asyncio.Event()
        self._unsub = hass.bus.async_listen(event_type, self._on_event)

    @callback
    def _on_event(self, event: Event) -> None:
        self.events.append(event)
        self._changed.set()

    async def wait(self, count: int = 1, timeout: float = 10) -> list[Event]:
        """Wait until count events have arrived."""
        async with asyncio.timeout(timeout):
            while len(self.events) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.events[:count]


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    """Child processes that are stopped whatever happens (their logs are printed on failure)."""
    procs = Processes(tmp_path)
    try:
        yield procs
    finally:
        procs.stop_all()
        print(procs.report())  # pytest shows it only when the test failed
