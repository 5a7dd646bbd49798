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

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from ...errdefs import InvalidArgument
from ..filters import Adaptor

__all__ = [
    "MAX_LABEL_SIZE", "ContentStore", "Info", "IngestManager", "Ingester", "Manager", "Provider",
    "ReaderAt", "Status", "Writer", "adapt_info", "adapt_status", "validate_labels",
]

#: containerd's limit for one label: key and value together, in bytes.
MAX_LABEL_SIZE = 4096


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
        """Up to ``n`` bytes at ``offset``: fewer only at the end, ``b""`` at or past it.

        Raises:
            InvalidArgument: negative offset or length.
        """

    def close(self) -> None: ...


class Writer(Protocol):
    """An open ingest. One writer per ref at a time. ``write``, ``commit`` and ``truncate``
    raise FailedPrecondition once the writer is closed or committed."""

    def write(self, data: bytes) -> int:
        """Append ``data`` at the current offset; returns ``len(data)``."""

    def digest(self) -> str:
        """Digest of what was written so far."""

    def status(self) -> Status:
        """This ingest's ref, offset, total, expected digest and times."""

    def commit(self, size: int, expected: str, labels: dict[str, str] | None = None) -> None:
        """Verify and move into the blob store. ``size`` 0 or ``expected`` "" skip that check.

        The writer is closed afterwards (its lock released), whatever the outcome, except
        for InvalidArgument: bad arguments are refused before anything happens.

        Raises:
            InvalidArgument: malformed ``expected`` or a label too large.
            FailedPrecondition: size or digest do not match (the ingest is kept, not committed).
            AlreadyExists: the blob exists already (the ingest is removed).
        """

    def truncate(self, size: int) -> None:
        """Only ``truncate(0)`` is required: restart the ingest from the beginning.

        Raises:
            InvalidArgument: a size this writer cannot truncate to.
        """

    def close(self) -> None:
        """Release the ref lock without committing (the ingest stays, resumable). Never raises."""


@runtime_checkable
class Provider(Protocol):
    def reader_at(self, digest: str) -> ReaderAt:
        """Raises InvalidArgument (malformed digest) or NotFound (not committed, in this namespace)."""


@runtime_checkable
class Ingester(Protocol):
    def writer(self, ref: str, total: int = 0, expected: str = "") -> Writer:
        """Open (or resume) the ingest ``ref``.

        Raises:
            Unavailable: another writer holds ``ref`` ("ref … locked").
            AlreadyExists: ``expected`` names a blob that is already committed.
            InvalidArgument: empty ref or malformed expected digest.
            FailedPrecondition: ``total`` differs from the one the ingest started with.
        """


@runtime_checkable
class IngestManager(Protocol):
    def status(self, ref: str) -> Status:
        """Raises NotFound for an unknown ref."""

    def list_statuses(self, *filters: str) -> list[Status]:
        """Ingests matching any filter (field ``ref``). Raises InvalidArgument for a bad filter."""

    def abort(self, ref: str) -> None:
        """Remove an ingest. Raises NotFound for an unknown ref."""


@runtime_checkable
class Manager(Protocol):
    def info(self, digest: str) -> Info:
        """Raises InvalidArgument (malformed digest) or NotFound."""

    def update(self, info: Info, fieldpaths: Sequence[str] = ()) -> Info:
        """Replace labels (all, or only ``labels.<key>`` fieldpaths; an empty value removes).

        Raises:
            NotFound: no such blob.
            InvalidArgument: malformed digest, a fieldpath other than labels, a label too large.
        """

    def walk(self, *filters: str) -> Iterator[Info]:
        """Every committed blob matching any filter (fields ``digest``, ``size``, ``labels.<key>``).

        Raises:
            InvalidArgument: a filter does not parse (at the latest on the first ``next``).
        """

    def delete(self, digest: str) -> None:
        """Raises InvalidArgument (malformed digest) or NotFound."""


@runtime_checkable
class ContentStore(Provider, Ingester, IngestManager, Manager, Protocol):
    """All four: what the content plugin and the metadata layer provide."""


def validate_labels(labels: Mapping[str, str]) -> None:
    """Check every label as containerd does: ``len(key) + len(value)`` at most 4096 bytes.

    >>> validate_labels({"containerd.io/gc.ref.content.l.0": "sha256:…"})
    >>> validate_labels({"big": "x" * 4096})
    Traceback (most recent call last):
    ...
    pyctrd.errdefs.InvalidArgument: label key and value greater than maximum size (4096 bytes), key: big: invalid argument

    Raises:
        InvalidArgument: a label is too large (the message shows the key's first 10 characters).
    """
    for key, value in labels.items():
        if len(key.encode()) + len(value.encode()) > MAX_LABEL_SIZE:
            raise InvalidArgument(f"label key and value greater than maximum size ({MAX_LABEL_SIZE} bytes), "
                                  f"key: {key[:10]}")


def adapt_info(info: Info) -> Adaptor:
    """The filter fields of a blob: ``digest``, ``size`` and ``labels.<key>``.

    >>> from pyctrd.core.filters import parse_all
    >>> info = Info("sha256:" + "a" * 64, 3, labels={"team": "red"})
    >>> parse_all(["labels.team==red"]).match(adapt_info(info)), parse_all(["size==4"]).match(adapt_info(info))
    (True, False)
    """

    def field(fieldpath: Sequence[str]) -> tuple[str, bool]:
        if not fieldpath:
            return "", False
        if fieldpath[0] == "digest":
            return info.digest, True
        if fieldpath[0] == "size":
            return str(info.size), True
        if fieldpath[0] == "labels" and len(fieldpath) > 1:
            key = ".".join(fieldpath[1:])
            return info.labels.get(key, ""), key in info.labels
        return "", False

    return field


def adapt_status(status: Status) -> Adaptor:
    """The filter fields of an ingest: only ``ref``, as in containerd.

    >>> from pyctrd.core.filters import parse_all
    >>> parse_all(["ref~=^layer-"]).match(adapt_status(Status("layer-1")))
    True
    """

    def field(fieldpath: Sequence[str]) -> tuple[str, bool]:
        if list(fieldpath) == ["ref"]:
            return status.ref, True
        return "", False

    return field
