"""The namespaced content store: one set of bytes on disk, a set of *records* per namespace.

The local store (:mod:`pyctrd.plugins.content.local`) knows blobs and ingests but not who
owns them. This layer, like containerd's ``metadata/content.go``, puts a record in SQLite
for every blob a namespace has and every ingest it runs::

    blobs    (namespace, digest) -> size, created, updated, labels
    ingests  (namespace, ref)    -> bref (the backend's ref), expected, expire_at

So a blob committed in namespace ``a`` is *NotFound* in ``b`` although its bytes are on
disk; deleting it removes only ``a``'s record (the bytes wait for garbage collection).
Labels live here, per namespace - never in the backend.

**Sharing.** With ``content_sharing_policy = "shared"`` (the default) a writer in ``b`` for
a digest that some namespace already has starts *complete*: its status reports the whole
size, and committing it just adds ``b``'s record - nothing is fetched twice (``ctr images
pull`` in a second namespace copies no bytes). With ``"isolated"`` ``b`` must write every
byte itself; the bytes still end up stored once.

**Ingests** get backend refs of the form ``<namespace>/<sequence>/<ref>``, so two
namespaces may use the same ref. An ingest belongs to the current lease; one made outside
any lease expires after 24 hours (it is then collectable).
"""
from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta

from ....core import digest as digests
from ....core import gc, leases, namespaces
from ....core.content import (
    ContentStore,
    Info,
    ReaderAt,
    Status,
    Writer,
    adapt_info,
    adapt_status,
    validate_labels,
)
from ....core.filters import Filter, parse_all
from ....core.labels import apply_fieldpaths
from ....errdefs import AlreadyExists, InvalidArgument, NotFound, Unavailable
from .content_writer import NamespacedWriter
from .db import DB
from .leases import attach, detach, utcnow
from .namespaces import NamespaceStore

__all__ = ["INGEST_EXPIRY", "NamespacedContentStore", "check_labels"]

#: How long an ingest made outside any lease stays a GC root (containerd: 24h).
INGEST_EXPIRY = timedelta(hours=24)


def _info(digest: str, row: sqlite3.Row) -> Info:
    return Info(digest, int(row["size"]), datetime.fromisoformat(row["created_at"]),
                datetime.fromisoformat(row["updated_at"]), json.loads(row["labels"]))


def check_labels(labels: dict[str, str]) -> None:
    """Size limits and GC label syntax. Raises InvalidArgument."""
    validate_labels(labels)
    gc.validate_labels(labels)


