"""Namespaced snapshots: one backend snapshotter, a set of *records* per namespace.

A snapshotter plugin (overlayfs, native) knows nothing of namespaces. This layer - like
containerd's ``metadata/snapshot.go`` - gives each namespace its own key space by storing a
record per snapshot in ``meta.db`` and naming the backend's snapshot after it::

    namespace  key                         backend key
    default    sha256:e5…(a chain ID)  ->  default/3/sha256:e5…
    default    c1                      ->  default/7/c1
    lab        sha256:e5…              ->  lab/2/sha256:e5…   (another backend snapshot)

So two namespaces may use the same key, and a chain ID committed in one is *not visible*
in the other: containerd 1.6 unpacks an image again in each namespace (its events show the
``extract-…`` prepare/commit pairs a second time). The records hold what the namespace sees:
labels (all of them - the backend only keeps ``containerd.io/snapshot/…`` and
``containerd.io/snapshot.ref``), the parent *by the namespace's name*, and times. Kind,
mounts and usage come from the backend.

**Prepare** runs in three steps, so that the slow backend work holds no database lock:
check the key and the parent and draw a sequence number (a transaction); create the backend
snapshot; write the record (a second transaction, which also attaches the key to the current
lease). If the record cannot be written (a racing prepare of the same key won), the backend
snapshot just made is removed again.

**A shared target.** A prepare labelled ``containerd.io/snapshot.ref=<name>`` says "I am
about to build committed snapshot <name>". A backend that already has such a committed
snapshot (with the same parent) may refuse with AlreadyExists; this layer then records
<name> in the namespace pointing at that backend snapshot and answers AlreadyExists - the
caller skips the layer. (overlayfs and native never do this; remote snapshotters do.)

**Remove** deletes the record only; the backend snapshot goes when the garbage collector
finds no record of any namespace pointing at it (:mod:`.snapshot_gc`).
"""
from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from .... import errdefs
from ....core import labels as labels_
from ....core import namespaces
from ....core.filters import parse_all
from ....core.mount import Mount
from ....core.snapshots import (
    LABEL_SNAPSHOT_REF,
    Cleaner,
    Info,
    Kind,
    Snapshotter,
    Usage,
    adapt_info,
    filter_inherited_labels,
)
from ....errdefs import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PyctrdError,
    Unknown,
)
from .db import DB
from .leases import attach, detach, utcnow
from .namespaces import NamespaceStore
from .rwlock import RWLock

__all__ = ["NamespacedSnapshotter", "overlay_info"]

log = logging.getLogger("pyctrd.metadata")


def _valid_key(key: str, what: str = "key") -> str:
    if not key:
        raise InvalidArgument(f"snapshot {what} must not be empty")
    if "\x00" in key:
        raise InvalidArgument(f"snapshot {what} {key!r} contains a NUL byte")
    try:
        key.encode()
    except UnicodeEncodeError:
        raise InvalidArgument(f"snapshot {what} {key!r} is not valid UTF-8") from None
    return key


def _findable(key: str) -> bool:
    """Whether a lookup of ``key`` can find anything (it could never have been stored)."""
    try:
        _valid_key(key)
    except InvalidArgument:
        return False
    return True


def overlay_info(backend: Info, name: str, row: sqlite3.Row) -> Info:
    """The backend's Info seen from the namespace: its name, parent, times and labels win."""
    labels = {**backend.labels, **json.loads(row["labels"])}
    return replace(backend, name=name, parent=row["parent"], labels=labels,
                   created=datetime.fromisoformat(row["created_at"]),
                   updated=datetime.fromisoformat(row["updated_at"]))


