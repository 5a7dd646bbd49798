"""Operations on snapshot records inside one transaction (containerd's ``snapshots/storage/bolt.go``).

A :class:`Transaction` is what :meth:`~.metastore.MetaStore.transaction` yields; its methods
mirror containerd's storage functions (GetInfo, UpdateInfo, WalkInfo, GetSnapshot,
CreateSnapshot, Remove, CommitActive, IDMap) with the same errors in the same order.
"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ....errdefs import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, map_exceptions
from ... import filters
from ...labels import apply_fieldpaths
from ..info import EPOCH, Info, Kind, Usage, adapt_info, validate_labels

if TYPE_CHECKING:
    from .metastore import MetaStore

__all__ = ["Snapshot", "Transaction", "utcnow"]

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
        labels = apply_fieldpaths(json.loads(row[4]), validate_labels(info.labels), fieldpaths,
                                  f'snapshot "{info.name}"')
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
