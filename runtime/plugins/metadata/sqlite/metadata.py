"""The metadata plugin's instance: the database and the stores built on it."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from ....core.content import ContentStore
from ....core.gc import Stats
from .containers import ContainersTracker, SQLiteContainerStore
from .content import NamespacedContentStore
from .db import DB
from .gc import MetadataCollector
from .images import ImageRecords
from .leases import LeaseStore, utcnow
from .namespaces import NamespaceStore
from .snapshot_gc import SnapshotTracker
from .snapshots import NamespacedSnapshotter

__all__ = ["Metadata"]


class Metadata:
    """Owns ``meta.db`` and the stores over it; is the garbage collector's
    :class:`~pyctrd.core.gc.Collector` (containerd's ``metadata.DB`` plays the same part).

    Attributes:
        db: the SQLite database.
        namespaces: namespace records and labels.
        containers: container records (their snapshots and labels are GC roots: see
            :meth:`SQLiteContainerStore.references`).
        content: the local content store this layer namespaces (None if unavailable).
        content_store: the namespaced content store over it (None without ``content``).
        leases: the lease manager.
        images: image records.
        collector: roots, edges and sweep over this database (register trackers here).
        snapshotters: ``{name: NamespacedSnapshotter}`` - each snapshotter plugin wrapped
            per namespace (what every service uses: the snapshots service, the differ's
            callers, the tasks service for a container's rootfs).
        snapshot_tracker: the snapshots' part in garbage collection.
    """

    def __init__(self, path: str | Path, *, content: ContentStore | None = None,
                 snapshotters: dict[str, Any] | None = None, content_sharing_policy: str = "shared",
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.db = DB(path)
        self.namespaces = NamespaceStore(self.db)
        self.containers = SQLiteContainerStore(self.db)
        self.content = content
        self.content_sharing_policy = content_sharing_policy
        self.content_store = (NamespacedContentStore(self.db, content, shared=content_sharing_policy == "shared",
                                                     clock=clock) if content is not None else None)
        self.leases = LeaseStore(self.db, clock=clock)
        self.images = ImageRecords(self.db, clock=clock)
        self.collector = MetadataCollector(self.db, content, clock=clock)
        self.collector.register(ContainersTracker(self.containers))  # containers are GC roots
        self.snapshotters: dict[str, NamespacedSnapshotter] = {
            name: NamespacedSnapshotter(self.db, name, backend, clock=clock,
                                        on_remove=lambda n: self.snapshot_tracker.mark_dirty(n))
            for name, backend in (snapshotters or {}).items()}
        self.snapshot_tracker = SnapshotTracker(self.snapshotters)
        self.collector.register(self.snapshot_tracker)

    def __repr__(self) -> str:
        return f"<Metadata {self.db.path} snapshotters={','.join(self.snapshotters) or '-'}>"

    # -- Collector (what the GC scheduler uses) ------------------------------------------------
    def register_mutation_callback(self, fn: Callable[[bool], None]) -> None:
        self.collector.register_mutation_callback(fn)

    def garbage_collect(self) -> Stats:
        return self.collector.garbage_collect()

    def close(self) -> None:
        self.db.close()
