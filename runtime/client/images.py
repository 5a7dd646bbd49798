"""Client side of images: records, plus the little walking ``ctr images ls|check`` needs.

The walk here is deliberately minimal (index -> manifests for one platform -> config and
layers); the full image-format code lives with the registry work.
"""
from __future__ import annotations

import json
import platform as platform_
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from google.protobuf import field_mask_pb2

from .._api.containerd.api.services.images.v1 import images_pb2 as pb
from .._api.containerd.api.services.images.v1 import images_pb2_grpc as pb_grpc
from .._api.containerd.api.types import descriptor_pb2
from ..core.content import Provider
from ..core.metadata import Image
from ..core.ocispec import Descriptor, Platform
from ..errdefs import InvalidArgument, NotFound
from .connection import Connection

__all__ = ["CheckResult", "ImagesClient", "check", "host_platform", "image_platforms", "image_size"]

_INDEX = ("application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json")
_MANIFEST = ("application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json")


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
    """An :class:`~pyctrd.core.metadata.ImageStore` in the daemon, plus ``delete(sync=)``."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._stub = conn.stub(pb_grpc.ImagesStub)

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


# -- the minimal walk -------------------------------------------------------------------------
def host_platform() -> Platform:
    return Platform.parse(f"linux/{platform_.machine()}")


def _read_json(cs: Provider, d: Descriptor) -> Any:
    r = cs.reader_at(d.digest)
    try:
        data = r.read_at(0, r.size)
    finally:
        r.close()
    try:
        return json.loads(data)
    except ValueError as exc:
        raise InvalidArgument(f"{d.digest[:19]}: not JSON: {exc}") from None


def _matches(p: Platform | None, want: Platform) -> bool:
    return p is None or (p.os == want.os and p.architecture == want.architecture)


def _manifests(cs: Provider, target: Descriptor, want: Platform | None) -> list[Descriptor]:
    """The manifests under ``target`` for ``want`` (all of them for None)."""
    if target.media_type in _MANIFEST:
        return [target]
    if target.media_type not in _INDEX:
        raise InvalidArgument(f"unexpected media type {target.media_type}")
    found = []
    for child in _read_json(cs, target).get("manifests") or []:
        d = Descriptor.from_json(child)
        if want is None or _matches(d.platform, want):
            found.extend(_manifests(cs, d, want))
    return found


@dataclass
class CheckResult:
    """What ``ctr images check`` reports: which blobs the image needs and which are here."""

    available: bool
    required: list[Descriptor] = field(default_factory=list)
    present: list[Descriptor] = field(default_factory=list)
    missing: list[Descriptor] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"<CheckResult {len(self.present)}/{len(self.required)} {'available' if self.available else '?'}>"


def check(cs: Any, target: Descriptor, want: Platform | None = None) -> CheckResult:
    """containerd's ``images.Check``: are the config and layers of the image's manifest (for
    ``want``, default this host) here? The manifest itself is not counted; a missing manifest
    makes the image *unavailable*.
    """
    try:
        manifests = _manifests(cs, target, want or host_platform())
        if not manifests:
            raise NotFound(f"manifest for {want or host_platform()}")
        doc = _read_json(cs, manifests[0])
    except NotFound:
        return CheckResult(False, required=[target], missing=[target])
    res = CheckResult(True)
    for d in [Descriptor.from_json(doc["config"]), *map(Descriptor.from_json, doc.get("layers") or [])]:
        res.required.append(d)
        try:
            cs.info(d.digest)
        except NotFound:
            res.missing.append(d)
        else:
            res.present.append(d)
    return res


def image_size(cs: Any, target: Descriptor, want: Platform | None = None) -> int:
    """Bytes of the manifest, config and layers for ``want`` (ctr's SIZE column)."""
    total = 0
    for m in _manifests(cs, target, want or host_platform()):
        doc = _read_json(cs, m)
        total += m.size + sum(Descriptor.from_json(d).size for d in [doc["config"], *(doc.get("layers") or [])])
    return total


def image_platforms(cs: Any, target: Descriptor) -> list[str]:
    """``os/arch`` of every manifest (from the index entries or the config)."""
    out = set()
    for m in _manifests(cs, target, None):
        if m.platform is not None:
            out.add(str(m.platform))
            continue
        cfg = _read_json(cs, Descriptor.from_json(_read_json(cs, m)["config"]))
        out.add(str(Platform(str(cfg.get("os", "")), str(cfg.get("architecture", "")), str(cfg.get("variant", "")))))
    return sorted(out)
