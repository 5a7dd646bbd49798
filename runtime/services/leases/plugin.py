"""Registers the leases service and its gRPC servicer (containerd's ``leases-service`` and ``leases``)."""
from __future__ import annotations

from typing import Any

from google.protobuf import empty_pb2

from ..._api.containerd.api.services.leases.v1 import leases_pb2 as pb
from ..._api.containerd.api.services.leases.v1 import leases_pb2_grpc as pb_grpc
from ...core.leases import Lease, Resource
from ...errdefs import PyctrdError
from ...plugin import InitContext, Registration, register, types
from ..base import run, servicer, to_timestamp
from .local import Leases


def lease_to_proto(lease: Lease) -> pb.Lease:
    return pb.Lease(id=lease.id, created_at=to_timestamp(lease.created_at), labels=lease.labels)


@servicer
class LeasesServicer(pb_grpc.LeasesServicer):
    def __init__(self, local: Leases) -> None:
        self.local = local

    def register(self, server: Any) -> None:
        pb_grpc.add_LeasesServicer_to_server(self, server)

    async def Create(self, request: pb.CreateRequest, context: Any) -> pb.CreateResponse:
        lease = await run(self.local.create, request.id, dict(request.labels))
        return pb.CreateResponse(lease=lease_to_proto(lease))

    async def Delete(self, request: pb.DeleteRequest, context: Any) -> empty_pb2.Empty:
        await run(self.local.delete, request.id, request.sync)
        return empty_pb2.Empty()

    async def List(self, request: pb.ListRequest, context: Any) -> pb.ListResponse:
        found = await run(self.local.list, *request.filters)
        return pb.ListResponse(leases=[lease_to_proto(x) for x in found])

    async def AddResource(self, request: pb.AddResourceRequest, context: Any) -> empty_pb2.Empty:
        await run(self.local.add_resource, request.id, Resource(request.resource.id, request.resource.type))
        return empty_pb2.Empty()

    async def DeleteResource(self, request: pb.DeleteResourceRequest, context: Any) -> empty_pb2.Empty:
        await run(self.local.delete_resource, request.id, Resource(request.resource.id, request.resource.type))
        return empty_pb2.Empty()

    async def ListResources(self, request: pb.ListResourcesRequest, context: Any) -> pb.ListResourcesResponse:
        found = await run(self.local.list_resources, request.id)
        return pb.ListResourcesResponse(resources=[pb.Resource(id=r.id, type=r.type) for r in found])


def _local(ic: InitContext) -> Leases:
    try:  # containerd's leases-service requires only metadata and looks the GC plugin up
        gc = ic.get(types.GC)
    except PyctrdError:
        gc = None
    return Leases(ic.get(types.METADATA).leases, gc)


local_registration = register(Registration(
    type=types.SERVICE, id="leases-service", requires=(types.METADATA,), init=_local,
    doc="lease records and their resources; synchronous delete waits for GC"))
registration = register(Registration(
    type=types.GRPC, id="leases", requires=(types.SERVICE,),
    init=lambda ic: LeasesServicer(ic.get_by_id(types.SERVICE, "leases-service")),
    doc="gRPC: containerd.services.leases.v1.Leases"))
