"""Client side of leases, and ``lease()``: containerd's ``client.WithLease`` as a context manager.

    with client.leases.lease() as l:          # a lease expiring in 24h, current for the block
        w = client.content.writer("ref", ...)  # the ingest and the blob join the lease
        ...
    # on exit the lease is deleted; what nothing else references becomes collectable
"""
from __future__ import annotations

import builtins
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime

from .._api.containerd.api.services.leases.v1 import leases_pb2 as pb
from .._api.containerd.api.services.leases.v1 import leases_pb2_grpc as pb_grpc
from ..core import leases as leases_
from ..core.leases import Lease, Resource
from ..errdefs import PyctrdError
from .connection import Connection

__all__ = ["LeasesClient"]


def _lease(p: pb.Lease) -> Lease:
    created = p.created_at.ToDatetime(tzinfo=UTC) if p.created_at.seconds else None
    return Lease(p.id, created, dict(p.labels))


class LeasesClient:
    """A :class:`~pyctrd.core.leases.LeaseManager` in the daemon, in the connection's namespace."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._stub = conn.stub(pb_grpc.LeasesStub)

    def __repr__(self) -> str:
        return f"<LeasesClient {self._conn.address} ns={self._conn.namespace}>"

    def create(self, id: str = "", labels: dict[str, str] | None = None) -> Lease:
        """Raises AlreadyExists, InvalidArgument."""
        return _lease(self._stub.Create(pb.CreateRequest(id=id, labels=labels or {})).lease)

    def delete(self, id: str, sync: bool = False) -> None:
        """Raises NotFound; ``sync`` returns after the garbage collection it triggers."""
        self._stub.Delete(pb.DeleteRequest(id=id, sync=sync))

    def list(self, *filters: str) -> list[Lease]:
        return [_lease(x) for x in self._stub.List(pb.ListRequest(filters=list(filters))).leases]

    def add_resource(self, id: str, resource: Resource) -> None:
        self._stub.AddResource(pb.AddResourceRequest(id=id, resource=pb.Resource(id=resource.id,
                                                                                 type=resource.type)))

    def delete_resource(self, id: str, resource: Resource) -> None:
        self._stub.DeleteResource(pb.DeleteResourceRequest(id=id, resource=pb.Resource(id=resource.id,
                                                                                       type=resource.type)))

    def list_resources(self, id: str) -> builtins.list[Resource]:
        return [Resource(r.id, r.type) for r in self._stub.ListResources(pb.ListResourcesRequest(id=id)).resources]

    @contextmanager
    def lease(self, id: str = "", *, expire: float = 24 * 3600, labels: dict[str, str] | None = None,
              sync_delete: bool = False) -> Iterator[Lease]:
        """Create a lease that expires after ``expire`` seconds, make it current for the block
        (every call carries its ``containerd-lease`` header), delete it afterwards.

        A lease already current is reused and left alone, as containerd's ``WithLease`` does.
        """
        existing = leases_.current()
        if existing:
            yield Lease(existing)
            return
        wanted = {**leases_.expire_label(expire, datetime.now(UTC)), **(labels or {})}
        created = self.create(id, wanted)
        try:
            with leases_.lease(created.id):
                yield created
        except BaseException:
            # the block's own error is the one to report: a delete failing too (a full disk
            # fails both) must not replace it - the lease then simply expires
            with suppress(PyctrdError):
                self.delete(created.id, sync=sync_delete)
            raise
        self.delete(created.id, sync=sync_delete)
