"""A container's metrics as containerd's Tasks.Metrics returns them: a typed ``Any``.

``ctr tasks metrics`` receives ``google.protobuf.Any`` values whose ``type_url`` is
``io.containerd.cgroups.v1.Metrics`` or ``io.containerd.cgroups.v2.Metrics`` (containerd's
typeurl registry names, without a ``type.googleapis.com/`` prefix) and unpacks them.
:func:`metrics` picks the version the way containerd 1.6 does: v1 whenever v1 controllers
are mounted (also on a hybrid machine), v2 on a purely unified one.
"""
from __future__ import annotations

from google.protobuf import any_pb2

from .._api.cgroups.stats.v1 import metrics_pb2 as v1pb
from .._api.cgroups.v2.stats import metrics_pb2 as v2pb
from . import v1, v2
from .cgroup import Cgroup

__all__ = ["metrics", "to_any"]


def metrics(cg: Cgroup) -> v1pb.Metrics | v2pb.Metrics:
    """The cgroup's counters, v1 or v2 as containerd would report them.

    Raises:
        NotFound: the cgroup does not exist.
    """
    return v1.stats(cg) if cg.version == 1 else v2.stats(cg)


def to_any(m: v1pb.Metrics | v2pb.Metrics) -> any_pb2.Any:
    """Pack metrics the way containerd's typeurl does.

    >>> to_any(v1pb.Metrics()).type_url
    'io.containerd.cgroups.v1.Metrics'
    """
    url = v1.TYPE_URL if isinstance(m, v1pb.Metrics) else v2.TYPE_URL
    return any_pb2.Any(type_url=url, value=m.SerializeToString())
