"""The metadata plugin's instance: the database and the stores built on it."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .containers import SQLiteContainerStore
from .db import DB
from .namespaces import NamespaceStore

__all__ = ["Metadata"]


class Metadata:
    """Owns ``meta.db`` and the stores over it.

    Attributes:
        db: the SQLite database.
        namespaces: namespace records and labels.
        containers: container records (their snapshots and labels are GC roots: see
            :meth:`SQLiteContainerStore.references`).
        content: the local content store this layer namespaces (None if unavailable).
        snapshotters: ``{id: snapshotter}`` this layer namespaces.
    """

    def __init__(self, path: str | Path, *, content: Any = None, snapshotters: dict[str, Any] | None = None,
                 content_sharing_policy: str = "shared") -> None:
        self.db = DB(path)
        self.namespaces = NamespaceStore(self.db)
        self.containers = SQLiteContainerStore(self.db)
        self.content = content
        self.snapshotters = dict(snapshotters or {})
        self.content_sharing_policy = content_sharing_policy

    def __repr__(self) -> str:
        return f"<Metadata {self.db.path} snapshotters={','.join(self.snapshotters) or '-'}>"

    def close(self) -> None:
        self.db.close()
