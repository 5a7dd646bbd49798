"""Registers the snapshots service and its gRPC servicer (containerd's ``snapshots-service`` and ``snapshots``)."""
from __future__ import annotations

from ...plugin import InitContext, Registration, register, types
from .local import EventedSnapshotter, snapshotters_with_events
from .server import SnapshotsServicer


def _local(ic: InitContext) -> dict[str, EventedSnapshotter]:
    return snapshotters_with_events(ic.get(types.METADATA).snapshotters, ic.events)


local_registration = register(Registration(
    type=types.SERVICE, id="snapshots-service", requires=(types.EVENT, types.METADATA), init=_local,
    doc="the namespaced snapshotters and /snapshot/* events"))
registration = register(Registration(
    type=types.GRPC, id="snapshots", requires=(types.SERVICE,),
    init=lambda ic: SnapshotsServicer(ic.get_by_id(types.SERVICE, "snapshots-service")),
    doc="gRPC: containerd.services.snapshots.v1.Snapshots"))
