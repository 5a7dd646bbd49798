"""Registers introspection: the local service and its gRPC servicer."""
from __future__ import annotations

from typing import Any

from google.protobuf import empty_pb2
from google.rpc import status_pb2

from ..._api.containerd.api.services.introspection.v1 import introspection_pb2, introspection_pb2_grpc
from ..._api.containerd.api.types import platform_pb2
from ...errdefs import to_grpc
from ...plugin import InitContext, Plugin, Registration, register, types
from ..base import servicer
from .local import Introspection


def plugin_to_proto(p: Plugin) -> introspection_pb2.Plugin:
    out = introspection_pb2.Plugin(
        type=p.registration.type, id=p.registration.id, requires=list(p.registration.requires),
        platforms=[platform_pb2.Platform(os=x.get("os", ""), architecture=x.get("architecture", ""),
                                         variant=x.get("variant", "")) for x in p.meta.platforms],
        exports=dict(p.meta.exports), capabilities=list(p.meta.capabilities))
    if p.error is not None:
        # containerd reports init errors with code Unknown (2), whatever their kind.
        code = to_grpc(p.error)[0] if p.status == "error" else None
        out.init_err.CopyFrom(status_pb2.Status(code=code.value[0] if code else 2, message=p.error_message))
    return out


@servicer
class IntrospectionService(introspection_pb2_grpc.IntrospectionServicer):
    def __init__(self, local: Introspection) -> None:
        self.local = local

    async def Plugins(self, request: introspection_pb2.PluginsRequest, context: Any
                      ) -> introspection_pb2.PluginsResponse:
        return introspection_pb2.PluginsResponse(
            plugins=[plugin_to_proto(p) for p in self.local.plugins(*request.filters)])

    async def Server(self, request: empty_pb2.Empty, context: Any) -> introspection_pb2.ServerResponse:
        return introspection_pb2.ServerResponse(uuid=self.local.uuid)

    def register(self, server: Any) -> None:
        introspection_pb2_grpc.add_IntrospectionServicer_to_server(self, server)


def _local(ic: InitContext) -> Introspection:
    # The UUID lives with the grpc plugin's root in containerd (io.containerd.grpc.v1.introspection).
    root = ic.root.parent / f"{types.GRPC}.introspection"
    return Introspection(ic.plugins, root)


local_registration = register(Registration(
    type=types.SERVICE, id="introspection-service", init=_local,
    doc="Lists plugins and identifies the daemon"))
registration = register(Registration(
    type=types.GRPC, id="introspection", requires=(types.SERVICE,),
    init=lambda ic: IntrospectionService(ic.get_by_id(types.SERVICE, "introspection-service")),
    doc="gRPC: containerd.services.introspection.v1.Introspection"))
