"""Registers the containers service and its gRPC servicer (``containerd.services.containers.v1``)."""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from google.protobuf import empty_pb2

from ..._api.containerd.api.services.containers.v1 import containers_pb2 as pb
from ..._api.containerd.api.services.containers.v1 import containers_pb2_grpc as pb_grpc
from ...core.containers.proto import from_proto, to_proto
from ...plugin import InitContext, Registration, register, types
from ..base import run, servicer
from .local import Containers

__all__ = ["ContainersService"]


@servicer
class ContainersService(pb_grpc.ContainersServicer):
    def __init__(self, local: Containers) -> None:
        self.local = local

    async def Get(self, request: pb.GetContainerRequest, context: Any) -> pb.GetContainerResponse:
        return pb.GetContainerResponse(container=to_proto(await run(self.local.get, request.id)))

    async def List(self, request: pb.ListContainersRequest, context: Any) -> pb.ListContainersResponse:
        found = await run(self.local.list, *request.filters)
        return pb.ListContainersResponse(containers=[to_proto(c) for c in found])

    async def ListStream(self, request: pb.ListContainersRequest, context: Any
                         ) -> AsyncIterator[pb.ListContainerMessage]:
        for c in await run(self.local.list, *request.filters):
            yield pb.ListContainerMessage(container=to_proto(c))

    async def Create(self, request: pb.CreateContainerRequest, context: Any) -> pb.CreateContainerResponse:
        created = await run(self.local.create, from_proto(request.container))
        return pb.CreateContainerResponse(container=to_proto(created))

    async def Update(self, request: pb.UpdateContainerRequest, context: Any) -> pb.UpdateContainerResponse:
        paths = list(request.update_mask.paths) if request.HasField("update_mask") else []
        updated = await run(self.local.update, from_proto(request.container), paths)
        return pb.UpdateContainerResponse(container=to_proto(updated))

    async def Delete(self, request: pb.DeleteContainerRequest, context: Any) -> empty_pb2.Empty:
        await run(self.local.delete, request.id)
        return empty_pb2.Empty()

    def register(self, server: Any) -> None:
        pb_grpc.add_ContainersServicer_to_server(self, server)


def _local(ic: InitContext) -> Containers:
    return Containers(ic.get(types.METADATA).containers, ic.events)


local_registration = register(Registration(
    type=types.SERVICE, id="containers-service", requires=(types.EVENT, types.METADATA), init=_local,
    doc="Container records and /containers/* events"))
registration = register(Registration(
    type=types.GRPC, id="containers", requires=(types.SERVICE,),
    init=lambda ic: ContainersService(ic.get_by_id(types.SERVICE, "containers-service")),
    doc="gRPC: containerd.services.containers.v1.Containers"))
