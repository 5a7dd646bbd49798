"""``containerd.services.events.v1.Events``: publish, forward and subscribe over gRPC.

The same service also answers ``containerd.services.events.ttrpc.v1.Events/Forward`` on the
daemon's ttrpc socket: that is how shims (which speak ttrpc only) hand in their task events.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from google.protobuf import empty_pb2

from ..._api.containerd.api.services.events.v1 import events_pb2 as pb
from ..._api.containerd.api.services.events.v1 import events_pb2_grpc as pb_grpc
from ..._api.containerd.api.services.ttrpc.events.v1 import events_pb2 as ttrpc_pb
from ...core import typeurl
from ...core.events import Envelope
from ...errdefs import InvalidArgument, NotFound
from ...plugin import InitContext, Registration, register, types
from ..base import from_timestamp, servicer, to_timestamp

__all__ = ["EventsService", "TTRPCEvents", "envelope_from_proto", "envelope_to_proto"]


def envelope_to_proto(env: Envelope) -> pb.Envelope:
    out = pb.Envelope(timestamp=to_timestamp(env.timestamp), namespace=env.namespace, topic=env.topic)
    if env.event is not None:
        out.event.CopyFrom(env.event if type(env.event).__name__ == "Any" else typeurl.pack(env.event))
    return out


def envelope_from_proto(p: pb.Envelope | ttrpc_pb.Envelope) -> Envelope:
    event: Any = None
    if p.HasField("event"):
        try:
            event = typeurl.unpack(p.event)
        except NotFound:
            event = p.event  # unknown type here: pass the Any through untouched
    return Envelope(from_timestamp(p.timestamp), p.namespace, p.topic, event)


class TTRPCEvents:
    """``containerd.services.events.ttrpc.v1.Events``: shims forward their events here."""

    def __init__(self, exchange: Any) -> None:
        self.exchange = exchange

    async def Forward(self, request: ttrpc_pb.ForwardRequest) -> empty_pb2.Empty:
        self.exchange.forward(envelope_from_proto(request.envelope))
        return empty_pb2.Empty()


@servicer
class EventsService(pb_grpc.EventsServicer):
    def __init__(self, exchange: Any) -> None:
        self.exchange = exchange

    async def Publish(self, request: pb.PublishRequest, context: Any) -> empty_pb2.Empty:
        if not request.HasField("event"):
            raise InvalidArgument("event must not be empty")
        try:
            event: Any = typeurl.unpack(request.event)
        except NotFound:
            event = request.event
        self.exchange.publish(request.topic, event)
        return empty_pb2.Empty()

    async def Forward(self, request: pb.ForwardRequest, context: Any) -> empty_pb2.Empty:
        self.exchange.forward(envelope_from_proto(request.envelope))
        return empty_pb2.Empty()

    async def Subscribe(self, request: pb.SubscribeRequest, context: Any) -> AsyncIterator[pb.Envelope]:
        with self.exchange.subscribe(*request.filters) as sub:
            async for env in sub:
                yield envelope_to_proto(env)

    def register(self, server: Any) -> None:
        pb_grpc.add_EventsServicer_to_server(self, server)

    def register_ttrpc(self, server: Any) -> None:
        server.register(ttrpc_pb.DESCRIPTOR.services_by_name["Events"], TTRPCEvents(self.exchange))


def _init(ic: InitContext) -> EventsService:
    return EventsService(ic.get(types.EVENT))


registration = register(Registration(type=types.GRPC, id="events", requires=(types.EVENT,), init=_init,
                                     doc="gRPC: containerd.services.events.v1.Events"))
