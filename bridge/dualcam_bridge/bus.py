"""The bridge's one event bus: every domain event goes through ``EventBus.emit``.

Receivers (camera connections, tracker links) emit; the MQTT publisher, the SOS↔clip linker,
logs and tests subscribe, to every event or to some types. ``emit`` returns once every
subscriber has handled the event, so a tracker's records are ACKed only once they reached
MQTT's outbox. It is the one error boundary: a failing subscriber is logged (event type and
device) and never raises into the device link that emitted.

Causal order: an event a subscriber emits while it handles another (``SosClipLinked`` while
handling ``MediaCompleted``) is delivered after the event that caused it has reached every
subscriber, whatever the order of subscription; the outer ``emit`` returns after both.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar, overload

from .events import DeliveryDelayed, DomainEvent, EventHandler

log = logging.getLogger(__name__)

E = TypeVar("E", bound=DomainEvent)


class _Delivery:
    """The events of one outer ``emit``, in order; ``done`` once it has returned."""

    __slots__ = ("done", "queue")

    def __init__(self, first: DomainEvent) -> None:
        self.queue = [first]
        self.done = False


# Set while a subscriber runs, so an emit from inside it joins the running delivery.
_current: contextvars.ContextVar[_Delivery | None] = contextvars.ContextVar(
    "dualcam_bus_delivery", default=None
)


class EventBus:
    """Subscribe handlers (for all events or some types); ``await emit(event)``.

    With ``open=False`` every ``emit`` waits until ``open()``: the bridge opens the bus once
    all its subscribers (MQTT) are up, so nothing is acknowledged to a device before.
    """

    def __init__(self, *, open: bool = True) -> None:
        self._subscribers: list[tuple[EventHandler, tuple[type[DomainEvent], ...]]] = []
        self._open = asyncio.Event()
        if open:
            self._open.set()

    def open(self) -> None:
        """Let events through (and release the emitters waiting)."""
        self._open.set()

    @overload
    def subscribe(self, handler: EventHandler) -> Callable[[], None]: ...

    @overload
    def subscribe(
        self, handler: Callable[[E], Awaitable[None]], *types: type[E]
    ) -> Callable[[], None]: ...

    def subscribe(
        self, handler: Callable[[E], Awaitable[None]], *types: type[E]
    ) -> Callable[[], None]:
        """Call ``handler`` with every event (of ``types``, when given); returns unsubscribe."""
        entry = (handler, types)
        self._subscribers.append(entry)  # type: ignore[arg-type]

        def unsubscribe() -> None:
            if entry in self._subscribers:
                self._subscribers.remove(entry)

        return unsubscribe

    async def emit(self, event: DomainEvent) -> bool:
        """Deliver ``event`` to the subscribers, in subscription order; never raises.

        False when a subscriber could not take it (or an event it caused) for now
        (``DeliveryDelayed``): the emitter should keep its cause and try again. An event
        emitted from inside a subscriber joins the running delivery and answers True; the
        outer ``emit`` answers for both.
        """
        await self._open.wait()
        running = _current.get()
        if running is not None and not running.done:
            running.queue.append(event)  # caused by the event being delivered: after it
            return True
        delivery = _Delivery(event)
        token = _current.set(delivery)
        taken = True
        try:
            while delivery.queue:
                taken &= await self._deliver(delivery.queue.pop(0))
        finally:
            delivery.done = True
            _current.reset(token)
        return taken

    async def _deliver(self, event: DomainEvent) -> bool:
        taken = True
        for handler, types in list(self._subscribers):
            if types and not isinstance(event, types):
                continue
            try:
                await handler(event)
            except DeliveryDelayed:
                taken = False  # the subscriber logged why, once per condition
            except Exception:
                log.exception(
                    "event subscriber %s failed for %s of %s",
                    getattr(handler, "__qualname__", handler),
                    type(event).__name__,
                    getattr(event, "imei", "?"),
                )
        return taken
