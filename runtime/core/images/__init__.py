"""Images: a name pointing at a descriptor graph in the content store.

An **image record** is tiny: a name (``docker.io/library/busybox:latest``), a *target*
descriptor (an index or a manifest) and some labels. Everything else -- which manifest fits
this machine, the config, the layers -- is found by walking blobs from the target
(:mod:`.walk`). The documents are parsed and validated in :mod:`.manifest`, platforms are
matched in :mod:`.platforms`, names are normalised in :mod:`.reference`, and the content labels
a pull leaves (GC edges, distribution sources) are computed in :mod:`.labels`.

>>> from pyctrd.core.ocispec import MEDIA_TYPE_OCI_MANIFEST
>>> Image("docker.io/library/busybox:latest", Descriptor(MEDIA_TYPE_OCI_MANIFEST, "sha256:" + "a" * 64, 349))
<Image docker.io/library/busybox:latest manifest sha256:aaaaaaaaaaaa>
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..ocispec import Descriptor
from .labels import (
    append_distribution_source,
    children_labels,
    distribution_source_key,
    select_mount_candidate,
)
from .manifest import (
    ImageConfig,
    Index,
    Manifest,
    encode,
    manifest_descriptor,
    parse_config,
    parse_document,
    parse_index,
    parse_manifest,
)
from .mediatypes import (
    ANNOTATION_IMAGE_NAME,
    ANNOTATION_REF_NAME,
    child_gc_labels,
    is_index_type,
    is_layer_type,
    is_manifest_type,
    kind_of,
)
from .reference import normalize, parse_docker_ref, parse_spec
from .walk import (
    CheckResult,
    chain_ids,
    check,
    children,
    image_config,
    image_platforms,
    image_size,
    read_blob,
    resolve_manifest,
    rootfs,
    walk,
)

__all__ = [
    "ANNOTATION_IMAGE_NAME", "ANNOTATION_REF_NAME", "CheckResult", "Image", "ImageConfig", "Index",
    "Manifest", "append_distribution_source", "chain_ids", "check", "child_gc_labels", "children",
    "children_labels", "distribution_source_key", "encode", "image_config", "image_platforms",
    "image_size", "is_index_type", "is_layer_type", "is_manifest_type", "kind_of",
    "manifest_descriptor", "normalize", "parse_config", "parse_docker_ref", "parse_document",
    "parse_index", "parse_manifest", "parse_spec", "read_blob", "resolve_manifest", "rootfs",
    "select_mount_candidate", "walk",
]


@dataclass
class Image:
    """An image record as the images service stores it."""

    name: str
    target: Descriptor
    labels: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def __repr__(self) -> str:
        return f"<Image {self.name} {kind_of(self.target.media_type)} {self.target.digest[:19]}>"

    def _repr_html_(self) -> str:
        import html

        return (f"<code>{html.escape(self.name)}</code> &rarr; {html.escape(self.target.media_type)} "
                f"<code>{self.target.digest[:19]}</code> ({self.target.size} B)")

    def __rich_repr__(self) -> Any:
        yield self.name
        yield "target", self.target
        if self.labels:
            yield "labels", self.labels
