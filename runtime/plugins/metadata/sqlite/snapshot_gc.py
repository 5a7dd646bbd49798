"""Snapshots in garbage collection: the ``snapshot/<snapshotter>`` nodes and the backend sweep.

:class:`SnapshotTracker` is a :class:`~pyctrd.core.gc.ResourceTracker`; the metadata
collector asks it, inside its transaction, for:

- **nodes** - every snapshot record: ``Node("snapshot/overlayfs", ns, key)``;
- **roots** - records labelled ``containerd.io/gc.root`` (a container's snapshot is kept by
  the container: :class:`~pyctrd.plugins.metadata.sqlite.containers.ContainersTracker`
  makes containers roots with an edge to ``snapshot/<snapshotter>`` ``<snapshot key>``);
- **edges** - a snapshot keeps its *parent* (also when reached through a flat lease: a
  snapshot without its parents cannot be mounted) and, unless flat, whatever its
  ``containerd.io/gc.ref.*`` labels name.

Unreachable records are deleted in the collector's transaction. Then, after it committed,
:meth:`SnapshotTracker.cleanup` sweeps each backend that may hold garbage: a backend snapshot
that no record of *any* namespace names is removed, children before parents (a backend
refuses to remove a parent first), and a :class:`~pyctrd.core.snapshots.Cleaner` backend
(overlayfs) is asked to delete the directories its quick removes left behind.

Every backend counts as dirty when the daemon starts, so the first collection also heals
what a crash left between removing a record and removing its backend snapshot.
"""
from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Iterator

from ....core import gc
from ....core.gc import Node
from ....core.snapshots import Cleaner, Info
from ....errdefs import FailedPrecondition, NotFound
from .snapshots import NamespacedSnapshotter

__all__ = ["SnapshotTracker", "prune_backend"]

log = logging.getLogger("pyctrd.gc")


class SnapshotTracker:
    """The collector's view of every namespaced snapshotter (see the module docstring).

    Args:
        snapshotters: ``{name: NamespacedSnapshotter}`` - the ones to track.
    """

    def __init__(self, snapshotters: dict[str, NamespacedSnapshotter]) -> None:
        self.snapshotters = snapshotters
        self.types = tuple(f"snapshot/{name}" for name in snapshotters)
        self.dirty: set[str] = set(snapshotters)

    def __repr__(self) -> str:
        return f"<SnapshotTracker {','.join(self.snapshotters)} dirty={','.join(sorted(self.dirty)) or '-'}>"

    def mark_dirty(self, name: str) -> None:
        self.dirty.add(name)

    def scan_all(self, tx: sqlite3.Connection) -> Iterator[Node]:
        for ns, sn, key in tx.execute("SELECT namespace, snapshotter, key FROM snapshots").fetchall():
            if sn in self.snapshotters:
                yield Node(f"snapshot/{sn}", ns, key)

    def scan_roots(self, tx: sqlite3.Connection) -> Iterator[Node]:
        for ns, sn, key, labels in tx.execute("SELECT namespace, snapshotter, key, labels FROM snapshots").fetchall():
            if sn in self.snapshotters and gc.LABEL_ROOT in json.loads(labels):
                yield Node(f"snapshot/{sn}", ns, key)

    def references(self, tx: sqlite3.Connection, node: Node) -> Iterable[Node]:
        row = tx.execute("SELECT parent, labels FROM snapshots WHERE namespace=? AND snapshotter=? AND key=?",
                         (node.namespace, node.snapshotter, node.key)).fetchone()
        if row is None:
            return ()
        out = [Node(node.type, node.namespace, row[0], flat=node.flat)] if row[0] else []
        if not node.flat:
            out += gc.label_refs(node.namespace, json.loads(row[1]))
        return out

    def remove(self, tx: sqlite3.Connection, node: Node) -> None:
        tx.execute("DELETE FROM snapshots WHERE namespace=? AND snapshotter=? AND key=?",
                   (node.namespace, node.snapshotter, node.key))
        self.dirty.add(node.snapshotter)

    def cleanup(self, removed: list[Node]) -> list[str]:
        """Sweep the dirty backends; returns ``<snapshotter>:<backend key>`` of what went."""
        for node in removed:
            self.dirty.add(node.snapshotter)
        out: list[str] = []
        for name in sorted(self.dirty):
            sn = self.snapshotters.get(name)
            self.dirty.discard(name)
            if sn is not None:
                out += [f"{name}:{k}" for k in prune_backend(sn)]
        return out


def prune_backend(sn: NamespacedSnapshotter) -> list[str]:
    """Remove the backend snapshots no record names, leaves first; then the backend's cleanup.

    Holds the snapshotter's lock exclusively, so no prepare is between creating its backend
    snapshot and recording it. Returns the backend keys removed.

    Raises:
        Whatever the backend's walk or a remove raises other than FailedPrecondition/NotFound.
    """
    removed: list[str] = []
    with sn.lock.exclusive():
        with sn.db.view() as c:
            seen = {r[0] for r in c.execute("SELECT backend_key FROM snapshots WHERE snapshotter=?", (sn.name,))}
        infos: dict[str, Info] = {}
        children: dict[str, list[str]] = {}
        for info in sn.backend.walk():
            infos[info.name] = info
            children.setdefault(info.parent, []).append(info.name)
        # Children before parents, iteratively (a chain may be deep).
        order: list[str] = []
        stack = list(children.get("", [])) + [n for p, kids in children.items() if p and p not in infos
                                               for n in kids]
        while stack:
            name = stack.pop()
            order.append(name)
            stack.extend(children.get(name, []))
        for name in reversed(order):
            if name in seen:
                continue
            try:
                sn.backend.remove(name)
            except (FailedPrecondition, NotFound) as exc:  # a child still used: keep it
                log.warning("snapshotter %s: could not remove %s: %s", sn.name, name, exc)
                continue
            removed.append(name)
        if isinstance(sn.backend, Cleaner):
            sn.backend.cleanup()
    return removed
