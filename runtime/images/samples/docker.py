"""The busybox sample in Docker's media types: what most registries (Docker Hub) still serve.

containerd pulls both formats; the image it records keeps the media types the registry
sent. So a pull of these must store ``application/vnd.docker.distribution.manifest.v2+json``
(or ``.list.v2+json``) as the image's target, a ``...container.image.v1+json`` config and
``...image.rootfs.diff.tar.gzip`` layers - the same bytes as the OCI busybox's layer, so the
same diff ID and chain ID, only the documents differ.

- ``busybox-docker``: one Docker v2 manifest (linux/<this host>).
- ``busybox-docker-list``: a Docker manifest list over that manifest and a ``linux/arm64/v8``
  entry. The arm64 entry's config says arm64 but its layer is this host's busybox: it exists
  so that platform selection (``--platform``, ``--all-platforms``) has something to choose
  between. Never run it.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from ...core.images.manifest import Index, encode
from ...core.images.platforms import default_platform
from ...core.ocispec import (
    MEDIA_TYPE_DOCKER_CONFIG,
    MEDIA_TYPE_DOCKER_LAYER,
    MEDIA_TYPE_DOCKER_MANIFEST,
    MEDIA_TYPE_DOCKER_MANIFEST_LIST,
    Descriptor,
    Platform,
)
from ..blobmap import BlobMap
from .build import BUSYBOX, MediaTypes, SampleImage, _image, base_tar

__all__ = ["ARM64", "DOCKER", "build_docker_samples"]

DOCKER = MediaTypes(MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_DOCKER_CONFIG, MEDIA_TYPE_DOCKER_LAYER)
ARM64 = Platform("linux", "arm64", "v8")


def build_docker_samples(busybox: str = BUSYBOX, blobs: BlobMap | None = None) -> Mapping[str, SampleImage]:
    """``{"busybox-docker": ..., "busybox-docker-list": ...}`` over one BlobMap.

    The list's :class:`SampleImage` names the list as ``manifest`` and this host's entry's
    config and layers.

    Raises:
        NotFound: the busybox binary is missing.
    """
    blobs = blobs or BlobMap()
    layers = [(base_tar(busybox), "busybox rootfs")]
    host = _image("busybox-docker", layers, blobs, types=DOCKER, platform=default_platform())
    arm = _image("busybox-docker", layers, blobs, types=DOCKER, platform=ARM64)
    data = encode(Index(MEDIA_TYPE_DOCKER_MANIFEST_LIST, (host.manifest, arm.manifest)).to_json()) + b"\n"
    listed = Descriptor(MEDIA_TYPE_DOCKER_MANIFEST_LIST, blobs.add(data), len(data))
    single = replace(host, manifest=replace(host.manifest, platform=None))
    return {"busybox-docker": single, "busybox-docker-list": replace(host, name="busybox-docker-list",
                                                                     manifest=listed)}
