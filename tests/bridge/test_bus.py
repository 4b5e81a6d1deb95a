"""The event bus: order, type filters, one error boundary, causal order, held until open."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dualcam_bridge.bus import EventBus
from dualcam_bridge.events import (
    DeliveryDelayed,
    DomainEvent,
    MediaCompleted,
    SosClipLinked,
    TrackerAvailability,
)

IMEI = "352094082736916"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def media(media_id: str = "m1") -> MediaCompleted:
    return MediaCompleted(media_id, IMEI, "front", "video", Path("/m.h265"), 1, "0", NOW)


def online() -> TrackerAvailability:
    return TrackerAvailability(IMEI, True, NOW)


async def test_subscribers_get_events_in_subscription_order_and_by_type() -> None:
    bus = EventBus()
    seen: list[tuple[str, str]] = []

    async def everything(event: DomainEvent) -> None:
        seen.append(("all", type(event).__name__))

    async def only_media(event: MediaCompleted) -> None:
        seen.append(("media", event.id))

    bus.subscribe(only_media, MediaCompleted)
    unsubscribe = bus.subscribe(everything)
    await bus.emit(online())
    await bus.emit(media())
    assert seen == [
        ("all", "TrackerAvailability"),
        ("media", "m1"),
        ("all", "MediaCompleted"),
    ]
    unsubscribe()
    await bus.emit(online())
    assert len(seen) == 3


async def test_a_failing_subscriber_is_logged_with_type_and_imei_and_never_raises(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = EventBus()
    after: list[DomainEvent] = []

    async def broken(event: DomainEvent) -> None:
        raise RuntimeError("subscriber bug")

    async def record(event: DomainEvent) -> None:
        after.append(event)

    bus.subscribe(broken)
    bus.subscribe(record)
    with caplog.at_level(logging.ERROR):
        await bus.emit(media())  # does not raise
    assert after == [media()]  # the next subscriber still gets it
    (line,) = [r for r in caplog.records if r.exc_info]
    assert "MediaCompleted" in line.getMessage() and IMEI in line.getMessage()


async def test_an_event_caused_by_another_is_delivered_after_it_whatever_the_order() -> None:
    bus = EventBus()
    seen: list[str] = []
    link = SosClipLinked(IMEI, "sos1", "m1", "front", Path("/m.h265"), "crash")

    async def linker(event: MediaCompleted) -> None:  # subscribed first, emits while handling
        seen.append("linker got media")
        await bus.emit(link)
        seen.append("linker emitted link")

    async def publisher(event: DomainEvent) -> None:
        seen.append(f"publisher got {type(event).__name__}")

    bus.subscribe(linker, MediaCompleted)
    bus.subscribe(publisher)
    await bus.emit(media())
    # The outer emit returns only once the caused event is delivered too.
    assert seen == [
        "linker got media",
        "linker emitted link",
        "publisher got MediaCompleted",
        "publisher got SosClipLinked",
    ]


async def test_a_held_bus_delivers_nothing_until_opened() -> None:
    bus = EventBus(open=False)
    seen: list[DomainEvent] = []

    async def record(event: DomainEvent) -> None:
        seen.append(event)

    bus.subscribe(record)
    emitting = asyncio.create_task(bus.emit(online()))
    await asyncio.sleep(0.05)
    assert seen == [] and not emitting.done()  # the emitter waits (a record is not ACKed)
    bus.open()
    await asyncio.wait_for(emitting, 1)
    assert seen == [online()]


async def test_concurrent_emitters_do_not_join_each_others_delivery() -> None:
    bus = EventBus()
    gate = asyncio.Event()
    seen: list[str] = []

    async def slow(event: DomainEvent) -> None:
        if isinstance(event, MediaCompleted):
            await gate.wait()
        seen.append(type(event).__name__)

    bus.subscribe(slow)
    first = asyncio.create_task(bus.emit(media()))
    await asyncio.sleep(0.01)
    await asyncio.wait_for(bus.emit(online()), 1)  # not queued behind the slow delivery
    gate.set()
    await first
    assert seen == ["TrackerAvailability", "MediaCompleted"]


async def test_emit_says_whether_every_subscriber_took_the_event() -> None:
    bus = EventBus()
    refuse = {"on": True}
    seen: list[str] = []

    async def outbox(event: DomainEvent) -> None:
        if refuse["on"] and isinstance(event, SosClipLinked):
            raise DeliveryDelayed("outbox full")
        seen.append(type(event).__name__)

    async def linker(event: MediaCompleted) -> None:
        await bus.emit(SosClipLinked(IMEI, "s1", event.id, "front", event.path, "crash"))

    async def buggy(event: DomainEvent) -> None:
        raise RuntimeError("a bug is logged, not a reason to keep the cause")

    bus.subscribe(outbox)
    bus.subscribe(linker, MediaCompleted)
    bus.subscribe(buggy, TrackerAvailability)
    # The caused event was refused: the outer emit answers for both.
    assert await bus.emit(media()) is False
    assert seen == ["MediaCompleted"]
    refuse["on"] = False
    assert await bus.emit(media("m2")) is True
    assert await bus.emit(online()) is True
