"""Registers the diff service and its gRPC servicer (containerd's ``diff-service`` and ``diff``).

The gRPC side (``containerd.services.diff.v1.Diff``) has two calls: ``Apply`` (a layer
descriptor and the mounts to apply it onto -> the descriptor of the uncompressed layer) and
``Diff`` (two sets of mounts -> the descriptor of the layer written to the content store).
Payloads (``map<string, Any>``, for stream processors) are passed through untouched.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..._api.containerd.api.services.diff.v1 import diff_pb2 as pb
from ..._api.containerd.api.services.diff.v1 import diff_pb2_grpc as pb_grpc
from ...config import setting
from ...core.wire import descriptor_from_proto, descriptor_to_proto, mounts_from_proto
from ...errdefs import FailedPrecondition
from ...plugin import InitContext, Registration, register, types
from ..base import run, servicer
from .local import DiffService

__all__ = ["DiffConfig", "DiffServicer"]


@dataclass
class DiffConfig:
    """``[plugins."io.containerd.service.v1.diff-service"]``."""

    order: list[str] = setting(["walking"], "Differs (io.containerd.differ.v1 IDs) to use, most "
                                            "preferred first; the first that supports a media type wins",
                               toml="default")


@servicer
class DiffServicer(pb_grpc.DiffServicer):
    def __init__(self, local: DiffService) -> None:
        self.local = local

    def register(self, server: Any) -> None:
        pb_grpc.add_DiffServicer_to_server(self, server)

    async def Apply(self, request: pb.ApplyRequest, context: Any) -> pb.ApplyResponse:
        payloads = dict(request.payloads) or None
        applied = await run(self.local.apply, descriptor_from_proto(request.diff),
                            mounts_from_proto(request.mounts), payloads=payloads)
        return pb.ApplyResponse(applied=descriptor_to_proto(applied))

    async def Diff(self, request: pb.DiffRequest, context: Any) -> pb.DiffResponse:
        desc = await run(self.local.compare, mounts_from_proto(request.left), mounts_from_proto(request.right),
                         media_type=request.media_type, ref=request.ref, labels=dict(request.labels))
        return pb.DiffResponse(diff=descriptor_to_proto(desc))


def _local(ic: InitContext) -> DiffService:
    cfg = ic.config if isinstance(ic.config, DiffConfig) else DiffConfig()
    loaded = ic.get_all(types.DIFF)
    ordered = []
    for name in cfg.order:
        if name not in loaded:
            raise FailedPrecondition(f"needed differ not loaded: {name}")
        ordered.append((name, loaded[name]))
    ic.meta.exports["default"] = ",".join(cfg.order)
    return DiffService(ordered)


local_registration = register(Registration(
    type=types.SERVICE, id="diff-service", requires=(types.DIFF,), config=DiffConfig(), init=_local,
    doc="apply and create layers with the configured differs, in order"))
registration = register(Registration(
    type=types.GRPC, id="diff", requires=(types.SERVICE,),
    init=lambda ic: DiffServicer(ic.get_by_id(types.SERVICE, "diff-service")),
    doc="gRPC: containerd.services.diff.v1.Diff"))
