"""The metadata database's garbage collector: roots and edges from SQLite, then the sweep.

One collection, like containerd's ``DB.GarbageCollect``:

1. **Roots**, per namespace (:meth:`MetadataCollector.roots`): every lease that has not
   expired (``containerd.io/gc.expire``) and everything it holds - as *flat* nodes when the
   lease has ``containerd.io/gc.flat``; every image; every ingest that was opened outside a
   lease and has not expired; every blob labelled ``containerd.io/gc.root``; plus whatever
   the registered :class:`~pyctrd.core.gc.ResourceTracker` s call roots (containers,
   snapshots with ``gc.root``).
2. **Mark** with :func:`pyctrd.core.gc.mark`, following :meth:`MetadataCollector.references`:
   image -> target blob and label refs, blob -> its ``gc.ref.*`` labels, ingest -> the blob
   it expects, trackers' nodes -> whatever the tracker says (snapshot parents...).
3. **Sweep** every lease, ingest, blob record and tracker node not marked, in one
   transaction that holds the database lock (no writer can slip in between).
4. **Clean the backend** (still under the lock): bytes of blobs no namespace records and
   backend ingests no record names are removed - across all namespaces; then trackers
   clean their own backends (a snapshotter's directories).
"""
from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from ....core import gc
from ....core.content import ContentStore
from ....core.gc import Node, Stats
from ....errdefs import InvalidArgument, NotFound
from .db import DB
from .leases import utcnow

__all__ = ["MetadataCollector"]

log = logging.getLogger("pyctrd.gc")


def _expired(labels: dict[str, str], now: datetime, what: str) -> bool:
    value = labels.get(gc.LABEL_EXPIRE)
    if value is None:
        return False
    try:
        return gc.parse_expire(value) < now
    except InvalidArgument:
        log.info("ignoring invalid expiration value %r on %s", value, what)
        return False