class NamespacedContentStore:
    """A :class:`~pyctrd.core.content.ContentStore` over a backend store, per namespace.

    Args:
        db: the metadata database.
        backend: the store holding the bytes (the local store).
        shared: the content sharing policy (True: "shared", False: "isolated").
        clock: now, timezone-aware.
    """

    def __init__(self, db: DB, backend: ContentStore, *, shared: bool = True,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.db, self.backend, self.shared, self.clock = db, backend, shared, clock
        self._namespaces = NamespaceStore(db)

    def __repr__(self) -> str:
        with self.db.view() as c:
            n = c.execute("SELECT COUNT(*) FROM blobs WHERE namespace=?", (namespaces.get(),)).fetchone()[0]
        return f"<NamespacedContentStore ns={namespaces.get()} blobs={n} {'shared' if self.shared else 'isolated'}>"

    def _row(self, c: sqlite3.Connection, digest: str) -> sqlite3.Row | None:
        return c.execute("SELECT * FROM blobs WHERE namespace=? AND digest=?",  # type: ignore[no-any-return]
                         (namespaces.get(), digest)).fetchone()

    # -- Manager ------------------------------------------------------------------------
    def info(self, digest: str) -> Info:
        """Raises InvalidArgument (malformed digest) or NotFound (not in this namespace)."""
        digests.validate(digest)
        with self.db.view() as c:
            row = self._row(c, digest)
        if row is None:
            raise NotFound(f"content digest {digest}")
        return _info(digest, row)

    def update(self, info: Info, fieldpaths: Sequence[str] = ()) -> Info:
        """Replace all labels, or only ``labels.<key>`` ones (absent or empty: removed).

        Raises:
            InvalidArgument: malformed digest, another fieldpath, bad labels.
            NotFound: not in this namespace.
        """
        digests.validate(info.digest)
        with self.db.update() as c:
            row = self._row(c, info.digest)
            if row is None:
                raise NotFound(f"content digest {info.digest}")
            labels = apply_fieldpaths(json.loads(row["labels"]), info.labels, fieldpaths,
                                      f'content info "{info.digest}"')
            check_labels(labels)
            now = self.clock()
            c.execute("UPDATE blobs SET labels=?, updated_at=? WHERE namespace=? AND digest=?",
                      (json.dumps(labels), now.isoformat(), namespaces.get(), info.digest))
        return Info(info.digest, int(row["size"]), datetime.fromisoformat(row["created_at"]), now, labels)

    def walk(self, *filters: str) -> Iterator[Info]:
        """This namespace's blobs matching any filter, by digest. Raises InvalidArgument at once."""
        return self._walk(parse_all(filters), namespaces.get())

    def _walk(self, match: Filter, ns: str) -> Iterator[Info]:
        with self.db.view() as c:
            rows = c.execute("SELECT * FROM blobs WHERE namespace=? ORDER BY digest", (ns,)).fetchall()
        for row in rows:
            info = _info(row["digest"], row)
            if match.match(adapt_info(info)):
                yield info

    def delete(self, digest: str) -> None:
        """Remove this namespace's record (the bytes stay until GC). Raises InvalidArgument, NotFound."""
        digests.validate(digest)
        with self.db.update() as c:
            if c.execute("DELETE FROM blobs WHERE namespace=? AND digest=?",
                         (namespaces.get(), digest)).rowcount == 0:
                raise NotFound(f"content digest {digest}")
            detach(c, "content", digest)
            self.db.mark_dirty()

    # -- Provider -----------------------------------------------------------------------
    def reader_at(self, digest: str) -> ReaderAt:
        """Raises InvalidArgument or NotFound (not committed in this namespace)."""
        self.info(digest)
        return self.backend.reader_at(digest)

    # -- IngestManager ------------------------------------------------------------------
    def _ingest(self, c: sqlite3.Connection, ref: str) -> sqlite3.Row:
        row = c.execute("SELECT * FROM ingests WHERE namespace=? AND ref=?", (namespaces.get(), ref)).fetchone()
        if row is None:
            raise NotFound(f'ingest ref "{ref}"')
        return row  # type: ignore[no-any-return]

    def status(self, ref: str) -> Status:
        """The ingest's progress. Raises NotFound (unknown here, or nothing written yet)."""
        with self.db.view() as c:
            row = self._ingest(c, ref)
        try:
            st = self.backend.status(row["bref"])
        except NotFound:
            raise NotFound(f'ingest ref "{ref}"') from None
        st.ref, st.expected = ref, row["expected"]
        return st

    def list_statuses(self, *filters: str) -> list[Status]:
        """This namespace's ingests matching any filter (field ``ref``), by ref."""
        match = parse_all(filters)
        with self.db.view() as c:
            rows = c.execute("SELECT ref, bref, expected FROM ingests WHERE namespace=? ORDER BY ref",
                             (namespaces.get(),)).fetchall()
        found = []
        for ref, bref, expected in rows:
            try:
                st = self.backend.status(bref)
            except NotFound:  # a shared ingest that never wrote, or committed meanwhile
                continue
            st.ref, st.expected = ref, expected
            if match.match(adapt_status(st)):
                found.append(st)
        return found

    def abort(self, ref: str) -> None:
        """Forget the ingest and drop its bytes. Raises NotFound."""
        with self.db.update() as c:
            row = self._ingest(c, ref)
            c.execute("DELETE FROM ingests WHERE namespace=? AND ref=?", (namespaces.get(), ref))
            detach(c, "ingests", ref)
            try:
                self.backend.abort(row["bref"])
            except NotFound:  # a shared ingest has no bytes of its own
                pass

    # -- Ingester -----------------------------------------------------------------------
    def writer(self, ref: str, total: int = 0, expected: str = "") -> NamespacedWriter:
        """Open or resume the ingest ``ref`` in this namespace (see the module docstring).

        Raises:
            InvalidArgument: empty ref, negative total, malformed ``expected``.
            AlreadyExists: ``expected`` is committed in this namespace (it is added to the
                current lease first, so the caller's lease still protects it).
            Unavailable: the ref is locked by another writer.
            NotFound: the current lease does not exist.
            FailedPrecondition: ``total`` differs from the one the ingest started with.
        """
        if not ref:
            raise InvalidArgument("ref must not be empty")
        if total < 0:
            raise InvalidArgument(f"ingest {ref}: negative total {total}")
        if expected:
            digests.validate(expected)
        ns, now = namespaces.get(), self.clock()
        shared: int | None = None
        with self.db.update() as c:
            exists = bool(expected) and self._row(c, expected) is not None
            if exists:
                attach(c, "content", expected)
            else:
                shared = self._shareable(expected, total)
                shared_digest = expected if shared is not None else ""
                backend, bref = self._open(c, ns, ref, total, shared_digest, now)
        if exists:
            raise AlreadyExists(f"content {expected}")
        return NamespacedWriter(self, ns, leases.current(), ref, bref, backend,
                                total=total if shared is None else shared, expected=shared_digest, started=now)

    def _shareable(self, expected: str, total: int) -> int | None:
        """The size of ``expected`` if the policy lets this namespace take it without bytes."""
        if not (self.shared and expected):
            return None
        try:
            size = self.backend.info(expected).size
        except NotFound:
            return None
        return size if total in (0, size) else None

    def _open(self, c: sqlite3.Connection, ns: str, ref: str, total: int, shared_digest: str,
              now: datetime) -> tuple[Writer | None, str]:
        self._namespaces.ensure(ns)
        row = c.execute("SELECT bref FROM ingests WHERE namespace=? AND ref=?", (ns, ref)).fetchone()
        if row is None:
            bref = f"{ns}/{time.time_ns()}/{ref}"  # unique: a new ingest never resumes old bytes
            c.execute("INSERT INTO ingests (namespace, ref, bref) VALUES (?,?,?)", (ns, ref, bref))
        else:
            bref = row[0]
        expire = None if attach(c, "ingests", ref) else (now + INGEST_EXPIRY).isoformat()
        c.execute("UPDATE ingests SET expected=?, expire_at=? WHERE namespace=? AND ref=?",
                  (shared_digest, expire, ns, ref))
        if shared_digest:
            return None, bref
        try:
            return self.backend.writer(bref, total, ""), bref
        except Unavailable:
            raise Unavailable(f"ref {ref} locked") from None

    # -- what the writer calls back -------------------------------------------------------
    def _commit_record(self, c: sqlite3.Connection, ns: str, ref: str, digest: str, size: int,
                       labels: dict[str, str]) -> bool:
        """Add the blob record and retire the ingest; False if the record existed already."""
        now = self.clock().isoformat()
        c.execute("DELETE FROM ingests WHERE namespace=? AND ref=?", (ns, ref))
        detach(c, "ingests", ref)
        attach(c, "content", digest)
        cur = c.execute("INSERT OR IGNORE INTO blobs VALUES (?,?,?,?,?,?)",
                        (ns, digest, size, now, now, json.dumps(labels)))
        return cur.rowcount == 1
