"""The content store: immutable blobs addressed by digest, and the ingests that write them.

Vocabulary (containerd's):

- **blob**: committed bytes, named by their digest (``sha256:…``). Never changes.
- **ingest**: a write in progress, named by a client-chosen **ref** (``layer-sha256:…``).
  It survives crashes: a writer opened again with the same ref continues at its offset.
- **commit**: verify size and digest of an ingest, then move it atomically to a blob.
- **labels**: small key/values on a blob; ``containerd.io/gc.ref.content.*`` labels are the
  edges garbage collection follows.

How a pull writes a layer (the story ``ctr images pull`` tells)::

    w = store.writer("layer-sha256:abc…", total=size, expected="sha256:abc…")
    w.write(chunk) ...            # resumable: w.status().offset after a restart
    w.commit(size, "sha256:abc…") # size or digest mismatch -> FailedPrecondition, nothing committed
    store.info("sha256:abc…")     # Info(digest, size, created_at, updated_at, labels)

The interfaces are small on purpose (consumers define what they need): :class:`Provider`
reads, :class:`Ingester` writes, :class:`IngestManager` watches ingests, :class:`Manager`
manages blobs; :class:`ContentStore` is all four. Namespaces come from
:mod:`pyctrd.core.namespaces` (the metadata layer uses them; the local store ignores them).
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

__all__ = [
    "ContentStore", "Info", "IngestManager", "Ingester", "Manager", "Provider", "ReaderAt",
    "Status", "Writer",
]


@dataclass
class Info:
    """A committed blob."""

    digest: str
    size: int
    created_at: datetime | None = None
    updated_at: datetime | None = None
    labels: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        lab = f" labels={len(self.labels)}" if self.labels else ""
        return f"<Info {self.digest[:19]} {self.size}B{lab}>"


@dataclass
class Status:
    """An ingest in progress."""

    ref: str
    offset: int = 0
    total: int = 0
    expected: str = ""
    started_at: datetime | None = None
    updated_at: datetime | None = None

    def __repr__(self) -> str:
        return f"<Status {self.ref} {self.offset}/{self.total or '?'}>"


class ReaderAt(Protocol):
    """Random access to one blob. Close it when done."""

    @property
    def size(self) -> int: ...

    def read_at(self, offset: int, n: int) -> bytes:
        """Up to ``n`` bytes at ``offset`` (fewer only at the end)."""

    def close(self) -> None: ...


class Writer(Protocol):
    """An open ingest. One writer per ref at a time."""

    def write(self, data: bytes) -> int: ...

    def digest(self) -> str:
        """Digest of what was written so far."""

    def status(self) -> Status: ...

    def commit(self, size: int, expected: str, labels: dict[str, str] | None = None) -> None:
        """Verify and move into the blob store.

        Raises:
            FailedPrecondition: size or digest do not match (the ingest is kept, not committed).
            AlreadyExists: the blob exists already (the ingest is removed).
        """

    def truncate(self, size: int) -> None:
        """Only ``truncate(0)`` is required: restart the ingest from the beginning."""

    def close(self) -> None:
        """Release the ref lock without committing (the ingest stays, resumable)."""


@runtime_checkable
class Provider(Protocol):
    def reader_at(self, digest: str) -> ReaderAt:
        """Raises NotFound if the blob is not committed (in this namespace)."""


@runtime_checkable
class Ingester(Protocol):
    def writer(self, ref: str, total: int = 0, expected: str = "") -> Writer:
        """Open (or resume) the ingest ``ref``.

        Raises:
            Unavailable: another writer holds ``ref`` ("ref … locked").
            AlreadyExists: ``expected`` names a blob that is already committed.
            InvalidArgument: empty ref or malformed expected digest.
        """


@runtime_checkable
class IngestManager(Protocol):
    def status(self, ref: str) -> Status:
        """Raises NotFound for an unknown ref."""

    def list_statuses(self, *filters: str) -> list[Status]: ...

    def abort(self, ref: str) -> None:
        """Remove an ingest. Raises NotFound for an unknown ref."""


@runtime_checkable
class Manager(Protocol):
    def info(self, digest: str) -> Info:
        """Raises NotFound."""

    def update(self, info: Info, fieldpaths: Sequence[str] = ()) -> Info:
        """Replace labels (all, or only ``labels.<key>`` fieldpaths). Raises NotFound."""

    def walk(self, *filters: str) -> Iterator[Info]:
        """Every committed blob matching any filter (containerd's filter syntax)."""

    def delete(self, digest: str) -> None:
        """Raises NotFound."""


@runtime_checkable
class ContentStore(Provider, Ingester, IngestManager, Manager, Protocol):
    """All four: what the content plugin and the metadata layer provide."""
