"""The daemon's diff service: an :class:`~pyctrd.core.diff.Applier` and
:class:`~pyctrd.core.diff.Comparer` over gRPC (``containerd.services.diff.v1.Diff``).

The layer bytes never travel over this connection: ``apply`` sends a descriptor and mounts,
and the daemon reads the blob from its own content store (in the client's namespace) and
writes into the mounts' directories.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._api.containerd.api.services.diff.v1 import diff_pb2 as pb
from .._api.containerd.api.services.diff.v1 import diff_pb2_grpc as pb_grpc
from ..core.mount import Mount
from ..core.ocispec import Descriptor
from ..core.wire import descriptor_from_proto, descriptor_to_proto, mounts_to_proto
from .connection import Connection

__all__ = ["DiffClient"]


class DiffClient:
    """Apply and create layers in the daemon."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._stub = conn.stub(pb_grpc.DiffStub)

    def __repr__(self) -> str:
        return f"<DiffClient {self._conn.address} ns={self._conn.namespace}>"

    def apply(self, desc: Descriptor, mounts: Sequence[Mount], *,
              payloads: Mapping[str, Any] | None = None) -> Descriptor:
        """Raises as :meth:`pyctrd.core.diff.Applier.apply` (the daemon's error kinds)."""
        req = pb.ApplyRequest(diff=descriptor_to_proto(desc), mounts=mounts_to_proto(mounts),
                              payloads=dict(payloads or {}))
        return descriptor_from_proto(self._stub.Apply(req).applied)

    def compare(self, lower: Sequence[Mount], upper: Sequence[Mount], *, media_type: str = "",
                ref: str = "", labels: Mapping[str, str] | None = None) -> Descriptor:
        """Raises as :meth:`pyctrd.core.diff.Comparer.compare`."""
        req = pb.DiffRequest(left=mounts_to_proto(lower), right=mounts_to_proto(upper), media_type=media_type,
                             ref=ref, labels=dict(labels or {}))
        return descriptor_from_proto(self._stub.Diff(req).diff)
