"""Client stubs made at runtime from a protobuf service descriptor.

grpcio's code generator writes a ``*_pb2_grpc.py`` stub class per service; ttrpc has no
Python generator, and needs none: a ``ServiceDescriptor`` already lists every method with its
input and output message types. :class:`Stub` reads it and offers one awaitable attribute per
method, so ``await task.Connect(ConnectRequest(id="c1"))`` sends
``containerd.task.v2.Task/Connect`` and returns a ``ConnectResponse``.

>>> from pyctrd._api.containerd.runtime.v2.task import shim_pb2
>>> service = shim_pb2.DESCRIPTOR.services_by_name["Task"]
>>> UnaryMethod(None, service.methods_by_name["Connect"])
<ttrpc method containerd.task.v2.Task/Connect (ConnectRequest -> ConnectResponse)>
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message

from .. import errdefs
from . import messages

if TYPE_CHECKING:
    from .client import Client

__all__ = ["Stub", "UnaryMethod", "unary_methods"]


def unary_methods(service: ServiceDescriptor) -> list[MethodDescriptor]:
    """The methods of ``service``, checking that all are unary (ttrpc 1.x has no streams).

    Raises:
        InvalidArgument: a method streams requests or responses.
    """
    for method in service.methods:
        if method.client_streaming or method.server_streaming:
            raise errdefs.InvalidArgument(
                f"{method.full_name}: streaming methods are not supported by ttrpc 1.x")
    return list(service.methods)


class UnaryMethod:
    """One RPC of a :class:`Stub`: ``await method(request, timeout=..., metadata=...)``."""

    def __init__(self, client: Client, method: MethodDescriptor) -> None:
        self._client = client
        self.service = method.containing_service.full_name
        self.name = method.name
        self.request_type: type[Message] = message_factory.GetMessageClass(method.input_type)
        self.response_type: type[Message] = message_factory.GetMessageClass(method.output_type)

    def __repr__(self) -> str:
        return (f"<ttrpc method {self.service}/{self.name} "
                f"({self.request_type.DESCRIPTOR.name} -> {self.response_type.DESCRIPTOR.name})>")

    async def __call__(self, request: Message | None = None, *, timeout: float | None = None,
                       metadata: messages.Metadata | None = None) -> Any:
        """Send ``request`` (an empty one when ``None``) and return the typed response.

        Raises:
            InvalidArgument: ``request`` is not this method's request type.
            PyctrdError: whatever :meth:`Client.call` raises.
        """
        if request is None:
            request = self.request_type()
        elif not isinstance(request, self.request_type):
            raise errdefs.InvalidArgument(
                f"{self.service}/{self.name} takes {self.request_type.DESCRIPTOR.full_name}, "
                f"not {type(request).__name__}")
        return await self._client.call(self.service, self.name, request, self.response_type,
                                       timeout=timeout, metadata=metadata)


class Stub:
    """All methods of one service, bound to a client.

    Args:
        client: a connected :class:`~pyctrd.ttrpc.Client`.
        service: e.g. ``shim_pb2.DESCRIPTOR.services_by_name["Task"]``.

    Raises:
        InvalidArgument: the service has streaming methods.
    """

    def __init__(self, client: Client, service: ServiceDescriptor) -> None:
        self.service = service.full_name
        self.methods = {m.name: UnaryMethod(client, m) for m in unary_methods(service)}
        for name, method in self.methods.items():
            setattr(self, name, method)

    def __repr__(self) -> str:
        return f"<ttrpc.Stub {self.service} ({len(self.methods)} methods)>"

    def __getattr__(self, name: str) -> UnaryMethod:
        # Only reached for names the service does not have: say so clearly (helps type checkers).
        raise AttributeError(f"service {self.service} has no method {name!r}")
