"""The metadata layer: where names, labels and references live.

Blobs and snapshots are just data; the metadata layer says *which namespace* has them,
what they are *called* and what they *reference*. containerd keeps this in one bolt
database; pyctrd keeps it in one SQLite database (``<root>/io.containerd.metadata.v1.sqlite/
meta.db``), with the same rules: every record belongs to a namespace, every change is a
transaction, and garbage collection reads its edges from here.

This module holds the stores' interfaces. The first one is namespaces: a namespace exists
once created (explicitly, or implicitly by the first object made in it), carries labels, and
can only be deleted when empty.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

__all__ = ["NamespaceStore"]


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