class NamespacedSnapshotter:
    """A :class:`~pyctrd.core.snapshots.Snapshotter` over ``backend``, per namespace.

    Args:
        db: the metadata database.
        name: the snapshotter's plugin ID (``overlayfs``): records and lease resources
            (``snapshots/<name>``) are filed under it.
        backend: the snapshotter holding the files.
        clock: now, timezone-aware.
        on_remove: called with ``name`` when a record goes (the collector then sweeps
            this backend at its next run).
    """

    def __init__(self, db: DB, name: str, backend: Snapshotter, *,
                 clock: Callable[[], datetime] = utcnow, on_remove: Callable[[str], None] | None = None) -> None:
        self.db, self.name, self.backend, self.clock = db, name, backend, clock
        self.lock = RWLock()
        self.on_remove = on_remove or (lambda name: None)
        self._namespaces = NamespaceStore(db)
        self._resource = f"snapshots/{name}"

    def __repr__(self) -> str:
        with self.db.view() as c:
            n = c.execute("SELECT COUNT(*) FROM snapshots WHERE namespace=? AND snapshotter=?",
                          (namespaces.get(), self.name)).fetchone()[0]
        return f"<NamespacedSnapshotter {self.name} ns={namespaces.get()} snapshots={n}>"

    def _row(self, c: sqlite3.Connection, key: str) -> sqlite3.Row | None:
        if not _findable(key):
            return None
        return c.execute("SELECT * FROM snapshots WHERE namespace=? AND snapshotter=? AND key=?",  # type: ignore[no-any-return]
                         (namespaces.get(), self.name, key)).fetchone()

    def _require(self, c: sqlite3.Connection, key: str) -> sqlite3.Row:
        row = self._row(c, key)
        if row is None:
            raise NotFound(f"snapshot {key} does not exist")
        return row

    def _next_key(self, c: sqlite3.Connection, ns: str, key: str) -> str:
        c.execute("INSERT INTO snapshot_sequences VALUES (?,?,1) ON CONFLICT(namespace, snapshotter) "
                  "DO UPDATE SET seq = seq + 1", (ns, self.name))
        seq = c.execute("SELECT seq FROM snapshot_sequences WHERE namespace=? AND snapshotter=?",
                        (ns, self.name)).fetchone()[0]
        return f"{ns}/{seq}/{key}"

    def backend_key(self, key: str) -> str:
        """The backend's name for ``key`` in the current namespace. Raises NotFound."""
        with self.db.view() as c:
            return str(self._require(c, key)["backend_key"])

    # -- reading --------------------------------------------------------------------------
    def stat(self, key: str) -> Info:
        with self.db.view() as c:
            row = self._require(c, key)
        return overlay_info(self.backend.stat(row["backend_key"]), key, row)

    def usage(self, key: str) -> Usage:
        return self.backend.usage(self.backend_key(key))

    def mounts(self, key: str) -> list[Mount]:
        return self.backend.mounts(self.backend_key(key))

    def walk(self, *filters: str) -> Iterator[Info]:
        """This namespace's snapshots matching any filter, by key (kind comes from the backend)."""
        match = parse_all(filters)
        with self.db.view() as c:
            rows = c.execute("SELECT * FROM snapshots WHERE namespace=? AND snapshotter=? ORDER BY key",
                             (namespaces.get(), self.name)).fetchall()
        backend = {i.name: i for i in self.backend.walk()} if rows else {}
        found = []
        for row in rows:
            b = backend.get(row["backend_key"])
            if b is None:  # its backend snapshot is gone (a crash in between): skip, as containerd
                continue
            info = overlay_info(b, row["key"], row)
            if match.match(adapt_info(info)):
                found.append(info)
        return iter(found)

    # -- labels ---------------------------------------------------------------------------
    def update(self, info: Info, fieldpaths: Sequence[str] = ()) -> Info:
        if not info.name:
            raise InvalidArgument("snapshot name must not be empty")
        with self.lock.shared(), self.db.update() as c:
            row = self._require(c, info.name)
            labels = labels_.apply_fieldpaths(json.loads(row["labels"]), info.labels, fieldpaths,
                                              f'snapshot "{info.name}"')
            labels_.validate_all(labels)
            now = self.clock()
            c.execute("UPDATE snapshots SET labels=?, updated_at=? WHERE namespace=? AND snapshotter=? AND key=?",
                      (json.dumps(labels), now.isoformat(), namespaces.get(), self.name, info.name))
            # Inside the transaction, as containerd: the backend keeps its share of the labels.
            b = self.backend.update(Info(name=row["backend_key"], labels=filter_inherited_labels(labels)),
                                    fieldpaths)
            row = self._require(c, info.name)
        return overlay_info(b, info.name, row)

    # -- creating -------------------------------------------------------------------------
    def prepare(self, key: str, parent: str = "", labels: Mapping[str, str] | None = None) -> list[Mount]:
        return self._create(Kind.ACTIVE, key, parent, labels)

    def view(self, key: str, parent: str = "", labels: Mapping[str, str] | None = None) -> list[Mount]:
        return self._create(Kind.VIEW, key, parent, labels)

    def _create(self, kind: Kind, key: str, parent: str, labels: Mapping[str, str] | None) -> list[Mount]:
        _valid_key(key)
        base = dict(labels or {})
        labels_.validate_all(base)
        target = base.get(LABEL_SNAPSHOT_REF, "")
        ns = namespaces.get()
        with self.lock.shared():
            with self.db.update() as c:
                self._namespaces.ensure(ns)
                if target and self._row(c, target) is not None:
                    raise AlreadyExists(f'target snapshot "{target}"')
                if self._row(c, key) is not None:
                    raise AlreadyExists(f'snapshot "{key}"')
                bparent = ""
                if parent:
                    prow = self._row(c, parent)
                    if prow is None:
                        raise NotFound(f"parent snapshot {parent} does not exist")
                    bparent = prow["backend_key"]
                bkey = self._next_key(c, ns, key)
            create = self.backend.view if kind is Kind.VIEW else self.backend.prepare
            created, mounts = "", []
            error: PyctrdError | None = None
            created_at = updated_at = self.clock()
            try:
                mounts = create(bkey, bparent, filter_inherited_labels(base))
                created = bkey
            except AlreadyExists:
                if not target:  # the key was new: the backend contradicts itself
                    raise Unknown(f"unexpected error from snapshotter: snapshot {bkey} exists") from None
                found = self._backend_target(target, bparent)
                key, bkey, bparent = target, found.name, found.parent
                created_at, updated_at = found.created, found.updated
                base = {**found.labels, **base}
                error = AlreadyExists(f'target snapshot "{target}" from snapshotter')
            try:
                error = self._record(key, bkey, parent, bparent, base, created_at, updated_at) or error
            except PyctrdError as exc:
                error = exc
            if error is not None:
                if created:
                    try:
                        self.backend.remove(created)
                    except PyctrdError as exc:
                        log.error("snapshotter %s: failed to clean up %s: %s", self.name, created, exc)
                raise error
        return mounts

    def _backend_target(self, target: str, bparent: str) -> Info:
        for i in self.backend.walk():
            if i.kind is Kind.COMMITTED and i.labels.get(LABEL_SNAPSHOT_REF) == target and i.parent == bparent:
                return i
        raise NotFound(f'target snapshot "{target}" in backend')

    def _record(self, key: str, bkey: str, parent: str, bparent: str, labels: dict[str, str],
                created: datetime, updated: datetime) -> PyctrdError | None:
        ns = namespaces.get()
        with self.db.update() as c:
            attach(c, self._resource, key)
            if self._row(c, key) is not None:
                return AlreadyExists(f'snapshot "{key}"')
            if parent:
                prow = self._row(c, parent)
                if prow is None:
                    raise NotFound(f"parent snapshot {parent} does not exist")
                if prow["backend_key"] != bparent:
                    raise InvalidArgument(f"mismatched parent {parent} from target {key}")
            c.execute("INSERT INTO snapshots VALUES (?,?,?,?,?,?,?,?)",
                      (ns, self.name, key, bkey, parent, json.dumps({k: v for k, v in labels.items() if v}),
                       created.isoformat(), updated.isoformat()))
        return None

    def commit(self, name: str, key: str, labels: Mapping[str, str] | None = None) -> None:
        _valid_key(name, "name")
        base = {k: v for k, v in (labels or {}).items() if v}
        labels_.validate_all(base)
        ns = namespaces.get()
        with self.lock.shared(), self.db.update() as c:
            if self._row(c, name) is not None:
                raise AlreadyExists(f'snapshot "{name}"')
            attach(c, self._resource, name)
            row = self._require(c, key)
            name_key = self._next_key(c, ns, name)
            now = self.clock().isoformat()
            c.execute("INSERT INTO snapshots VALUES (?,?,?,?,?,?,?,?)",
                      (ns, self.name, name, name_key, row["parent"], json.dumps(base), now, now))
            c.execute("DELETE FROM snapshots WHERE namespace=? AND snapshotter=? AND key=?", (ns, self.name, key))
            detach(c, self._resource, key)
            # In the transaction: should the backend refuse, no record changes.
            self.backend.commit(name_key, row["backend_key"], filter_inherited_labels(base))

    # -- removing -------------------------------------------------------------------------
    def remove(self, key: str) -> None:
        """Delete the record (the backend snapshot goes at the next garbage collection)."""
        ns = namespaces.get()
        with self.lock.shared(), self.db.update() as c:
            self._require(c, key)
            if c.execute("SELECT 1 FROM snapshots WHERE namespace=? AND snapshotter=? AND parent=? LIMIT 1",
                         (ns, self.name, key)).fetchone():
                raise FailedPrecondition("cannot remove snapshot with child")
            c.execute("DELETE FROM snapshots WHERE namespace=? AND snapshotter=? AND key=?", (ns, self.name, key))
            detach(c, self._resource, key)
            self.db.mark_dirty()
        self.on_remove(self.name)

    def cleanup(self) -> None:
        """The backend's cleanup (containerd's service reaches it through the wrapper).

        Raises:
            NotImplemented: the backend is not a Cleaner.
        """
        if not isinstance(self.backend, Cleaner):
            raise errdefs.NotImplemented("snapshotter does not implement Cleanup method")
        with self.lock.exclusive():
            self.backend.cleanup()

    def close(self) -> None:
        self.backend.close()
