"""A snapshotter in a daemon: the :class:`~pyctrd.core.snapshots.Snapshotter` Protocol over gRPC.

containerd's ``snapshots/proxy``: the same ten operations the local snapshotters implement,
each one call of ``containerd.services.snapshots.v1.Snapshots`` naming the snapshotter. Code
written against the Protocol (the contract suite, the unpacker, a notebook) runs unchanged
against overlayfs on disk or overlayfs in a daemon::

    sn = client.snapshotter("overlayfs")         # in the client's namespace (and lease)
    mounts = sn.prepare("c1", parent=chain_id)   # the daemon publishes /snapshot/prepare
    sn.mounts("c1"), sn.stat("c1"), list(sn.walk("kind==active"))

Mounts are descriptions: mounting them happens here, in the client's mount namespace (which
is the daemon's when both run on the same machine as root).
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from google.protobuf import field_mask_pb2

from .._api.containerd.api.services.snapshots.v1 import snapshots_pb2 as pb
from .._api.containerd.api.services.snapshots.v1 import snapshots_pb2_grpc as pb_grpc
from ..core.mount import Mount
from ..core.snapshots import Info, Usage
from ..core.wire import mounts_from_proto, snapshot_info_from_proto, snapshot_info_to_proto
from ..errdefs import InvalidArgument, NotFound
from .connection import Connection

__all__ = ["SnapshotsClient"]


def _sendable(key: str, *, lookup: bool) -> str:
    """A key protobuf can carry; one that is not UTF-8 can never exist in the daemon."""
    try:
        key.encode()
    except UnicodeEncodeError:
        if lookup:
            raise NotFound(f"snapshot {key!r} does not exist") from None
        raise InvalidArgument(f"snapshot key {key!r} is not valid UTF-8") from None
    return key


class SnapshotsClient:
    """The snapshotter ``name`` of the daemon, in the connection's namespace."""

    def __init__(self, conn: Connection, name: str = "overlayfs") -> None:
        self._conn, self.name = conn, name
        self._stub = conn.stub(pb_grpc.SnapshotsStub, streaming=("List",))

    def __repr__(self) -> str:
        return f"<SnapshotsClient {self.name} {self._conn.address} ns={self._conn.namespace}>"

    def stat(self, key: str) -> Info:
        info = self._stub.Stat(pb.StatSnapshotRequest(snapshotter=self.name, key=_sendable(key, lookup=True))).info
        return snapshot_info_from_proto(info, self.name)

    def update(self, info: Info, fieldpaths: Sequence[str] = ()) -> Info:
        req = pb.UpdateSnapshotRequest(snapshotter=self.name, info=snapshot_info_to_proto(info),
                                       update_mask=field_mask_pb2.FieldMask(paths=list(fieldpaths)))
        return snapshot_info_from_proto(self._stub.Update(req).info, self.name)

    def usage(self, key: str) -> Usage:
        resp = self._stub.Usage(pb.UsageRequest(snapshotter=self.name, key=_sendable(key, lookup=True)))
        return Usage(resp.size, resp.inodes)

    def mounts(self, key: str) -> list[Mount]:
        return mounts_from_proto(self._stub.Mounts(pb.MountsRequest(snapshotter=self.name, key=_sendable(key, lookup=True))).mounts)

    def prepare(self, key: str, parent: str = "", labels: Mapping[str, str] | None = None) -> list[Mount]:
        req = pb.PrepareSnapshotRequest(snapshotter=self.name, key=_sendable(key, lookup=False), parent=parent, labels=dict(labels or {}))
        return mounts_from_proto(self._stub.Prepare(req).mounts)

    def view(self, key: str, parent: str = "", labels: Mapping[str, str] | None = None) -> list[Mount]:
        req = pb.ViewSnapshotRequest(snapshotter=self.name, key=_sendable(key, lookup=False), parent=parent, labels=dict(labels or {}))
        return mounts_from_proto(self._stub.View(req).mounts)

    def commit(self, name: str, key: str, labels: Mapping[str, str] | None = None) -> None:
        self._stub.Commit(pb.CommitSnapshotRequest(snapshotter=self.name, name=_sendable(name, lookup=False),
                                                   key=_sendable(key, lookup=True),
                                                   labels=dict(labels or {})))

    def remove(self, key: str) -> None:
        self._stub.Remove(pb.RemoveSnapshotRequest(snapshotter=self.name, key=_sendable(key, lookup=True)))

    def walk(self, *filters: str) -> Iterator[Info]:
        for resp in self._stub.List(pb.ListSnapshotsRequest(snapshotter=self.name, filters=list(filters))):
            for info in resp.info:
                yield snapshot_info_from_proto(info, self.name)

    def cleanup(self) -> None:
        """Ask the daemon to reclaim space now. Raises NotImplemented if the snapshotter cannot."""
        self._stub.Cleanup(pb.CleanupRequest(snapshotter=self.name))

    def close(self) -> None:
        """Nothing to release: the connection belongs to the client."""
