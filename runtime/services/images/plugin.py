"""Registers the images service and its gRPC servicer (containerd's ``images-service`` and ``images``)."""
from __future__ import annotations

from typing import Any

from google.protobuf import empty_pb2

from ..._api.containerd.api.services.images.v1 import images_pb2 as pb
from ..._api.containerd.api.services.images.v1 import images_pb2_grpc as pb_grpc
from ..._api.containerd.api.types import descriptor_pb2
from ...core.images import Image
from ...core.ocispec import Descriptor
from ...plugin import InitContext, Registration, register, types
from ..base import from_timestamp, run, servicer, to_timestamp
from .local import Images

__all__ = ["ImagesServicer", "image_from_proto", "image_to_proto"]


def image_to_proto(img: Image) -> pb.Image:
    t = img.target
    return pb.Image(name=img.name, labels=img.labels,
                    target=descriptor_pb2.Descriptor(media_type=t.media_type, digest=t.digest, size=t.size,
                                                     annotations=t.annotations),
                    created_at=to_timestamp(img.created_at), updated_at=to_timestamp(img.updated_at))


def image_from_proto(p: pb.Image) -> Image:
    t = p.target
    return Image(p.name, Descriptor(t.media_type, t.digest, t.size, dict(t.annotations)), dict(p.labels),
                 from_timestamp(p.created_at), from_timestamp(p.updated_at))


@servicer
class ImagesServicer(pb_grpc.ImagesServicer):
    def __init__(self, local: Images) -> None:
        self.local = local

    def register(self, server: Any) -> None:
        pb_grpc.add_ImagesServicer_to_server(self, server)

    async def Get(self, request: pb.GetImageRequest, context: Any) -> pb.GetImageResponse:
        return pb.GetImageResponse(image=image_to_proto(await run(self.local.get, request.name)))

    async def List(self, request: pb.ListImagesRequest, context: Any) -> pb.ListImagesResponse:
        found = await run(self.local.list, *request.filters)
        return pb.ListImagesResponse(images=[image_to_proto(i) for i in found])

    async def Create(self, request: pb.CreateImageRequest, context: Any) -> pb.CreateImageResponse:
        created = await run(self.local.create, image_from_proto(request.image))
        return pb.CreateImageResponse(image=image_to_proto(created))

    async def Update(self, request: pb.UpdateImageRequest, context: Any) -> pb.UpdateImageResponse:
        updated = await run(self.local.update, image_from_proto(request.image), list(request.update_mask.paths))
        return pb.UpdateImageResponse(image=image_to_proto(updated))

    async def Delete(self, request: pb.DeleteImageRequest, context: Any) -> empty_pb2.Empty:
        await run(self.local.delete, request.name, request.sync)
        return empty_pb2.Empty()


def _local(ic: InitContext) -> Images:
    return Images(ic.get(types.METADATA).images, ic.events, ic.get(types.GC))


local_registration = register(Registration(
    type=types.SERVICE, id="images-service", requires=(types.METADATA, types.GC), init=_local,
    doc="image records, /images/* events, synchronous delete through GC"))
registration = register(Registration(
    type=types.GRPC, id="images", requires=(types.SERVICE,),
    init=lambda ic: ImagesServicer(ic.get_by_id(types.SERVICE, "images-service")),
    doc="gRPC: containerd.services.images.v1.Images"))
