"""Media types: what a descriptor points at, and what containerd does with each kind.

An image is a small graph of JSON documents and blobs. The media type on each descriptor says
how to read the bytes: an **index** lists manifests (one per platform), a **manifest** names one
config and an ordered list of layers, a **config** holds the runtime defaults and the layers'
uncompressed digests (``rootfs.diff_ids``), and a **layer** is a (usually gzipped) tar.

>>> is_layer_type("application/vnd.oci.image.layer.v1.tar+gzip"), diff_compression(MEDIA_TYPE_DOCKER_LAYER)
(True, 'gzip')
>>> child_gc_labels(Descriptor(MEDIA_TYPE_OCI_MANIFEST, "sha256:" + "0" * 64, 1))
['containerd.io/gc.ref.content.m.']
"""
from __future__ import annotations

from ...errdefs import NotImplemented as NotImplementedKind
from ..ocispec import (
    MEDIA_TYPE_DOCKER_CONFIG,
    MEDIA_TYPE_DOCKER_LAYER,
    MEDIA_TYPE_DOCKER_LAYER_FOREIGN,
    MEDIA_TYPE_DOCKER_MANIFEST,
    MEDIA_TYPE_DOCKER_MANIFEST_LIST,
    MEDIA_TYPE_OCI_CONFIG,
    MEDIA_TYPE_OCI_INDEX,
    MEDIA_TYPE_OCI_LAYER,
    MEDIA_TYPE_OCI_MANIFEST,
    Descriptor,
)

__all__ = [
    "ANNOTATION_IMAGE_NAME", "ANNOTATION_REF_NAME", "LABEL_DISTRIBUTION_SOURCE",
    "LABEL_GC_REF_CONTENT", "LABEL_UNCOMPRESSED", "MEDIA_TYPE_CHECKPOINT",
    "MEDIA_TYPE_CHECKPOINT_CONFIG", "MEDIA_TYPE_DOCKER_LAYER_FOREIGN_TAR",
    "MEDIA_TYPE_DOCKER_LAYER_TAR", "MEDIA_TYPE_DOCKER_SCHEMA1_MANIFEST", "child_gc_labels",
    "diff_compression", "is_config_type", "is_docker_type", "is_index_type", "is_known_config",
    "is_layer_type", "is_manifest_type", "is_non_distributable", "kind_of",
]

MEDIA_TYPE_DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"
MEDIA_TYPE_DOCKER_LAYER_FOREIGN_TAR = "application/vnd.docker.image.rootfs.foreign.diff.tar"
MEDIA_TYPE_DOCKER_SCHEMA1_MANIFEST = "application/vnd.docker.distribution.manifest.v1+prettyjws"
MEDIA_TYPE_CHECKPOINT = "application/vnd.containerd.container.criu.checkpoint.criu.tar"
MEDIA_TYPE_CHECKPOINT_CONFIG = "application/vnd.containerd.container.checkpoint.config.v1+proto"

#: Annotation on an index entry naming the image it belongs to (containerd's import/export).
ANNOTATION_IMAGE_NAME = "io.containerd.image.name"
#: The OCI annotation for a manifest's tag inside an image layout (``latest``).
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
#: Content label prefixes containerd sets during a pull.
LABEL_GC_REF_CONTENT = "containerd.io/gc.ref.content"
LABEL_DISTRIBUTION_SOURCE = "containerd.io/distribution.source"
LABEL_UNCOMPRESSED = "containerd.io/uncompressed"

_DOCKER_LAYERS = {MEDIA_TYPE_DOCKER_LAYER_TAR, MEDIA_TYPE_DOCKER_LAYER,
                  MEDIA_TYPE_DOCKER_LAYER_FOREIGN_TAR, MEDIA_TYPE_DOCKER_LAYER_FOREIGN}


def _split(mt: str) -> tuple[str, list[str]]:
    base, *ext = mt.split("+")
    return base, sorted(ext)


def is_manifest_type(mt: str) -> bool:
    return mt in (MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_OCI_MANIFEST)


def is_index_type(mt: str) -> bool:
    return mt in (MEDIA_TYPE_DOCKER_MANIFEST_LIST, MEDIA_TYPE_OCI_INDEX)


def is_config_type(mt: str) -> bool:
    return mt in (MEDIA_TYPE_DOCKER_CONFIG, MEDIA_TYPE_OCI_CONFIG)


def is_known_config(mt: str) -> bool:
    """Config types containerd knows, including checkpoint configs (they are leaves)."""
    return is_config_type(mt) or mt in (MEDIA_TYPE_CHECKPOINT, MEDIA_TYPE_CHECKPOINT_CONFIG)


def is_layer_type(mt: str) -> bool:
    return mt.startswith("application/vnd.oci.image.layer.") or _split(mt)[0] in _DOCKER_LAYERS


def is_docker_type(mt: str) -> bool:
    return mt.startswith("application/vnd.docker.")


def is_non_distributable(mt: str) -> bool:
    return mt.startswith(("application/vnd.oci.image.layer.nondistributable.",
                          "application/vnd.docker.image.rootfs.foreign."))


def kind_of(mt: str) -> str:
    """``index``, ``manifest``, ``config``, ``layer`` or ``unknown`` (the ingest-ref prefix)."""
    if is_manifest_type(mt):
        return "manifest"
    if is_index_type(mt):
        return "index"
    if is_layer_type(mt):
        return "layer"
    if is_known_config(mt):
        return "config"
    return "unknown"


def diff_compression(mt: str) -> str:
    """The compression of a layer media type: ``gzip``, ``zstd``, ``""`` (none) or ``unknown``.

    ``unknown`` means "look at the bytes" (docker's plain ``diff.tar`` may still be gzipped).
    An encrypted or otherwise extended docker type yields ``""`` like containerd.

    Raises:
        NotImplemented: not a layer media type.
    """
    base, ext = _split(mt)
    if base in (MEDIA_TYPE_DOCKER_LAYER_TAR, MEDIA_TYPE_DOCKER_LAYER_FOREIGN_TAR):
        return "" if ext else "unknown"
    if base in (MEDIA_TYPE_DOCKER_LAYER, MEDIA_TYPE_DOCKER_LAYER_FOREIGN):
        return "" if ext else "gzip"
    if base in (MEDIA_TYPE_OCI_LAYER, "application/vnd.oci.image.layer.nondistributable.v1.tar"):
        return ext[-1] if ext and ext[-1] in ("gzip", "zstd") else ""
    raise NotImplementedKind(f"unrecognised media type {mt}")


def child_gc_labels(desc: Descriptor) -> list[str]:
    """The label key(s) a parent uses to point at this child, for garbage collection.

    Keys ending in ``.`` get an index appended (``…l.0``, ``…l.1``) by whoever sets them.
    """
    mt = desc.media_type
    if is_known_config(mt):
        return [f"{LABEL_GC_REF_CONTENT}.config"]
    if is_manifest_type(mt):
        return [f"{LABEL_GC_REF_CONTENT}.m."]
    if is_layer_type(mt):
        return [f"{LABEL_GC_REF_CONTENT}.l."]
    return [f"{LABEL_GC_REF_CONTENT}."]
