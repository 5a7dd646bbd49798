"""Core objects to and from their protobuf messages, for the servicers and the client alike.

Both sides of a call convert the same way, so they live here rather than in either:
:class:`~pyctrd.core.mount.Mount` <-> ``containerd.types.Mount``,
:class:`~pyctrd.core.ocispec.Descriptor` <-> ``containerd.types.Descriptor`` and
:class:`~pyctrd.core.snapshots.Info` <-> ``containerd.services.snapshots.v1.Info``.

>>> from pyctrd.core.mount import Mount
>>> mounts_from_proto(mounts_to_proto([Mount("bind", "/x", ["ro", "rbind"])]))
[<Mount bind /x ro,rbind>]
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from google.protobuf import timestamp_pb2

from .._api.containerd.api.services.snapshots.v1 import snapshots_pb2
from .._api.containerd.api.types import descriptor_pb2, mount_pb2
from .mount import Mount
from .ocispec import Descriptor
from .snapshots import EPOCH, Info, Kind

__all__ = ["descriptor_from_proto", "descriptor_to_proto", "mounts_from_proto", "mounts_to_proto",
           "snapshot_info_from_proto", "snapshot_info_to_proto"]


def mounts_to_proto(mounts: Sequence[Mount]) -> list[mount_pb2.Mount]:
    return [mount_pb2.Mount(type=m.type, source=m.source, target=m.target, options=list(m.options))
            for m in mounts]


def mounts_from_proto(mounts: Sequence[mount_pb2.Mount]) -> list[Mount]:
    return [Mount(m.type, m.source, list(m.options), m.target) for m in mounts]


def descriptor_to_proto(d: Descriptor) -> descriptor_pb2.Descriptor:
    return descriptor_pb2.Descriptor(media_type=d.media_type, digest=d.digest, size=d.size,
                                     annotations=dict(d.annotations or {}))


def descriptor_from_proto(p: descriptor_pb2.Descriptor) -> Descriptor:
    return Descriptor(p.media_type, p.digest, p.size, dict(p.annotations))


def _ts(t: datetime) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(t.astimezone(UTC).replace(tzinfo=None))
    return ts


def _time(ts: timestamp_pb2.Timestamp) -> datetime:
    return ts.ToDatetime(tzinfo=UTC) if (ts.seconds or ts.nanos) else EPOCH


def snapshot_info_to_proto(i: Info) -> snapshots_pb2.Info:
    return snapshots_pb2.Info(name=i.name, parent=i.parent, kind=int(i.kind),  # type: ignore[arg-type]
                              labels=i.labels, created_at=_ts(i.created), updated_at=_ts(i.updated))


def snapshot_info_from_proto(p: snapshots_pb2.Info, snapshotter: str = "") -> Info:
    return Info(name=p.name, parent=p.parent, kind=Kind(p.kind), labels=dict(p.labels),
                created=_time(p.created_at), updated=_time(p.updated_at), snapshotter=snapshotter)
