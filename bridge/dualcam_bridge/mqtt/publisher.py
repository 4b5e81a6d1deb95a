"""The MQTT stage: domain events in, contract messages out; commands in, results out.

``MqttPublisher`` is the one entry object: ``async with MqttPublisher(config, path) as mqtt``
then ``await mqtt.handle_event(event)`` for every :mod:`dualcam_bridge.events` event. Each
message but transfer progress goes through the durable outbox, so events are accepted at once
whether or not a broker is reachable, and are delivered in order per device when one is.
The publisher only connects: the embedded broker (``mqtt.host`` unset) is the app's to start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import sqlite3
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import aiomqtt

from ..config import MqttConfig
from ..events import (
    DeliveryDelayed,
    DomainEvent,
    MediaCompleted,
    MediaVariantReady,
    TransferProgress,
)
from . import topics as t
from .client import CONNECT_TIMEOUT_S, Backoff, MqttConnection
from .commands import CommandHandler, run_command, unavailable_command_handler
from .devices import SeenDevices
from .messages import BRIDGE_LANE, BridgeInfo, EventMessages, LinkMaker
from .outbox import Outbox, OutboxItem, OutMessage, open_db

log = logging.getLogger(__name__)

REPUBLISH_CHUNK = 32
SUBSCRIBE_TIMEOUT_S = 10.0
GOODBYE_TIMEOUT_S = 5.0
# Called after each message is out (PUBACK for QoS 1): topic, payload, qos, retain.
PublishedHook = Callable[[str, bytes, int, bool], None]
# Called with a media id once its event is in the outbox (or was already published); for a
# variant's event (``MediaVariantReady``) with ``messages.variant_once_key(id, variant)``.
AcceptedHook = Callable[[str], None]


class MqttPublisher:
    """Publishes bridge events per the MQTT contract and answers commands."""

    def __init__(
        self,
        config: MqttConfig,
        state_path: Path,
        *,
        bridge_info: BridgeInfo | None = None,
        handle_command: CommandHandler = unavailable_command_handler,
        backoff: Backoff | None = None,
        connect_timeout: float = CONNECT_TIMEOUT_S,
        max_inflight: int = 32,
        on_published: PublishedHook | None = None,
        on_media_accepted: AcceptedHook | None = None,
        links: LinkMaker | None = None,
    ) -> None:
        self.config = config
        self.topics = t.Topics(config.topic_prefix)
        self._state_path = state_path
        self._info = bridge_info or BridgeInfo()
        self._handle_command = handle_command
        self._max_inflight = max_inflight
        self._on_published = on_published
        self._on_media_accepted = on_media_accepted
        self._links = links
        self._unwritable: str | None = None  # why the outbox refuses writes, while it does
        self._health: bytes | None = None  # the newest P/bridge/health (never in the outbox)
        self._delayed = 0
        self._connection = MqttConnection(
            config, self.topics.bridge_status, self._session, backoff, connect_timeout
        )
        self._outbox: Outbox | None = None
        self._devices: SeenDevices | None = None
        self._messages: EventMessages | None = None
        self._conn: sqlite3.Connection | None = None
        self._client: aiomqtt.Client | None = None
        self._run_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._online = asyncio.Event()

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> MqttPublisher:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Open the outbox and begin connecting (in the background, retrying)."""
        self._conn = open_db(self._state_path)
        self._outbox = Outbox(self._conn, int(self.config.outbox_max_mb * 1_000_000))
        self._devices = SeenDevices(self._conn)
        self._messages = EventMessages(self.config, self._info, datetime.now(UTC), self._links)
        self._queue_or_delay(lambda: self._enqueue([self._bridge_info()]), "bridge info")
        if self._outbox:
            log.info("MQTT outbox holds %d undelivered messages", len(self._outbox))
        self._run_task = asyncio.create_task(self._connection.run(), name="mqtt-connection")

    async def stop(self, timeout: float = 10.0) -> None:
        """Say ``offline``, disconnect and close; undelivered messages stay in the outbox."""
        self._connection.stop()
        if self._run_task is not None:
            try:
                await asyncio.wait_for(self._run_task, timeout)
            except TimeoutError:
                log.warning("MQTT connection did not close within %.0f s", timeout)
            self._run_task = None
        await _cancel_all(self._tasks)
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- state for callers and tests ---------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while a broker connection is up and the retained state was republished."""
        return self._client is not None

    @property
    def pending(self) -> int:
        """Messages in the outbox awaiting a PUBACK."""
        return len(self._outbox) if self._outbox is not None else 0

    @property
    def connection(self) -> MqttConnection:
        """The reconnecting client (``failures`` counts consecutive failed attempts)."""
        return self._connection

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until the bridge is connected and its retained state is republished."""
        await asyncio.wait_for(self._online.wait(), timeout)

    async def flush(self, timeout: float | None = None) -> None:
        """Wait until every queued message is acknowledged by the broker."""
        await asyncio.wait_for(self._drained.wait(), timeout)

    # -- events in ---------------------------------------------------------------------------

    async def handle_event(self, event: DomainEvent) -> None:
        """Turn one domain event into contract messages (an ``EventHandler``).

        An outbox that cannot be written (disk full, read-only) delays the event: one warning
        for the condition. A media event is announced again from the media index
        (``on_media_accepted`` tells which ones were taken); any other event raises
        ``DeliveryDelayed``, so its emitter keeps its cause (a tracker's records stay
        un-ACKed and come again). Any other failure raises to the bus, the one error boundary.
        """
        if isinstance(event, TransferProgress):
            # Already rate-limited at its source (the camera connection, once a second).
            self._send_progress(event)
            return
        queued = self._queue_or_delay(lambda: self._queue_event(event), type(event).__name__)
        # Media events are announced again from the index; others' emitters keep their cause.
        if not queued and not isinstance(event, (MediaCompleted, MediaVariantReady)):
            raise DeliveryDelayed(f"the MQTT outbox cannot be written: {self._unwritable}")

    def set_health(self, payload: bytes) -> None:
        """Publish ``P/bridge/health`` now (if connected) and on every connect.

        Not through the outbox: the outbox lives on the disk whose being full it reports.
        """
        self._health = payload
        if (client := self._client) is not None:
            self._spawn(self._publish_health(client))

    async def _publish_health(self, client: aiomqtt.Client) -> None:
        if (payload := self._health) is not None:
            item = OutboxItem(0, BRIDGE_LANE, self.topics.bridge_health, 1, True, None, None)
            await self._publish(client, item, payload)

    @property
    def outbox_writable(self) -> bool:
        """False while the outbox refuses writes (events are delayed meanwhile)."""
        return self._unwritable is None

    def _queue_event(self, event: DomainEvent) -> None:
        assert self._messages is not None and self._devices is not None, "not started"
        # The device's messages first: a subscriber learns of a device before its news.
        if (update := self._devices.track(event)) is not None:
            self._enqueue(self._messages.device_update(update, self._devices.imeis).messages)
        batch = self._messages.for_event(event)
        if batch is None:
            return
        if not self._enqueue(batch.messages, batch.media_id):
            log.info("media %s was already published; not again", batch.media_id)
        if batch.media_id is not None and self._on_media_accepted is not None:
            self._on_media_accepted(batch.media_id)

    def _queue_or_delay(self, queue: Callable[[], object], what: str) -> bool:
        """Run ``queue``; False when the outbox refused the write (logged once)."""
        try:
            queue()
        except (sqlite3.OperationalError, OSError) as exc:
            # SQLITE_FULL, SQLITE_READONLY, SQLITE_IOERR: the environment, not a bug.
            self._delayed += 1
            if self._unwritable is None:
                self._unwritable = str(exc)
                log.warning(
                    "MQTT outbox %s cannot be written (%s): events are delayed (first: %s);"
                    " media events are announced again from the media index once it can",
                    self._state_path,
                    exc,
                    what,
                )
            return False
        if self._unwritable is not None:
            log.info(
                "MQTT outbox is writable again (%d events were delayed meanwhile)", self._delayed
            )
            self._unwritable, self._delayed = None, 0
        return True

    def _bridge_info(self) -> OutMessage:
        assert self._messages is not None and self._devices is not None, "not started"
        return self._messages.bridge_info(self._devices.imeis)

    def _enqueue(self, messages: list[OutMessage], media_id: str | None = None) -> bool:
        assert self._outbox is not None, "MqttPublisher is not started"
        if not self._outbox.enqueue(messages, media_id):
            return False
        self._drained.clear()
        self._wake.set()
        return True

    # -- one connection ----------------------------------------------------------------------

    async def _session(self, client: aiomqtt.Client) -> None:
        """Run one broker connection: announce, republish state, then deliver and listen."""
        await client.subscribe(self.topics.command_filter, qos=1, timeout=SUBSCRIBE_TIMEOUT_S)
        # The command listener is also the watchdog: it ends when the connection drops, which
        # ends the session and cancels publishes that would otherwise wait for a PUBACK forever.
        tasks = {
            asyncio.create_task(self._announce_and_deliver(client), name="mqtt-deliver"),
            asyncio.create_task(self._receive_commands(client), name="mqtt-commands"),
            asyncio.create_task(self._connection.stopping.wait(), name="mqtt-stop"),
        }
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._client = None
            self._online.clear()
            await _cancel_all(tasks)
        for task in done:
            if not task.cancelled() and (exc := task.exception()) is not None:
                raise exc
        # A clean DISCONNECT suppresses the Last Will, so say goodbye ourselves.
        await client.publish(
            self.topics.bridge_status, t.OFFLINE, qos=1, retain=True, timeout=GOODBYE_TIMEOUT_S
        )
        self._published(self.topics.bridge_status, t.OFFLINE, 1, True)

    async def _announce_and_deliver(self, client: aiomqtt.Client) -> None:
        status = OutboxItem(0, BRIDGE_LANE, self.topics.bridge_status, 1, True, None, None)
        await self._publish(client, status, t.ONLINE)
        await self._publish_health(client)
        await self._republish_retained(client)
        self._client = client
        self._online.set()
        await self._deliver(client)

    async def _republish_retained(self, client: aiomqtt.Client) -> None:
        # The broker may have lost retained messages (restart without persistence, or the
        # embedded broker), so every connect restores the newest state.
        assert self._outbox is not None
        items = self._outbox.retained_snapshot()
        sent = 0
        # In chunks: a large fleet's latest photos need not all be in memory at once.
        for start in range(0, len(items), REPUBLISH_CHUNK):
            chunk = items[start : start + REPUBLISH_CHUNK]
            payloads = await asyncio.gather(*(_payload_of(item) for item in chunk))
            ready = [(i, p) for i, p in zip(chunk, payloads, strict=True) if p is not None]
            await asyncio.gather(*(self._publish(client, i, p) for i, p in ready))
            sent += len(ready)
        log.info("republished %d retained MQTT topics", sent)

    async def _publish(self, client: aiomqtt.Client, item: OutboxItem, payload: bytes) -> None:
        # No timeout: a dead connection is noticed by the session, which cancels us.
        await client.publish(
            item.topic, payload, qos=item.qos, retain=item.retain, timeout=math.inf
        )
        self._published(item.topic, payload, item.qos, item.retain)

    def _published(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        if self._on_published is not None:
            self._on_published(topic, payload, qos, retain)

    async def _deliver(self, client: aiomqtt.Client) -> None:
        """Send the outbox: the oldest message of each device, one in flight per device."""
        assert self._outbox is not None
        inflight: dict[str, asyncio.Task[None]] = {}
        try:
            while True:
                self._wake.clear()
                room = self._max_inflight - len(inflight)
                for item in self._outbox.ready(inflight, room):
                    inflight[item.device] = asyncio.create_task(self._send(client, item))
                if not inflight and not self._outbox:
                    self._drained.set()
                wake = asyncio.create_task(self._wake.wait())
                try:
                    await asyncio.wait(
                        [*inflight.values(), wake], return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    wake.cancel()
                for device, task in list(inflight.items()):
                    if task.done():
                        del inflight[device]
                        task.result()  # a lost connection ends the session here
        finally:
            await _cancel_all(set(inflight.values()))

    async def _send(self, client: aiomqtt.Client, item: OutboxItem) -> None:
        assert self._outbox is not None
        payload = await _payload_of(item)
        if payload is not None:
            try:
                await self._publish(client, item, payload)
            except (ValueError, TypeError) as exc:
                # paho refuses this message for good (too large…); never block the lane on it.
                log.error("cannot publish %s: %s; dropping it", item.topic, exc)
        outbox = self._outbox
        self._queue_or_delay(lambda: outbox.ack(item), "an acknowledgement")

    async def _receive_commands(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            topic = str(message.topic)
            target = self.topics.command_target(topic)
            if target is None:
                continue
            if message.retain:
                # A retained command would run again at every reconnect of the bridge.
                log.warning("ignoring retained command on %s: publish commands unretained", topic)
                continue
            raw = message.payload
            raw = bytes(raw) if isinstance(raw, bytes | bytearray) else str(raw or "").encode()
            self._spawn(self._command(target, raw))

    async def _command(self, target: str, raw: bytes) -> None:
        result = await run_command(self._handle_command, target, raw)
        topic = self.topics.command_result(target)
        message = OutMessage(target, topic, t.to_json(result))
        self._queue_or_delay(lambda: self._enqueue([message]), "a command result")

    # -- progress (QoS 0, not durable) -------------------------------------------------------

    def _send_progress(self, event: TransferProgress) -> None:
        client = self._client
        if client is None:
            return  # progress is only news while it is fresh: not queued for later
        item = OutboxItem(0, event.imei, self.topics.transfer(event.imei), 0, False, None, None)
        self._spawn(self._publish(client, item, t.transfer_payload(event)))

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.debug("MQTT background task failed: %s", exc)


async def _payload_of(item: OutboxItem) -> bytes | None:
    """The message's bytes: inline, or read from the media store's file (None if gone)."""
    if item.path is None:
        return item.payload or b""
    try:
        return await asyncio.to_thread(item.path.read_bytes)
    except OSError as exc:
        log.warning("not publishing %s: cannot read %s (%s)", item.topic, item.path, exc.strerror)
        return None


async def _cancel_all(tasks: set[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    with contextlib.suppress(Exception):
        await asyncio.gather(*tasks, return_exceptions=True)
