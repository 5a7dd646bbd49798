"""The metadata every local snapshotter keeps: ``<root>/metadata.db`` (SQLite), after containerd's
``snapshots/storage``.

A snapshotter stores *files* under ``<root>/snapshots/<id>`` and *facts* here: each snapshot's
numeric ID, name, kind, parent, labels, times and (once committed) usage. IDs come from an
AUTOINCREMENT sequence, so they only grow and are never reused - a directory left behind by
a crash or by a lazy remove can never be mistaken for a new snapshot's.

Every operation runs in a :meth:`MetaStore.transaction`. A snapshotter does its file work
*inside* a write transaction, so the record and the directory appear (or vanish) together::

    with store.transaction(writable=True) as tx:
        s = tx.create_snapshot(Kind.ACTIVE, "k1", parent="base")  # raises before any file work
        os.rename(tmpdir, f"{root}/snapshots/{s.id}")               # if this fails: rollback
    # leaving the block commits (synchronously, fsync'd: crash-safe)

Writers are serialised (one per process by a lock, across processes by SQLite's own lock);
readers never wait for a writer's file work. The database file is created on first use, as
containerd's is, so a snapshotter that is never used leaves no ``metadata.db``.

>>> import tempfile
>>> from pyctrd.core.snapshots import Kind
>>> tmp = tempfile.TemporaryDirectory()
>>> ms = MetaStore(tmp.name + "/metadata.db", snapshotter="native")
>>> with ms.transaction(writable=True) as tx:
...     tx.create_snapshot(Kind.ACTIVE, "k1")
<storage.Snapshot 1 ACTIVE parents=[]>
>>> with ms.transaction() as tx:
...     tx.get_info("k1")[1]
<Snapshot native:k1 ACTIVE>
>>> ms.close(); tmp.cleanup()
"""
from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from ....errdefs import FailedPrecondition, map_exceptions
from .transaction import Transaction, utcnow

__all__ = ["SCHEMA_VERSION", "MetaStore"]

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS snapshots (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: names <root>/snapshots/<id>
    name    TEXT NOT NULL UNIQUE,               -- key (active, view) or name (committed)
    parent  INTEGER REFERENCES snapshots(id),   -- NULL: no parent
    kind    INTEGER NOT NULL,                   -- Kind: 1 view, 2 active, 3 committed
    labels  TEXT NOT NULL DEFAULT '{}',         -- a JSON object
    created INTEGER NOT NULL,                   -- nanoseconds since the epoch, UTC
    updated INTEGER NOT NULL,
    size    INTEGER NOT NULL DEFAULT 0,         -- usage measured at commit
    inodes  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS snapshots_by_parent ON snapshots(parent);
"""

#: Idle connections kept for reuse; a burst of concurrent readers opens more, closed on return
#: (each is a file descriptor the daemon would otherwise keep for good).
MAX_IDLE = 4


class MetaStore:
    """Snapshot records in one SQLite file, safe to use from many threads.

    Args:
        path: the database file (created, with its schema, on first use).
        snapshotter: the snapshotter's name, stamped on the Infos it returns (for display).
        clock: returns the current time (aware, UTC); tests inject a fake one.
    """

    def __init__(self, path: str | Path, *, snapshotter: str = "",
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.path = Path(path)
        self.snapshotter = snapshotter
        self.clock = clock
        self._lock = threading.Lock()     # guards the pool and the closed flag
        self._writer = threading.Lock()   # one write transaction at a time in this process
        self._idle: list[sqlite3.Connection] = []
        self._ready = False
        self._closed = False

    def __repr__(self) -> str:
        return f"<MetaStore {self.path}{' closed' if self._closed else ''}>"

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves. WAL with synchronous=FULL: a
        # commit is on disk when it returns, at one fsync of the log (the rollback journal took
        # three or four and a new file per transaction: an unpack's prepare and commit of each
        # layer cost twice containerd's; README, Benchmarks). -wal/-shm go when the store closes.
        if not self.path.exists():
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))  # private, as bolt's is
        conn = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        if not self._ready:
            conn.execute("BEGIN IMMEDIATE")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                conn.execute("ROLLBACK")
                conn.close()
                raise FailedPrecondition(f"{self.path}: schema version {version} is newer than "
                                         f"this pyctrd's ({SCHEMA_VERSION})")
            for statement in _SCHEMA.split(";"):  # not executescript: it would commit first
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
            self._ready = True
        return conn

    def _acquire(self) -> sqlite3.Connection:
        with self._lock:
            if self._closed:
                raise FailedPrecondition(f"snapshot metadata {self.path} is closed")
            if self._idle:
                return self._idle.pop()
            with map_exceptions(f"open {self.path}"):
                return self._connect()

    def _release(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            if not self._closed and not conn.in_transaction and len(self._idle) < MAX_IDLE:
                self._idle.append(conn)
                return
        conn.close()

    @contextmanager
    def transaction(self, writable: bool = False) -> Iterator[Transaction]:
        """A transaction: committed when the block ends, rolled back if it raises.

        Raises:
            FailedPrecondition: the store is closed.
            Unknown: SQLite failed (disk full, corrupt file, …); nothing was changed.
        """
        conn = self._acquire()
        if writable:
            self._writer.acquire()
        try:
            with map_exceptions("snapshot metadata"):
                conn.execute("BEGIN IMMEDIATE" if writable else "BEGIN")
            tx = Transaction(conn, self, writable)
            try:
                yield tx
            except BaseException:
                if conn.in_transaction:  # SQLite ends it itself on some errors (a full disk):
                    conn.execute("ROLLBACK")  # a ROLLBACK then would fail and hide the real error
                tx._rolled_back()
                raise
            with map_exceptions("snapshot metadata: commit"):
                try:
                    conn.execute("COMMIT")
                except sqlite3.Error:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    tx._rolled_back()
                    raise
        finally:
            if writable:
                self._writer.release()
            self._release(conn)

    def close(self) -> None:
        """Close the database; later transactions raise FailedPrecondition. Idempotent."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
