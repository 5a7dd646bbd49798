"""Container records to and from ``containerd.services.containers.v1.Container``.

Both sides of the wire use these: the containers service (server) and the client library.

>>> from pyctrd.core.containers import Container, RuntimeInfo
>>> p = to_proto(Container("c1", {"a": "b"}, runtime=RuntimeInfo("io.containerd.runc.v2")))
>>> p.id, dict(p.labels), p.runtime.name
('c1', {'a': 'b'}, 'io.containerd.runc.v2')
>>> from_proto(p)
<Container c1 io.containerd.runc.v2>
"""
from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf import any_pb2, timestamp_pb2

from ..._api.containerd.api.services.containers.v1 import containers_pb2 as pb
from ...errdefs import InvalidArgument
from . import Container, RuntimeInfo

__all__ = ["from_proto", "to_proto"]


def _ts(dt: datetime) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(dt.astimezone(UTC).replace(tzinfo=None))
    return ts


def _copy(a: any_pb2.Any) -> any_pb2.Any:
    return any_pb2.Any(type_url=a.type_url, value=a.value)


def to_proto(c: Container) -> pb.Container:
    out = pb.Container(id=c.id, labels=c.labels, image=c.image, snapshotter=c.snapshotter,
                       snapshot_key=c.snapshot_key)
    if c.created_at is not None:
        out.created_at.CopyFrom(_ts(c.created_at))
    if c.updated_at is not None:
        out.updated_at.CopyFrom(_ts(c.updated_at))
    out.runtime.name = c.runtime.name
    if c.runtime.options is not None:
        out.runtime.options.CopyFrom(c.runtime.options)
    if c.spec is not None:
        out.spec.CopyFrom(c.spec)
    for k, v in c.extensions.items():
        out.extensions[k].CopyFrom(v)
    return out


def from_proto(p: pb.Container) -> Container:
    def when(ts: timestamp_pb2.Timestamp, field: str) -> datetime | None:
        if not p.HasField(field):
            return None
        try:
            made: datetime = ts.ToDatetime(tzinfo=UTC)
            return made
        except (ValueError, OverflowError) as exc:
            raise InvalidArgument(f"container {field}: {exc}") from None

    return Container(
        id=p.id, labels=dict(p.labels), image=p.image,
        runtime=RuntimeInfo(p.runtime.name, _copy(p.runtime.options) if p.runtime.HasField("options") else None),
        spec=_copy(p.spec) if p.HasField("spec") else None, snapshotter=p.snapshotter,
        snapshot_key=p.snapshot_key, created_at=when(p.created_at, "created_at"),
        updated_at=when(p.updated_at, "updated_at"),
        extensions={k: _copy(v) for k, v in p.extensions.items()})
