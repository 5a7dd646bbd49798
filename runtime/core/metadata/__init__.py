"""The metadata layer: where names, labels and references live.

Blobs and snapshots are just data; the metadata layer says *which namespace* has them,
what they are *called* and what they *reference*. containerd keeps this in one bolt
database; pyctrd keeps it in one SQLite database (``<root>/io.containerd.metadata.v1.sqlite/
meta.db``), with the same rules: every record belongs to a namespace, every change is a
transaction, and garbage collection reads its edges from here.

This module holds the stores' interfaces. Namespaces: a namespace exists once created
(explicitly, or implicitly by the first object made in it), carries labels, and can only be
deleted when empty. Images: a name pointing at a target descriptor (an index or manifest in
the content store), with labels - the record only (:class:`pyctrd.core.images.Image`), the
blobs are the content store's.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ..filters import Adaptor
from ..images import Image

__all__ = ["ImageStore", "NamespaceStore", "adapt_image"]


@runtime_checkable
class NamespaceStore(Protocol):
    def create(self, namespace: str, labels: dict[str, str] | None = None) -> None:
        """Raises AlreadyExists, InvalidArgument (bad name or labels)."""

    def labels(self, namespace: str) -> dict[str, str]:
        """Raises NotFound."""

    def set_label(self, namespace: str, key: str, value: str) -> None:
        """Set (``value`` non-empty) or remove (empty) one label. Raises NotFound, InvalidArgument."""

    def list(self) -> Sequence[str]:
        """All namespaces, sorted."""

    def delete(self, namespace: str) -> None:
        """Raises NotFound, FailedPrecondition (namespace still has objects)."""


def adapt_image(image: Image) -> Adaptor:
    """Filter fields of an image: ``name``, ``target.digest``, ``target.mediatype``,
    ``labels.<key>``, ``annotations.<key>`` (containerd's ``adaptImage``).

    >>> from pyctrd.core.filters import parse_all
    >>> from pyctrd.core.ocispec import MEDIA_TYPE_OCI_MANIFEST, Descriptor
    >>> img = Image("x:1", Descriptor(MEDIA_TYPE_OCI_MANIFEST, "sha256:" + "a" * 64, 1), {"a": "b"})
    >>> parse_all(["target.mediatype~=manifest,labels.a==b"]).match(adapt_image(img))
    True
    """

    def field_(fieldpath: Sequence[str]) -> tuple[str, bool]:
        path = fieldpath
        if not path:
            return "", False
        head, rest = path[0], ".".join(path[1:])
        if head == "name" and len(path) == 1:
            return image.name, bool(image.name)
        if head == "target" and rest == "digest":
            return image.target.digest, bool(image.target.digest)
        if head == "target" and rest == "mediatype":
            return image.target.media_type, bool(image.target.media_type)
        if head in ("labels", "annotations") and rest:
            m = image.labels if head == "labels" else image.target.annotations
            return m.get(rest, ""), rest in m
        return "", False

    return field_


@runtime_checkable
class ImageStore(Protocol):
    """Image records of the current namespace."""

    def get(self, name: str) -> Image:
        """Raises NotFound."""

    def list(self, *filters: str) -> list[Image]:
        """Images matching any filter (see :func:`adapt_image`), sorted by name.

        Raises:
            InvalidArgument: a filter does not parse.
        """

    def create(self, image: Image) -> Image:
        """Store a new record; created/updated times are set here.

        Raises:
            AlreadyExists: the name is taken in this namespace.
            InvalidArgument: empty name, bad target (digest, size <= 0, no media type), bad labels.
        """

    def update(self, image: Image, fieldpaths: Sequence[str] = ()) -> Image:
        """Replace the record (no fieldpaths) or only the named fields: ``labels``,
        ``labels.<key>``, ``target``, ``annotations``, ``annotations.<key>``.

        Raises:
            NotFound: no such image.
            InvalidArgument: an unknown fieldpath, or the result would be invalid.
        """

    def delete(self, name: str) -> None:
        """Remove the record (blobs stay until garbage collection).

        Raises:
            NotFound: no such image.
        """
