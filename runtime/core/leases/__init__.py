"""Leases: how a client tells the garbage collector "I am still using this".

A lease is a named record (with labels such as ``containerd.io/gc.expire``) to which
resources are attached: blobs, ingests, snapshots. While a lease exists (and has not
expired), what it holds is a GC root. A pull runs inside a lease so that half-fetched
content is not collected before the image record that references it is created; then the
lease is deleted and the image keeps what it needs.

A call joins a lease through the ``containerd-lease`` gRPC header; in-process code uses the
:func:`lease` context manager. Everything created during the call is attached to it.

>>> current() is None
True
>>> with lease("pull-1"):
...     current()
'pull-1'

Resources are typed as containerd types them:

>>> Resource("sha256:" + "a" * 64, "content"), Resource("k1", "snapshots/overlayfs")
(<Resource content sha256:aaaaaaaaaaaa>, <Resource snapshots/overlayfs k1>)
"""
from __future__ import annotations

import builtins
import contextvars
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from .. import digest as digests
from ..filters import Adaptor

__all__ = [
    "GRPC_HEADER", "LABEL_EXPIRE", "LABEL_FLAT", "Lease", "LeaseManager", "Resource", "adapt_lease",
    "current", "expire_label", "lease", "random_id", "set_current",
]

#: gRPC metadata key carrying the lease ID (containerd's ``leases.GRPCHeader``).
GRPC_HEADER = "containerd-lease"
#: RFC 3339 time after which the lease no longer protects anything.
LABEL_EXPIRE = "containerd.io/gc.expire"
#: present: the lease holds its resources but not what their labels reference.
LABEL_FLAT = "containerd.io/gc.flat"

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("pyctrd_lease", default=None)


def current() -> str | None:
    """The lease the current call runs in, if any."""
    return _current.get()


def set_current(lease_id: str | None) -> contextvars.Token[str | None]:
    return _current.set(lease_id or None)


@contextmanager
def lease(lease_id: str) -> Iterator[str]:
    token = _current.set(lease_id)
    try:
        yield lease_id
    finally:
        _current.reset(token)


@dataclass
class Lease:
    """A lease record."""

    id: str
    created_at: datetime | None = None
    labels: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        exp = f" expires={self.labels[LABEL_EXPIRE]}" if LABEL_EXPIRE in self.labels else ""
        return f"<Lease {self.id}{exp}{' flat' if LABEL_FLAT in self.labels else ''}>"


@dataclass(frozen=True, order=True)
class Resource:
    """Something a lease holds: ``type`` is ``content`` (id = digest), ``ingests`` (id = ref)
    or ``snapshots/<snapshotter>`` (id = snapshot key)."""

    id: str
    type: str

    def __repr__(self) -> str:
        shown = self.id[:19] if digests.is_digest(self.id) else self.id
        return f"<Resource {self.type} {shown}>"


def expire_label(ttl: float, now: datetime) -> dict[str, str]:
    """The label that makes a lease expire ``ttl`` seconds after ``now`` (``WithExpiration``).

    >>> from datetime import UTC
    >>> expire_label(3600, datetime(2024, 5, 1, 12, 0, tzinfo=UTC))
    {'containerd.io/gc.expire': '2024-05-01T13:00:00Z'}
    """
    t = (now + timedelta(seconds=ttl)).replace(microsecond=0)
    return {LABEL_EXPIRE: t.isoformat().replace("+00:00", "Z")}


def random_id() -> str:
    """A fresh lease ID like containerd's ``WithRandomID``: nanoseconds and 3 random bytes.

    >>> len(random_id().split("-")) >= 2
    True
    """
    import base64

    return f"{time.time_ns() % 1_000_000_000}-{base64.urlsafe_b64encode(os.urandom(3)).decode()}"


def adapt_lease(lease: Lease) -> Adaptor:
    """Filter fields of a lease: ``id`` and ``labels.<key>``.

    >>> from pyctrd.core.filters import parse_all
    >>> parse_all(["labels.team==red"]).match(adapt_lease(Lease("l1", labels={"team": "red"})))
    True
    """

    def field_(fieldpath: Sequence[str]) -> tuple[str, bool]:
        path = fieldpath
        if list(path) == ["id"]:
            return lease.id, bool(lease.id)
        if path and path[0] == "labels" and len(path) > 1:
            key = ".".join(path[1:])
            return lease.labels.get(key, ""), key in lease.labels
        return "", False

    return field_


@runtime_checkable
class LeaseManager(Protocol):
    """Create, list and delete leases of the current namespace, and what they hold.

    Resources are usually attached implicitly: run the work inside :func:`lease` (or send the
    ``containerd-lease`` header) and every blob, ingest and snapshot it creates is added.
    """

    def create(self, id: str, labels: dict[str, str] | None = None) -> Lease:
        """A new lease (``id`` "" picks a random one).

        Raises:
            AlreadyExists: a lease with this ID exists in the namespace.
            InvalidArgument: a bad ID, an oversized label, a ``gc.expire`` that is not RFC 3339.
        """

    def delete(self, id: str, sync: bool = False) -> None:
        """Remove the lease (its resources become collectable). ``sync`` waits for a
        garbage collection to finish, where a collector is attached.

        Raises:
            NotFound: no such lease.
        """

    def list(self, *filters: str) -> list[Lease]:
        """Leases matching any filter (fields ``id``, ``labels.<key>``), sorted by ID.

        Raises:
            InvalidArgument: a filter does not parse.
        """

    def add_resource(self, id: str, resource: Resource) -> None:
        """Hold ``resource`` (it need not exist yet). Adding twice is not an error.

        Raises:
            NotFound: no such lease.
            InvalidArgument: a malformed resource (a content ID that is not a digest...).
            NotImplemented: an unknown resource type.
        """

    def delete_resource(self, id: str, resource: Resource) -> None:
        """Stop holding ``resource`` (not holding it is not an error).

        Raises:
            NotFound: no such lease.
            InvalidArgument, NotImplemented: as for :meth:`add_resource`.
        """

    def list_resources(self, id: str) -> builtins.list[Resource]:
        """What the lease holds, sorted by type then ID.

        Raises:
            NotFound: no such lease.
        """