class MetadataCollector:
    """Implements :class:`pyctrd.core.gc.Collector` over the metadata database.

    Args:
        db: the metadata database.
        content: the backend content store whose bytes are cleaned (None: records only).
        clock: now, timezone-aware (lease and ingest expiry are judged against it).
    """

    def __init__(self, db: DB, content: ContentStore | None, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db, self.content, self.clock = db, content, clock
        self.trackers: list[gc.ResourceTracker] = []

    def __repr__(self) -> str:
        types = ",".join(t for tr in self.trackers for t in tr.types) or "-"
        return f"<MetadataCollector trackers={types} dirty={self.db.dirty}>"

    def register(self, tracker: gc.ResourceTracker) -> None:
        """Teach the collector another resource type (the snapshot layer registers here)."""
        self.trackers.append(tracker)

    def _tracker(self, node: Node) -> gc.ResourceTracker | None:
        return next((t for t in self.trackers if node.type in t.types), None)

    # -- Collector --------------------------------------------------------------------------
    def register_mutation_callback(self, fn: Callable[[bool], None]) -> None:
        self.db.on_mutation.append(lambda: fn(self.db.dirty > 0))

    def garbage_collect(self) -> Stats:
        t0 = time.perf_counter()
        stats = Stats()
        with self.db.update(notify=False) as c:
            marked = gc.mark(list(self.roots(c)), lambda n: self.references(c, n))
            for node in self.scan_all(c):
                if node not in marked:
                    self.remove(c, node)
                    stats.removed.append(node)
            self.db.dirty = 0
            if self.content is not None:
                self._clean_content(c, stats)
        for tracker in self.trackers:
            mine = [n for n in stats.removed if n.type in tracker.types]
            try:
                cleaned = tracker.cleanup(mine)
            except Exception:
                log.exception("cleanup of %s failed", ",".join(tracker.types))
                continue
            if cleaned:
                stats.other_removed[",".join(tracker.types)] = list(cleaned)
        stats.elapsed = time.perf_counter() - t0
        log.debug("garbage collected: %r", stats)
        return stats

    # -- roots, edges, all ------------------------------------------------------------------
    def roots(self, c: sqlite3.Connection) -> Iterator[Node]:
        now = self.clock()
        for ns, lid, labels_json in c.execute("SELECT namespace, id, labels FROM leases").fetchall():
            labels = json.loads(labels_json)
            if _expired(labels, now, f"lease {ns}/{lid}"):
                continue
            flat = gc.LABEL_FLAT in labels
            yield Node("lease", ns, lid)
            for rtype, rid in c.execute("SELECT type, id FROM lease_resources WHERE namespace=? AND lease=?",
                                        (ns, lid)).fetchall():
                if rtype == "content":
                    yield Node("content", ns, rid, flat=flat)
                elif rtype == "ingests":
                    yield Node("ingest", ns, rid)
                elif rtype.startswith("snapshots/"):
                    yield Node("snapshot/" + rtype.partition("/")[2], ns, rid, flat=flat)
        for ns, name in c.execute("SELECT namespace, name FROM images").fetchall():
            yield Node("image", ns, name)
        for ns, ref, expire in c.execute("SELECT namespace, ref, expire_at FROM ingests "
                                         "WHERE expire_at IS NOT NULL").fetchall():
            if datetime.fromisoformat(expire) >= now:
                yield Node("ingest", ns, ref)
        for ns, dg, labels_json in c.execute("SELECT namespace, digest, labels FROM blobs").fetchall():
            if gc.LABEL_ROOT in json.loads(labels_json):
                yield Node("content", ns, dg)
        for tracker in self.trackers:
            yield from tracker.scan_roots(c)

    def references(self, c: sqlite3.Connection, node: Node) -> Iterable[Node]:
        if node.type == "content":
            if node.flat:
                return ()
            row = c.execute("SELECT labels FROM blobs WHERE namespace=? AND digest=?",
                            (node.namespace, node.key)).fetchone()
            return gc.label_refs(node.namespace, json.loads(row[0])) if row else ()
        if node.type == "image":
            row = c.execute("SELECT digest, labels FROM images WHERE namespace=? AND name=?",
                            (node.namespace, node.key)).fetchone()
            if row is None:
                return ()
            return [Node("content", node.namespace, row[0]), *gc.label_refs(node.namespace, json.loads(row[1]))]
        if node.type == "ingest":
            row = c.execute("SELECT expected FROM ingests WHERE namespace=? AND ref=?",
                            (node.namespace, node.key)).fetchone()
            return [Node("content", node.namespace, row[0])] if row and row[0] else ()
        tracker = self._tracker(node)
        return tracker.references(c, node) if tracker else ()

    def scan_all(self, c: sqlite3.Connection) -> Iterator[Node]:
        """Every sweepable node (images are never swept: they are always roots)."""
        for ns, lid in c.execute("SELECT namespace, id FROM leases").fetchall():
            yield Node("lease", ns, lid)
        for ns, ref in c.execute("SELECT namespace, ref FROM ingests").fetchall():
            yield Node("ingest", ns, ref)
        for ns, dg in c.execute("SELECT namespace, digest FROM blobs").fetchall():
            yield Node("content", ns, dg)
        for tracker in self.trackers:
            yield from tracker.scan_all(c)

    def remove(self, c: sqlite3.Connection, node: Node) -> None:
        log.debug("remove %r", node)
        if node.type == "lease":
            c.execute("DELETE FROM leases WHERE namespace=? AND id=?", (node.namespace, node.key))
        elif node.type == "ingest":
            c.execute("DELETE FROM ingests WHERE namespace=? AND ref=?", (node.namespace, node.key))
        elif node.type == "content":
            c.execute("DELETE FROM blobs WHERE namespace=? AND digest=?", (node.namespace, node.key))
        elif (tracker := self._tracker(node)) is not None:
            tracker.remove(c, node)

    # -- the backend --------------------------------------------------------------------------
    def _clean_content(self, c: sqlite3.Connection, stats: Stats) -> None:
        assert self.content is not None
        keep = {r[0] for r in c.execute("SELECT DISTINCT digest FROM blobs")}
        keep |= {r[0] for r in c.execute("SELECT expected FROM ingests WHERE expected != ''")}
        brefs = {r[0] for r in c.execute("SELECT bref FROM ingests")}
        for info in list(self.content.walk()):
            if info.digest not in keep:
                try:
                    self.content.delete(info.digest)
                except NotFound:
                    continue
                stats.content_removed.append(info.digest)
        for st in self.content.list_statuses():
            if st.ref not in brefs:
                try:
                    self.content.abort(st.ref)
                except NotFound:
                    continue
                stats.ingests_aborted.append(st.ref)
