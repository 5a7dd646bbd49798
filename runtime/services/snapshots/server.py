"""The gRPC snapshots servicer (``containerd.services.snapshots.v1.Snapshots``).

Every request names its ``snapshotter``; an empty name or one that is not loaded is
INVALID_ARGUMENT (containerd's words: "snapshotter argument missing", "snapshotter not
loaded: x"). ``List`` streams the snapshots in messages of 100, as containerd does.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from google.protobuf import empty_pb2

from ..._api.containerd.api.services.snapshots.v1 import snapshots_pb2 as pb
from ..._api.containerd.api.services.snapshots.v1 import snapshots_pb2_grpc as pb_grpc
from ...core.wire import mounts_to_proto, snapshot_info_from_proto, snapshot_info_to_proto
from ...errdefs import InvalidArgument
from ..base import run, servicer
from .local import EventedSnapshotter

__all__ = ["SnapshotsServicer"]

LIST_BLOCK = 100


@servicer
class SnapshotsServicer(pb_grpc.SnapshotsServicer):
    def __init__(self, snapshotters: Mapping[str, EventedSnapshotter]) -> None:
        self.snapshotters = snapshotters

    def register(self, server: Any) -> None:
        pb_grpc.add_SnapshotsServicer_to_server(self, server)

    def _get(self, name: str) -> EventedSnapshotter:
        if not name:
            raise InvalidArgument("snapshotter argument missing")
        sn = self.snapshotters.get(name)
        if sn is None:
            raise InvalidArgument(f"snapshotter not loaded: {name}")
        return sn

    async def Prepare(self, request: pb.PrepareSnapshotRequest, context: Any) -> pb.PrepareSnapshotResponse:
        sn = self._get(request.snapshotter)
        mounts = await run(sn.prepare, request.key, request.parent, dict(request.labels))
        return pb.PrepareSnapshotResponse(mounts=mounts_to_proto(mounts))

    async def View(self, request: pb.ViewSnapshotRequest, context: Any) -> pb.ViewSnapshotResponse:
        sn = self._get(request.snapshotter)
        mounts = await run(sn.view, request.key, request.parent, dict(request.labels))
        return pb.ViewSnapshotResponse(mounts=mounts_to_proto(mounts))

    async def Mounts(self, request: pb.MountsRequest, context: Any) -> pb.MountsResponse:
        sn = self._get(request.snapshotter)
        return pb.MountsResponse(mounts=mounts_to_proto(await run(sn.mounts, request.key)))

    async def Commit(self, request: pb.CommitSnapshotRequest, context: Any) -> empty_pb2.Empty:
        sn = self._get(request.snapshotter)
        await run(sn.commit, request.name, request.key, dict(request.labels))
        return empty_pb2.Empty()

    async def Remove(self, request: pb.RemoveSnapshotRequest, context: Any) -> empty_pb2.Empty:
        await run(self._get(request.snapshotter).remove, request.key)
        return empty_pb2.Empty()

    async def Stat(self, request: pb.StatSnapshotRequest, context: Any) -> pb.StatSnapshotResponse:
        info = await run(self._get(request.snapshotter).stat, request.key)
        return pb.StatSnapshotResponse(info=snapshot_info_to_proto(info))

    async def Update(self, request: pb.UpdateSnapshotRequest, context: Any) -> pb.UpdateSnapshotResponse:
        sn = self._get(request.snapshotter)
        info = await run(sn.update, snapshot_info_from_proto(request.info), list(request.update_mask.paths))
        return pb.UpdateSnapshotResponse(info=snapshot_info_to_proto(info))

    async def List(self, request: pb.ListSnapshotsRequest, context: Any) -> AsyncIterator[pb.ListSnapshotsResponse]:
        sn = self._get(request.snapshotter)
        infos = await run(lambda: list(sn.walk(*request.filters)))
        for i in range(0, len(infos), LIST_BLOCK):
            yield pb.ListSnapshotsResponse(info=[snapshot_info_to_proto(x) for x in infos[i:i + LIST_BLOCK]])

    async def Usage(self, request: pb.UsageRequest, context: Any) -> pb.UsageResponse:
        usage = await run(self._get(request.snapshotter).usage, request.key)
        return pb.UsageResponse(size=usage.size, inodes=usage.inodes)

    async def Cleanup(self, request: pb.CleanupRequest, context: Any) -> empty_pb2.Empty:
        await run(self._get(request.snapshotter).cleanup)
        return empty_pb2.Empty()
