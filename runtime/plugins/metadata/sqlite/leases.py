"""Leases in the metadata database (implements :class:`pyctrd.core.leases.LeaseManager`).

Two tables: ``leases`` (namespace, id, created_at, labels) and ``lease_resources``
(namespace, lease, type, id). A resource row is just a name - the blob or snapshot need not
exist, exactly as in containerd, so a pull can lease a layer before fetching it.

Stores attach what they create to the *current* lease with :func:`attach` inside their own
transaction; that is the whole mechanism behind "everything created while a lease is
current belongs to it".
"""
from __future__ import annotations

import builtins
import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime

from .... import errdefs
from ....core import digest as digests
from ....core import gc, leases, namespaces
from ....core import labels as labels_
from ....core.filters import parse_all
from ....core.leases import Lease, Resource, adapt_lease
from ....errdefs import AlreadyExists, InvalidArgument, NotFound
from .db import DB
from .namespaces import NamespaceStore

__all__ = ["LeaseStore", "attach", "detach", "parse_resource", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


def parse_resource(r: Resource) -> Resource:
    """Check a resource's type and ID as containerd's ``parseLeaseResource`` does.

    >>> parse_resource(Resource("k", "snapshots/overlayfs"))
    <Resource snapshots/overlayfs k>
    >>> parse_resource(Resource("x", "images"))
    Traceback (most recent call last):
    ...
    pyctrd.errdefs.NotImplemented: resource type images not supported yet: not implemented

    Raises:
        InvalidArgument: a content ID that is not a digest, a malformed type.
        NotImplemented: a type other than content, ingests, snapshots/<snapshotter>.
    """
    parts = r.type.split("/")
    if parts[0] in ("content", "ingests"):
        if len(parts) != 1:
            raise InvalidArgument(f"invalid resource type {r.type}")
        if parts[0] == "content":
            try:
                digests.validate(r.id)
            except Exception as exc:
                raise InvalidArgument(f"invalid content resource id {r.id}: {exc}") from None
    elif parts[0] == "snapshots":
        if len(parts) != 2 or not parts[1]:
            raise InvalidArgument(f"invalid snapshot resource type {r.type}")
    else:
        raise errdefs.NotImplemented(f"resource type {r.type} not supported yet")
    if not r.id:
        raise InvalidArgument(f"resource of type {r.type} needs an id")
    return r


def _lease_exists(c: sqlite3.Connection, ns: str, lease_id: str) -> bool:
    return c.execute("SELECT 1 FROM leases WHERE namespace=? AND id=?", (ns, lease_id)).fetchone() is not None


def attach(c: sqlite3.Connection, type_: str, id_: str) -> bool:
    """Add a resource to the current lease (if any), in the caller's transaction.

    Returns whether a lease took it. Raises NotFound when the current lease does not exist
    (containerd: "lease does not exist").
    """
    lid = leases.current()
    if not lid:
        return False
    ns = namespaces.get()
    if not _lease_exists(c, ns, lid):
        raise NotFound(f'lease "{lid}" does not exist')
    c.execute("INSERT OR IGNORE INTO lease_resources VALUES (?,?,?,?)", (ns, lid, type_, id_))
    return True


def detach(c: sqlite3.Connection, type_: str, id_: str) -> None:
    """Remove a resource from the current lease (if any); nothing held is not an error."""
    lid = leases.current()
    if lid:
        c.execute("DELETE FROM lease_resources WHERE namespace=? AND lease=? AND type=? AND id=?",
                  (namespaces.get(), lid, type_, id_))


class LeaseStore:
    """Leases of the current namespace (from :mod:`pyctrd.core.namespaces`).

    Args:
        db: the metadata database.
        clock: now, timezone-aware (tests inject one).
    """

    def __init__(self, db: DB, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.clock = clock
        self._namespaces = NamespaceStore(db)

    def __repr__(self) -> str:
        with self.db.view() as c:
            n = c.execute("SELECT COUNT(*) FROM leases").fetchone()[0]
        return f"<LeaseStore {n} leases>"

    def create(self, id: str, labels: dict[str, str] | None = None) -> Lease:
        """A new lease; an empty ``id`` picks a random one (see the Protocol for errors)."""
        id = id or leases.random_id()
        labels = dict(labels or {})
        labels_.validate_all(labels)
        gc.validate_labels(labels)
        ns = namespaces.get()
        now = self.clock()
        with self.db.update() as c:
            self._namespaces.ensure(ns)
            if _lease_exists(c, ns, id):
                raise AlreadyExists(f'lease "{id}"')
            c.execute("INSERT INTO leases VALUES (?,?,?,?)", (ns, id, now.isoformat(), json.dumps(labels)))
        return Lease(id, now, labels)

    def delete(self, id: str, sync: bool = False) -> None:
        """Remove the lease and its resource rows (``sync`` is the service's business)."""
        with self.db.update() as c:
            if c.execute("DELETE FROM leases WHERE namespace=? AND id=?", (namespaces.get(), id)).rowcount == 0:
                raise NotFound(f'lease "{id}"')
            self.db.mark_dirty()

    def list(self, *filters: str) -> list[Lease]:
        match = parse_all(filters)
        with self.db.view() as c:
            rows = c.execute("SELECT id, created_at, labels FROM leases WHERE namespace=? ORDER BY id",
                             (namespaces.get(),)).fetchall()
        found = [Lease(r[0], datetime.fromisoformat(r[1]), json.loads(r[2])) for r in rows]
        return [lease for lease in found if match.match(adapt_lease(lease))]

    def _require(self, c: sqlite3.Connection, id: str) -> str:
        ns = namespaces.get()
        if not _lease_exists(c, ns, id):
            raise NotFound(f'lease "{id}"')
        return ns

    def add_resource(self, id: str, resource: Resource) -> None:
        parse_resource(resource)
        with self.db.update() as c:
            ns = self._require(c, id)
            c.execute("INSERT OR IGNORE INTO lease_resources VALUES (?,?,?,?)", (ns, id, resource.type, resource.id))

    def delete_resource(self, id: str, resource: Resource) -> None:
        parse_resource(resource)
        with self.db.update() as c:
            ns = self._require(c, id)
            c.execute("DELETE FROM lease_resources WHERE namespace=? AND lease=? AND type=? AND id=?",
                      (ns, id, resource.type, resource.id))
            self.db.mark_dirty()

    def list_resources(self, id: str) -> builtins.list[Resource]:
        with self.db.view() as c:
            ns = self._require(c, id)
            rows = c.execute("SELECT id, type FROM lease_resources WHERE namespace=? AND lease=? "
                             "ORDER BY type, id", (ns, id)).fetchall()
        return [Resource(r[0], r[1]) for r in rows]
