"""Client side of images: the records in the daemon, and what their blobs say.

Records are the images service's (get, list, create, update, delete). Everything about an
image's *contents* - which manifest fits this machine, its size, which blobs are present -
comes from walking blobs with :mod:`pyctrd.core.images` over the daemon's content store, as
containerd's client does: :meth:`ImagesClient.check`, :meth:`ImagesClient.size`,
:meth:`ImagesClient.platforms`.
"""
from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import UTC

from google.protobuf import field_mask_pb2

from .._api.containerd.api.services.images.v1 import images_pb2 as pb
from .._api.containerd.api.services.images.v1 import images_pb2_grpc as pb_grpc
from .._api.containerd.api.types import descriptor_pb2
from ..core import images as imgs
from ..core.content import Provider
from ..core.images import CheckResult, Image
from ..core.images import platforms as plat
from ..core.ocispec import Descriptor, Platform
from .connection import Connection

__all__ = ["ImagesClient", "matcher"]



def matcher(platform: str | Platform | plat.MatchComparer | None) -> plat.MatchComparer:
    """``"linux/arm64"``, a Platform or a matcher -> a matcher; None: this host's default."""
    if platform is None:
        return plat.default()
    if isinstance(platform, str):
        return plat.only(plat.parse(platform))
    if isinstance(platform, Platform):
        return plat.only(platform)
    return platform


def _image(p: pb.Image) -> Image:
    t = p.target
    return Image(p.name, Descriptor(t.media_type, t.digest, t.size, dict(t.annotations)), dict(p.labels),
                 p.created_at.ToDatetime(tzinfo=UTC) if p.created_at.seconds else None,
                 p.updated_at.ToDatetime(tzinfo=UTC) if p.updated_at.seconds else None)


def _proto(img: Image) -> pb.Image:
    t = img.target
    return pb.Image(name=img.name, labels=img.labels, target=descriptor_pb2.Descriptor(
        media_type=t.media_type, digest=t.digest, size=t.size, annotations=t.annotations))


class ImagesClient:
    """An :class:`~pyctrd.core.metadata.ImageStore` in the daemon, plus ``delete(sync=)`` and
    the questions answered from the image's blobs (``content``: where to read them).
    """

    def __init__(self, conn: Connection, content: Provider | None = None) -> None:
        self._conn = conn
        self._stub = conn.stub(pb_grpc.ImagesStub)
        self._content = content

    def __repr__(self) -> str:
        return f"<ImagesClient {self._conn.address} ns={self._conn.namespace}>"

    def get(self, name: str) -> Image:
        return _image(self._stub.Get(pb.GetImageRequest(name=name)).image)

    def list(self, *filters: str) -> list[Image]:
        return [_image(i) for i in self._stub.List(pb.ListImagesRequest(filters=list(filters))).images]

    def create(self, image: Image) -> Image:
        """Raises AlreadyExists, InvalidArgument."""
        return _image(self._stub.Create(pb.CreateImageRequest(image=_proto(image))).image)

    def update(self, image: Image, fieldpaths: Sequence[str] = ()) -> Image:
        req = pb.UpdateImageRequest(image=_proto(image), update_mask=field_mask_pb2.FieldMask(paths=list(fieldpaths)))
        return _image(self._stub.Update(req).image)

    def delete(self, name: str, sync: bool = False) -> None:
        """Raises NotFound; ``sync`` returns after the garbage collection it triggers."""
        self._stub.Delete(pb.DeleteImageRequest(name=name, sync=sync))

    # -- what the blobs say ---------------------------------------------------------------------
    def _target(self, image: str | Image) -> Descriptor:
        return (self.get(image) if isinstance(image, str) else image).target

    def _provider(self) -> Provider:
        if self._content is None:
            from .content import ContentProxy

            self._content = ContentProxy(self._conn)
        return self._content

    def check(self, image: str | Image, platform: str | Platform | plat.MatchComparer | None = None
              ) -> CheckResult:
        """Which of the image's config and layers are present (``ctr images check``).

        Raises:
            NotFound: no image of that name; InvalidArgument: a malformed document.
        """
        return imgs.check(self._provider(), self._target(image), matcher(platform))

    def size(self, image: str | Image, platform: str | Platform | plat.MatchComparer | None = None) -> int:
        """Bytes of index, manifest, config and layers for the platform (ctr's SIZE column).

        Raises:
            NotFound: no such image, a missing document, no manifest for the platform.
        """
        return imgs.image_size(self._provider(), self._target(image), matcher(platform))

    def platforms(self, image: str | Image) -> builtins.list[Platform]:
        """Every platform the image offers. Raises NotFound for a missing document."""
        return imgs.image_platforms(self._provider(), self._target(image))
