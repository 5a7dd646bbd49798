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

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ...errdefs import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, map_exceptions
from .. import filters
from .info import EPOCH, Info, Kind, Usage, adapt_info, validate_labels

__all__ = ["MetaStore", "Snapshot", "Transaction", "utcnow"]

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
_SELECT = ("SELECT s.id, s.name, p.name, s.kind, s.labels, s.created, s.updated, s.size, s.inodes "
           "FROM snapshots s LEFT JOIN snapshots p ON p.id = s.parent")


def _check_key(key: str, what: str = "key") -> None:
    """Keys are any non-empty text without NUL (as stored, compared and sent over gRPC)."""
    if not key:
        raise InvalidArgument(f"snapshot {what} must not be empty")
    if "\x00" in key:
        raise InvalidArgument(f"snapshot {what} {key!r} contains a NUL character")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidArgument(f"snapshot {what} {key!r} is not valid UTF-8") from exc


def utcnow() -> datetime:
    """The default clock (inject another to control time in tests)."""
    return datetime.now(UTC)


def _ns(t: datetime) -> int:
    return (t - EPOCH) // timedelta(microseconds=1) * 1000


def _time(ns: int) -> datetime:
    return EPOCH + timedelta(microseconds=ns // 1000)


@dataclass(frozen=True)
class Snapshot:
    """What a snapshotter needs to build mounts: its ID, kind, and its parents' IDs (nearest first)."""

    id: str
    kind: Kind
    parent_ids: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"<storage.Snapshot {self.id} {self.kind.name} parents=[{','.join(self.parent_ids)}]>"


class Transaction:
    """Operations on the metadata, valid only inside :meth:`MetaStore.transaction`."""

    def __init__(self, conn: sqlite3.Connection, store: MetaStore, writable: bool) -> None:
        self._db, self._store, self.writable = conn, store, writable
        self._undo: list[Callable[[], object]] = []

    def on_rollback(self, undo: Callable[[], object]) -> None:
        """Run ``undo`` if this transaction does not commit (file work to reverse)."""
        self._undo.append(undo)

    def _rolled_back(self) -> None:
        for undo in reversed(self._undo):
            try:
                undo()
            except OSError:
                pass  # best effort: the caller's error is the one worth reporting

    def _rows(self, where: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with map_exceptions("snapshot metadata"):
            return self._db.execute(f"{_SELECT} {where}", args).fetchall()

    def _row(self, key: str) -> tuple[Any, ...] | None:
        try:
            _check_key(key)
        except InvalidArgument:
            return None  # no such key can exist
        rows = self._rows("WHERE s.name = ?", (key,))
        return rows[0] if rows else None

    def _info(self, row: tuple[Any, ...]) -> Info:
        return Info(name=row[1], parent=row[2] or "", kind=Kind(row[3]), labels=json.loads(row[4]),
                    created=_time(row[5]), updated=_time(row[6]), snapshotter=self._store.snapshotter)

    def _write(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Cursor:
        if not self.writable:
            raise FailedPrecondition("snapshot metadata: write in a read-only transaction")
        with map_exceptions("snapshot metadata"):
            return self._db.execute(sql, args)

    def _parents(self, first: int) -> tuple[str, ...]:
        with map_exceptions("snapshot metadata"):
            rows = self._db.execute(
                "WITH RECURSIVE chain(id, parent, depth) AS ("
                " SELECT id, parent, 0 FROM snapshots WHERE id = ?"
                " UNION ALL SELECT s.id, s.parent, c.depth + 1 FROM snapshots s"
                " JOIN chain c ON s.id = c.parent)"
                " SELECT id FROM chain ORDER BY depth", (first,)).fetchall()
        return tuple(str(r[0]) for r in rows)

    def get_info(self, key: str) -> tuple[str, Info, Usage]:
        """(ID, Info, stored Usage) of any snapshot. Raises NotFound."""
        row = self._row(key)
        if row is None:
            raise NotFound(f"snapshot {key} does not exist")
        return str(row[0]), self._info(row), Usage(size=row[7], inodes=row[8])

    def update_info(self, info: Info, fieldpaths: Sequence[str] = ()) -> Info:
        """Apply ``info``'s labels per ``fieldpaths`` (see Snapshotter.update)."""
        row = self._row(info.name)
        if row is None:
            raise NotFound(f"snapshot {info.name} does not exist")
        labels: dict[str, str] = json.loads(row[4])
        new = validate_labels(info.labels)
        for path in fieldpaths or ("labels",):
            if path == "labels":
                labels = dict(new)
            elif path.startswith("labels."):
                key = path[len("labels."):]
                labels[key] = new.get(key, "")
            else:
                raise InvalidArgument(f'cannot update "{path}" field on snapshot "{info.name}"')
        labels = {k: v for k, v in labels.items() if v}  # an empty value deletes the label
        self._write("UPDATE snapshots SET labels = ?, updated = ? WHERE id = ?",
                    (json.dumps(labels, sort_keys=True), _ns(self._store.clock()), row[0]))
        return self.get_info(info.name)[1]

    def walk(self, *filter_texts: str) -> list[Info]:
        """Infos matching any of the filters, in name order. Raises InvalidArgument."""
        flt = filters.parse_all(filter_texts)
        infos = [self._info(r) for r in self._rows("ORDER BY s.name")]
        return [i for i in infos if flt.match(adapt_info(i))]

    def get_snapshot(self, key: str) -> Snapshot:
        """The active snapshot or view ``key`` with its parent chain, for building mounts."""
        row = self._row(key)
        if row is None:
            raise NotFound(f"snapshot {key} does not exist")
        kind = Kind(row[3])
        if kind not in (Kind.ACTIVE, Kind.VIEW):
            raise FailedPrecondition(f"requested snapshot {key} not active or view")
        return Snapshot(str(row[0]), kind, self._parents(row[0])[1:])

    def create_snapshot(self, kind: Kind, key: str, parent: str = "",
                        labels: Mapping[str, str] | None = None) -> Snapshot:
        """Record a new active snapshot or view; its ID is fresh (never used before)."""
        if kind not in (Kind.ACTIVE, Kind.VIEW):
            raise InvalidArgument(f"snapshot type {kind} invalid; only Active or View can be created")
        _check_key(key)
        clean = validate_labels(labels)
        parent_id = None
        if parent:
            prow = self._row(parent)
            if prow is None:
                raise NotFound(f'parent snapshot "{parent}"')
            if Kind(prow[3]) is not Kind.COMMITTED:
                raise InvalidArgument(f'parent "{parent}" is not a committed snapshot')
            parent_id = prow[0]
        if self._row(key) is not None:
            raise AlreadyExists(f"snapshot {key}")
        now = _ns(self._store.clock())
        cur = self._write("INSERT INTO snapshots (name, parent, kind, labels, created, updated) "
                          "VALUES (?, ?, ?, ?, ?, ?)",
                          (key, parent_id, int(kind), json.dumps(clean, sort_keys=True), now, now))
        new_id = cur.lastrowid
        assert new_id is not None
        return Snapshot(str(new_id), kind, self._parents(parent_id) if parent_id else ())

    def remove(self, key: str) -> tuple[str, Kind]:
        """Delete the record of ``key``; (its ID, its kind). Refused while it has children."""
        row = self._row(key)
        if row is None:
            raise NotFound(f"snapshot {key}")
        with map_exceptions("snapshot metadata"):
            child = self._db.execute("SELECT 1 FROM snapshots WHERE parent = ? LIMIT 1", (row[0],)).fetchone()
        if child is not None:
            raise FailedPrecondition(f"cannot remove snapshot {key} with child")
        self._write("DELETE FROM snapshots WHERE id = ?", (row[0],))
        return str(row[0]), Kind(row[3])

    def commit_active(self, key: str, name: str, usage: Usage,
                      labels: Mapping[str, str] | None = None) -> str:
        """Turn active ``key`` into committed ``name`` keeping its ID and parent; returns the ID.

        The committed snapshot's labels are ``labels`` (not the active one's), its times
        are now, and ``usage`` is stored for usage() to answer from.
        """
        _check_key(name, "name")
        clean = validate_labels(labels)
        if self._row(name) is not None:
            raise AlreadyExists(f"committed snapshot {name}")
        row = self._row(key)
        if row is None:
            raise NotFound(f'failed to get active snapshot "{key}"')
        if Kind(row[3]) is not Kind.ACTIVE:
            raise FailedPrecondition(f'snapshot "{key}" is not active')
        now = _ns(self._store.clock())
        self._write("UPDATE snapshots SET name = ?, kind = ?, labels = ?, created = ?, updated = ?, "
                    "size = ?, inodes = ? WHERE id = ?",
                    (name, int(Kind.COMMITTED), json.dumps(clean, sort_keys=True), now, now,
                     usage.size, usage.inodes, row[0]))
        return str(row[0])

    def id_map(self) -> dict[str, str]:
        """{ID: name} of every snapshot (to find directories no record refers to)."""
        with map_exceptions("snapshot metadata"):
            return {str(i): n for i, n in self._db.execute("SELECT id, name FROM snapshots")}


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
        # isolation_level=None: we issue BEGIN/COMMIT ourselves. synchronous=FULL with the
        # rollback journal: a commit is on disk when it returns, and no -wal/-shm files linger.
        if not self.path.exists():
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))  # private, as bolt's is
        conn = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA foreign_keys = ON")
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
            if not self._closed and not conn.in_transaction:
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
                conn.execute("ROLLBACK")
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
