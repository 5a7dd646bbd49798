"""The metadata database: one SQLite file, versioned schema, transactions.

Why SQLite: it is in the standard library, transactional and crash-safe (WAL journal:
a daemon killed with -9 leaves a database that opens cleanly at the last committed
transaction). Every change goes through :meth:`DB.update` (``BEGIN IMMEDIATE`` ... commit or
roll back as one), every read through :meth:`DB.view`.

The schema evolves by migrations: ``PRAGMA user_version`` records how many have run; a
store that needs tables appends a migration to :data:`MIGRATIONS` (never edits one that has
shipped).
"""
from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ....errdefs import FailedPrecondition, map_exceptions

__all__ = ["DB", "MIGRATIONS", "NAMESPACED_TABLES"]

log = logging.getLogger("pyctrd.metadata")

#: Ordered schema migrations: (description, SQL script).
MIGRATIONS: list[tuple[str, str]] = [
    ("namespaces", """
        CREATE TABLE namespaces (
            name TEXT PRIMARY KEY,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE namespace_labels (
            namespace TEXT NOT NULL REFERENCES namespaces(name) ON DELETE CASCADE,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (namespace, key)
        );
    """),
    # Labels are JSON objects (read whole: GC and filters need them all). Leases and ingests
    # go with their namespace (containerd drops them with the namespace's bucket).
    ("content, leases, images", """
        CREATE TABLE blobs (
            namespace TEXT NOT NULL REFERENCES namespaces(name),
            digest TEXT NOT NULL,
            size INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            labels TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (namespace, digest)
        );
        CREATE INDEX blobs_by_digest ON blobs(digest);
        CREATE TABLE ingests (
            namespace TEXT NOT NULL REFERENCES namespaces(name) ON DELETE CASCADE,
            ref TEXT NOT NULL,
            bref TEXT NOT NULL UNIQUE,
            expected TEXT NOT NULL DEFAULT '',
            expire_at TEXT,
            PRIMARY KEY (namespace, ref)
        );
        CREATE TABLE leases (
            namespace TEXT NOT NULL REFERENCES namespaces(name) ON DELETE CASCADE,
            id TEXT NOT NULL,
            created_at TEXT NOT NULL,
            labels TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (namespace, id)
        );
        CREATE TABLE lease_resources (
            namespace TEXT NOT NULL,
            lease TEXT NOT NULL,
            type TEXT NOT NULL,
            id TEXT NOT NULL,
            PRIMARY KEY (namespace, lease, type, id),
            FOREIGN KEY (namespace, lease) REFERENCES leases(namespace, id) ON DELETE CASCADE
        );
        CREATE TABLE images (
            namespace TEXT NOT NULL REFERENCES namespaces(name),
            name TEXT NOT NULL,
            media_type TEXT NOT NULL,
            digest TEXT NOT NULL,
            size INTEGER NOT NULL,
            annotations TEXT NOT NULL DEFAULT '{}',
            labels TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (namespace, name)
        );
    """),
    ("containers", """
        CREATE TABLE containers (
            namespace TEXT NOT NULL REFERENCES namespaces(name),
            id TEXT NOT NULL,
            image TEXT NOT NULL DEFAULT '',
            runtime_name TEXT NOT NULL,
            runtime_options BLOB,
            spec BLOB NOT NULL,
            snapshotter TEXT NOT NULL DEFAULT '',
            snapshot_key TEXT NOT NULL DEFAULT '',
            labels TEXT NOT NULL DEFAULT '{}',
            extensions TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (namespace, id)
        );
    """),
    # A snapshot record maps a namespace's key to the backend's key (``<ns>/<seq>/<key>``);
    # ``parent`` is the namespace's own name for the parent. Sequences count per namespace
    # and snapshotter, as containerd's bucket sequence does.
    ("snapshots", """
        CREATE TABLE snapshots (
            namespace TEXT NOT NULL REFERENCES namespaces(name),
            snapshotter TEXT NOT NULL,
            key TEXT NOT NULL,
            backend_key TEXT NOT NULL,
            parent TEXT NOT NULL DEFAULT '',
            labels TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (namespace, snapshotter, key)
        );
        CREATE INDEX snapshots_by_parent ON snapshots(namespace, snapshotter, parent);
        CREATE TABLE snapshot_sequences (
            namespace TEXT NOT NULL,
            snapshotter TEXT NOT NULL,
            seq INTEGER NOT NULL,
            PRIMARY KEY (namespace, snapshotter)
        );
    """),
]

#: Tables whose rows belong to a namespace: (table, what containerd calls them). A namespace
#: that still has rows in any of them cannot be deleted. Stores append to this.
NAMESPACED_TABLES: list[tuple[str, str]] = [("images", "images"), ("blobs", "blobs"), ("containers", "containers"),
                                            ("snapshots", "snapshots")]


class DB:
    """A SQLite database shared by the metadata stores (thread-safe, one writer at a time)."""

    def __init__(self, path: str | Path, *, migrations: list[tuple[str, str]] | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with map_exceptions(f"open {self.path}"):
            self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                         timeout=30)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._depth = threading.local()
        self.mutations = 0
        #: deletions since the last garbage collection (stores call :meth:`mark_dirty`)
        self.dirty = 0
        #: called after each committed update (GC scheduler counts mutations)
        self.on_mutation: list[Callable[[], None]] = []
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
        self.migrate(migrations if migrations is not None else MIGRATIONS)

    def __repr__(self) -> str:
        return f"<DB {self.path} schema=v{self.version}>"

    @property
    def version(self) -> int:
        with self._lock:
            return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self, migrations: list[tuple[str, str]]) -> None:
        """Run the migrations not yet applied, each in its own transaction."""
        current = self.version
        if current > len(migrations):
            raise FailedPrecondition(f"metadata schema v{current} is newer than this pyctrd "
                                     f"(knows v{len(migrations)})")
        for n, (desc, script) in enumerate(migrations[current:], start=current + 1):
            with self._lock, map_exceptions(f"metadata migration {n} ({desc})"):
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    for stmt in script.split(";"):
                        if stmt.strip():
                            self._conn.execute(stmt)
                    self._conn.execute(f"PRAGMA user_version={n}")
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._rollback()
                    raise
            log.info("metadata schema migrated to v%d (%s)", n, desc)

    def _rollback(self) -> None:
        """Roll back what is still open: SQLite ends a transaction by itself on some errors (a
        full disk), and a ROLLBACK then would fail - and hide the error that mattered."""
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def mark_dirty(self) -> None:
        """Note a deletion: something may have become garbage (call inside an update)."""
        self.dirty += 1

    @contextmanager
    def update(self, *, notify: bool = True) -> Iterator[sqlite3.Connection]:
        """A write transaction; nested calls join the outer one. ``notify=False`` skips the
        mutation callbacks (the garbage collector's own transaction)."""
        with self._lock:
            depth = getattr(self._depth, "n", 0)
            self._depth.n = depth + 1
            try:
                if depth:
                    yield self._conn
                    return
                with map_exceptions():
                    self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                except BaseException:
                    self._rollback()
                    raise
                try:
                    with map_exceptions():
                        self._conn.execute("COMMIT")
                except BaseException:
                    self._rollback()
                    raise
                if notify:
                    self.mutations += 1
                    for cb in self.on_mutation:
                        cb()
            finally:
                self._depth.n = depth

    @contextmanager
    def view(self) -> Iterator[sqlite3.Connection]:
        """A read (serialised with writers; SQLite reads are fast)."""
        with self._lock:
            yield self._conn

    def integrity_check(self) -> str:
        with self._lock:
            return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
