"""Remotes: where images come from and go to (a registry, seen through three small roles).

- a :class:`Resolver` turns a reference (``127.0.0.1:5000/busybox:latest``) into the target
  descriptor of the image, and hands out a fetcher and a pusher for that repository;
- a :class:`Fetcher` streams one blob or manifest by descriptor;
- a :class:`Pusher` uploads one blob or manifest, unless the registry has it already.

A pull is then a walk of the image graph: resolve, fetch the target, parse it, fetch its
children, each written to the content store under an ingest ref from :func:`make_ref_key`
(``manifest-sha256:…``, ``layer-sha256:…``), so a pull that dies half way resumes where it
stopped.

>>> from pyctrd.core.ocispec import Descriptor, MEDIA_TYPE_OCI_LAYER_GZIP
>>> make_ref_key(Descriptor(MEDIA_TYPE_OCI_LAYER_GZIP, "sha256:" + "a" * 64, 1))[:14]
'layer-sha256:a'
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..content import Provider
from ..images.mediatypes import ANNOTATION_REF_NAME, kind_of
from ..ocispec import Descriptor

__all__ = ["BlobReader", "Fetcher", "Progress", "Pusher", "Resolver", "make_ref_key"]


def make_ref_key(desc: Descriptor) -> str:
    """The ingest ref containerd uses for a descriptor: ``<kind>-<digest>`` (with the OCI ref
    name in front of the digest when the descriptor carries one)."""
    key = desc.digest
    name = desc.annotations.get(ANNOTATION_REF_NAME) if desc.annotations else None
    if name:
        key = f"{name}@{key}"
    return f"{kind_of(desc.media_type)}-{key}"


@dataclass(frozen=True)
class Progress:
    """One progress event, shaped like a line of ``ctr images pull``.

    ``status`` is one of ``resolving``, ``resolved``, ``waiting``, ``downloading``,
    ``done``, ``exists`` (pull) or ``uploading``, ``mounted``, ``pushed`` (push).
    """

    ref: str
    status: str
    offset: int = 0
    total: int = 0
    host: str = ""

    def __repr__(self) -> str:
        size = f" {self.offset}/{self.total}" if self.total else ""
        return f"<Progress {self.ref} {self.status}{size}>"


class BlobReader(Protocol):
    """A stream of one blob's bytes, verified as it is read."""

    #: the registry host that served (the last part of) the bytes
    host: str

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes; ``b""`` at the end.

        Raises:
            FailedPrecondition: the bytes do not match the descriptor's size or digest.
            Unavailable: the connection kept dropping (after bounded retries).
        """

    def close(self) -> None: ...


@runtime_checkable
class Fetcher(Protocol):
    def fetch(self, desc: Descriptor, offset: int = 0) -> BlobReader:
        """Open ``desc`` for reading from ``offset``.

        Raises:
            NotFound: no host has it.
            FailedPrecondition: access denied.
            Unavailable: hosts unreachable or failing (5xx) after retries.
            InvalidArgument: a zero-size descriptor or an offset past the end.
        """


@runtime_checkable
class Pusher(Protocol):
    def push(self, desc: Descriptor, provider: Provider) -> str:
        """Upload ``desc`` read from ``provider``: returns ``pushed``, ``exists`` or ``mounted``.

        Raises:
            NotFound: no push-capable host, or the blob is missing from ``provider``.
            FailedPrecondition: access denied or the registry rejected the content.
            Unavailable: hosts unreachable or failing after retries.
        """


@runtime_checkable
class Resolver(Protocol):
    def resolve(self, ref: str) -> tuple[str, Descriptor]:
        """The name and target descriptor ``ref`` stands for.

        Raises:
            InvalidArgument: a malformed reference, or one without a tag or digest.
            NotFound: no host knows it.
            FailedPrecondition: access denied.
            Unavailable: hosts unreachable or failing after retries.
        """

    def fetcher(self, ref: str) -> Fetcher:
        """Raises InvalidArgument for a malformed reference."""

    def pusher(self, ref: str) -> Pusher:
        """Raises InvalidArgument for a malformed reference."""
