"""The exchange: one place where events are published and from which they fan out.

Publishing is safe from any thread (services do work in worker threads); delivery happens
on the daemon's event loop. Each subscriber has its own bounded queue: a subscriber that
stops reading loses the oldest events, never slows the daemon down.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from google.protobuf.message import Message

from ....core import filters as filters_
from ....core import namespaces
from ....core.events import Envelope, validate_topic
from ....identifiers import validate as validate_id

__all__ = ["Exchange", "Subscription"]

log = logging.getLogger("pyctrd.events")
QUEUE_SIZE = 4096


def _adaptor(env: Envelope) -> filters_.Adaptor:
    def event_field(path: filters_.FieldPath) -> tuple[str, bool]:
        if env.event is None:
            return "", False
        return filters_.adapt(env.event)(path)

    return filters_.adapt({"namespace": env.namespace, "topic": env.topic},
                          extra={"event": event_field})


class Subscription:
    """A live subscription: registered at once, iterate it asynchronously, close when done."""

    def __init__(self, exchange: Exchange, flt: filters_.Filter) -> None:
        self.filter = flt
        self.queue: asyncio.Queue[Envelope] = asyncio.Queue(QUEUE_SIZE)
        self.dropped = 0
        self._exchange = exchange

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Envelope:
        return await self.queue.get()

    def close(self) -> None:
        self._exchange._subs.discard(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Subscription {self.filter!r} queued={self.queue.qsize()} dropped={self.dropped}>"


class Exchange:
    """Publisher, Forwarder and Subscriber in one (see :mod:`pyctrd.core.events`)."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._loop = loop or asyncio.get_event_loop()
        self._subs: set[Subscription] = set()
        self._clock = clock
        self._lock = threading.Lock()
        self.published = 0

    def __repr__(self) -> str:
        return f"<Exchange subscribers={len(self._subs)} published={self.published}>"

    def publish(self, topic: str, event: Message) -> None:
        validate_topic(topic)
        self.forward(Envelope(self._clock(), namespaces.get(), topic, event))

    def forward(self, envelope: Envelope) -> None:
        validate_topic(envelope.topic)
        validate_id(envelope.namespace)
        with self._lock:
            self.published += 1
        log.debug("event published", extra={"topic": envelope.topic, "ns": envelope.namespace})
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._deliver(envelope)
        else:
            self._loop.call_soon_threadsafe(self._deliver, envelope)

    def _deliver(self, envelope: Envelope) -> None:
        adaptor = None
        for sub in list(self._subs):
            if sub.filter is not filters_.ALWAYS:
                adaptor = adaptor or _adaptor(envelope)
                if not sub.filter.match(adaptor):
                    continue
            if sub.queue.full():
                sub.queue.get_nowait()
                sub.dropped += 1
            sub.queue.put_nowait(envelope)

    def subscribe(self, *filters: str) -> Subscription:
        """Start receiving matching envelopes now; use as ``with ex.subscribe(...) as sub:``."""
        sub = Subscription(self, filters_.parse_all(filters))
        self._subs.add(sub)
        return sub

    def subscriber_count(self) -> int:
        return len(self._subs)
