"""Namespaces in the metadata database (implements core.metadata.NamespaceStore)."""
from __future__ import annotations

import builtins
from datetime import UTC, datetime

from .... import identifiers
from ....core import labels as labels_
from ....errdefs import AlreadyExists, FailedPrecondition, NotFound
from .db import DB, NAMESPACED_TABLES

__all__ = ["NamespaceStore", "now"]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class NamespaceStore:
    def __init__(self, db: DB) -> None:
        self.db = db

    def __repr__(self) -> str:
        return f"<NamespaceStore {len(self.list())} namespaces>"

    def create(self, namespace: str, labels: dict[str, str] | None = None) -> None:
        identifiers.validate(namespace)
        labels_.validate_all(labels or {})
        with self.db.update() as c:
            if c.execute("SELECT 1 FROM namespaces WHERE name=?", (namespace,)).fetchone():
                raise AlreadyExists(f'namespace "{namespace}"')
            t = now()
            c.execute("INSERT INTO namespaces VALUES (?,?,?)", (namespace, t, t))
            c.executemany("INSERT INTO namespace_labels VALUES (?,?,?)",
                          [(namespace, k, v) for k, v in (labels or {}).items()])

    def ensure(self, namespace: str) -> None:
        """Create ``namespace`` if it does not exist (objects create their namespace implicitly)."""
        identifiers.validate(namespace)
        with self.db.update() as c:
            t = now()
            c.execute("INSERT OR IGNORE INTO namespaces VALUES (?,?,?)", (namespace, t, t))

    def _exists(self, c, namespace: str) -> None:  # type: ignore[no-untyped-def]
        if not c.execute("SELECT 1 FROM namespaces WHERE name=?", (namespace,)).fetchone():
            raise NotFound(f'namespace "{namespace}"')

    def labels(self, namespace: str) -> dict[str, str]:
        with self.db.view() as c:
            self._exists(c, namespace)
            rows = c.execute("SELECT key, value FROM namespace_labels WHERE namespace=? ORDER BY key",
                             (namespace,)).fetchall()
        return {r[0]: r[1] for r in rows}

    def set_label(self, namespace: str, key: str, value: str) -> None:
        labels_.validate(key, value)
        with self.db.update() as c:
            self._exists(c, namespace)
            if value:
                c.execute("INSERT OR REPLACE INTO namespace_labels VALUES (?,?,?)", (namespace, key, value))
            else:
                c.execute("DELETE FROM namespace_labels WHERE namespace=? AND key=?", (namespace, key))
            c.execute("UPDATE namespaces SET updated_at=? WHERE name=?", (now(), namespace))

    def list(self) -> list[str]:
        with self.db.view() as c:
            return [r[0] for r in c.execute("SELECT name FROM namespaces ORDER BY name")]

    def contents(self, namespace: str) -> builtins.list[str]:  # list: the method above
        """What still lives in ``namespace`` (containerd's words: images, blobs, snapshots, …)."""
        kinds = []
        with self.db.view() as c:
            for table, what in NAMESPACED_TABLES:
                if c.execute(f"SELECT 1 FROM {table} WHERE namespace=? LIMIT 1", (namespace,)).fetchone():
                    if what not in kinds:
                        kinds.append(what)
        return kinds

    def delete(self, namespace: str) -> None:
        with self.db.update() as c:
            self._exists(c, namespace)
            kinds = self.contents(namespace)
            if kinds:
                raise FailedPrecondition(f'namespace "{namespace}" must be empty, but it still has '
                                         f"{', '.join(kinds)}")
            c.execute("DELETE FROM namespaces WHERE name=?", (namespace,))
