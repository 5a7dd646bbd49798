"""Client side of events: subscribe to what the daemon does, publish your own."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC

from google.protobuf.message import Message

from .._api.containerd.api.services.events.v1 import events_pb2 as pb
from .._api.containerd.api.services.events.v1 import events_pb2_grpc as pb_grpc
from ..core import typeurl
from ..core.events import Envelope
from ..errdefs import NotFound
from .connection import Connection

__all__ = ["EventsClient"]


class EventsClient:
    def __init__(self, conn: Connection) -> None:
        self._stub = conn.stub(pb_grpc.EventsStub, streaming=("Subscribe",))

    def publish(self, topic: str, event: Message) -> None:
        """Publish ``event`` under ``topic`` in the client's namespace."""
        self._stub.Publish(pb.PublishRequest(topic=topic, event=typeurl.pack(event)))

    def subscribe(self, *filters: str) -> Iterator[Envelope]:
        """Envelopes as they happen (blocks; stop by breaking out or closing the generator)."""
        for p in self._stub.Subscribe(pb.SubscribeRequest(filters=list(filters))):
            try:
                event = typeurl.unpack(p.event) if p.HasField("event") else None
            except NotFound:
                event = p.event
            yield Envelope(p.timestamp.ToDatetime(tzinfo=UTC),
                           p.namespace, p.topic, event)
