"""Registers the namespaces service and its gRPC servicer."""
from __future__ import annotations

from typing import Any

from google.protobuf import empty_pb2

from ..._api.containerd.api.services.namespaces.v1 import namespace_pb2 as pb
from ..._api.containerd.api.services.namespaces.v1 import namespace_pb2_grpc as pb_grpc
from ...plugin import InitContext, Registration, register, types
from ..base import run, servicer
from .local import Namespaces


@servicer
class NamespacesService(pb_grpc.NamespacesServicer):
    def __init__(self, local: Namespaces) -> None:
        self.local = local

    async def Get(self, request: pb.GetNamespaceRequest, context: Any) -> pb.GetNamespaceResponse:
        labels = await run(self.local.get, request.name)
        return pb.GetNamespaceResponse(namespace=pb.Namespace(name=request.name, labels=labels))

    async def List(self, request: pb.ListNamespacesRequest, context: Any) -> pb.ListNamespacesResponse:
        items = await run(self.local.list)
        return pb.ListNamespacesResponse(namespaces=[pb.Namespace(name=n, labels=lab) for n, lab in items])

    async def Create(self, request: pb.CreateNamespaceRequest, context: Any) -> pb.CreateNamespaceResponse:
        ns = request.namespace
        labels = await run(self.local.create, ns.name, dict(ns.labels))
        return pb.CreateNamespaceResponse(namespace=pb.Namespace(name=ns.name, labels=labels))

    async def Update(self, request: pb.UpdateNamespaceRequest, context: Any) -> pb.UpdateNamespaceResponse:
        ns = request.namespace
        labels = await run(self.local.update, ns.name, dict(ns.labels), list(request.update_mask.paths))
        return pb.UpdateNamespaceResponse(namespace=pb.Namespace(name=ns.name, labels=labels))

    async def Delete(self, request: pb.DeleteNamespaceRequest, context: Any) -> empty_pb2.Empty:
        await run(self.local.delete, request.name)
        return empty_pb2.Empty()

    def register(self, server: Any) -> None:
        pb_grpc.add_NamespacesServicer_to_server(self, server)


def _local(ic: InitContext) -> Namespaces:
    return Namespaces(ic.get(types.METADATA).namespaces, ic.events)


local_registration = register(Registration(
    type=types.SERVICE, id="namespaces-service", requires=(types.EVENT, types.METADATA), init=_local,
    doc="Namespace records and /namespaces/* events"))
registration = register(Registration(
    type=types.GRPC, id="namespaces", requires=(types.SERVICE,),
    init=lambda ic: NamespacesService(ic.get_by_id(types.SERVICE, "namespaces-service")),
    doc="gRPC: containerd.services.namespaces.v1.Namespaces"))
