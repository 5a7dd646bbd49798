"""Container records in the metadata database (implements core.containers.ContainerStore).

One row per ``(namespace, id)``. Labels are a JSON object; protobuf ``Any`` values (spec,
runtime options) are stored serialized, extensions as ``{key: [type_url, base64 value]}``.
Creating a container creates its namespace if needed, as every containerd object does.

For garbage collection every container is a root (:class:`ContainersTracker`, registered with
the metadata collector): it keeps its snapshot and whatever its ``gc.ref`` labels name, as
containerd's ``scanRoots`` does for its containers bucket. Records are never swept.
"""
from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import cast

from google.protobuf import any_pb2

from ....core import filters, gc, namespaces
from ....core.containers import FIELD_PATHS, Container, RuntimeInfo, validate
from ....errdefs import AlreadyExists, InvalidArgument, NotFound
from .db import DB
from .namespaces import NamespaceStore

__all__ = ["GC_REF_CONTENT", "GC_REF_SNAPSHOT", "ContainersTracker", "SQLiteContainerStore"]

GC_REF_CONTENT = "containerd.io/gc.ref.content"
GC_REF_SNAPSHOT = "containerd.io/gc.ref.snapshot."


def _now() -> datetime:
    return datetime.now(UTC)


def _any(blob: bytes | None) -> any_pb2.Any | None:
    if blob is None:
        return None
    a = any_pb2.Any()
    a.ParseFromString(blob)
    return a


def _blob(a: any_pb2.Any | None) -> bytes | None:
    return None if a is None else a.SerializeToString()


def _extensions_json(ext: dict[str, any_pb2.Any]) -> str:
    return json.dumps({k: [v.type_url, base64.b64encode(v.value).decode()] for k, v in sorted(ext.items())})


def _extensions(text: str) -> dict[str, any_pb2.Any]:
    return {k: any_pb2.Any(type_url=url, value=base64.b64decode(data))
            for k, (url, data) in json.loads(text).items()}


def _row(r: sqlite3.Row) -> Container:
    return Container(
        id=r["id"], labels=json.loads(r["labels"]), image=r["image"],
        runtime=RuntimeInfo(r["runtime_name"], _any(r["runtime_options"])), spec=_any(r["spec"]),
        snapshotter=r["snapshotter"], snapshot_key=r["snapshot_key"],
        created_at=datetime.fromisoformat(r["created_at"]), updated_at=datetime.fromisoformat(r["updated_at"]),
        extensions=_extensions(r["extensions"]))


def _adaptor(c: Container) -> filters.Adaptor:
    """containerd's ``adaptContainer``: id, image, runtime.name and labels.<key>."""
    def field(path: filters.FieldPath) -> tuple[str, bool]:
        if not path:
            return "", False
        if path[0] == "id":
            return c.id, bool(c.id)
        if path[0] == "image":
            return c.image, bool(c.image)
        if path[0] == "runtime" and len(path) > 1 and path[1] == "name":
            return c.runtime.name, bool(c.runtime.name)
        if path[0] == "labels" and len(path) > 1:
            key = ".".join(path[1:])
            return c.labels.get(key, ""), key in c.labels
        return "", False
    return cast(filters.Adaptor, field)


class SQLiteContainerStore:
    """Containers of the current namespace, in ``meta.db``."""

    def __init__(self, db: DB) -> None:
        self.db = db
        self._namespaces = NamespaceStore(db)

    def __repr__(self) -> str:
        with self.db.view() as c:
            n = c.execute("SELECT COUNT(*) FROM containers").fetchone()[0]
        return f"<SQLiteContainerStore {n} containers>"

    def get(self, id: str) -> Container:
        ns = namespaces.get()
        with self.db.view() as c:
            r = c.execute("SELECT * FROM containers WHERE namespace=? AND id=?", (ns, id)).fetchone()
        if r is None:
            raise NotFound(f'container "{id}" in namespace "{ns}"')
        return _row(r)

    def list(self, *fs: str) -> list[Container]:
        flt = filters.parse_all(fs)
        with self.db.view() as c:
            rows = c.execute("SELECT * FROM containers WHERE namespace=? ORDER BY id",
                             (namespaces.get(),)).fetchall()
        return [x for x in map(_row, rows) if flt.match(_adaptor(x))]

    def _write(self, conn: sqlite3.Connection, verb: str, ns: str, c: Container) -> None:
        assert c.created_at is not None and c.updated_at is not None
        values = (c.image, c.runtime.name, _blob(c.runtime.options), _blob(c.spec), c.snapshotter,
                  c.snapshot_key, json.dumps(c.labels, sort_keys=True), _extensions_json(c.extensions),
                  c.created_at.isoformat(), c.updated_at.isoformat(), ns, c.id)
        if verb == "insert":
            conn.execute("INSERT INTO containers (image, runtime_name, runtime_options, spec, snapshotter, "
                         "snapshot_key, labels, extensions, created_at, updated_at, namespace, id) "
                         "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", values)
        else:
            conn.execute("UPDATE containers SET image=?, runtime_name=?, runtime_options=?, spec=?, "
                         "snapshotter=?, snapshot_key=?, labels=?, extensions=?, created_at=?, updated_at=? "
                         "WHERE namespace=? AND id=?", values)

    def create(self, container: Container) -> Container:
        try:
            validate(container)
        except InvalidArgument as exc:
            raise InvalidArgument(f"create container failed validation: {exc.what}") from None
        ns = namespaces.get()
        with self.db.update() as conn:
            self._namespaces.ensure(ns)
            if conn.execute("SELECT 1 FROM containers WHERE namespace=? AND id=?",
                            (ns, container.id)).fetchone():
                raise AlreadyExists(f'container "{container.id}"')
            t = _now()
            stored = Container(container.id, dict(container.labels), container.image, container.runtime,
                               container.spec, container.snapshotter, container.snapshot_key, t, t,
                               dict(container.extensions))
            self._write(conn, "insert", ns, stored)
        return stored

    def update(self, container: Container, field_paths: Sequence[str] = ()) -> Container:
        if not container.id:
            raise InvalidArgument("must specify a container id")
        ns = namespaces.get()
        with self.db.update() as conn:
            r = conn.execute("SELECT * FROM containers WHERE namespace=? AND id=?",
                             (ns, container.id)).fetchone()
            if r is None:
                raise NotFound(f'container "{container.id}"')
            updated = _row(r)
            paths = list(field_paths)
            if not paths:
                # a full replace: immutable fields must not differ (they may become mutable one day)
                paths = list(FIELD_PATHS)
                if updated.snapshotter != container.snapshotter:
                    raise InvalidArgument("container.Snapshotter field is immutable")
                if updated.runtime.name != container.runtime.name:
                    raise InvalidArgument("container.Runtime.Name field is immutable")
            for path in paths:
                self._apply(updated, container, path)
            try:
                validate(updated)
            except InvalidArgument as exc:
                raise InvalidArgument(f"update failed validation: {exc.what}") from None
            updated.updated_at = _now()
            self._write(conn, "update", ns, updated)
        return updated

    @staticmethod
    def _apply(updated: Container, given: Container, path: str) -> None:
        if path.startswith("labels."):
            key = path[len("labels."):]
            if given.labels.get(key):
                updated.labels[key] = given.labels[key]
            else:  # an empty or missing value removes the label (containerd stores "" the same way)
                updated.labels.pop(key, None)
        elif path.startswith("extensions."):
            key = path[len("extensions."):]
            if key in given.extensions:
                updated.extensions[key] = given.extensions[key]
            else:
                updated.extensions.pop(key, None)
        elif path == "labels":
            updated.labels = dict(given.labels)
        elif path == "spec":
            updated.spec = given.spec
        elif path == "extensions":
            updated.extensions = dict(given.extensions)
        elif path == "image":
            updated.image = given.image
        elif path == "snapshotkey":
            updated.snapshot_key = given.snapshot_key
        else:
            raise InvalidArgument(f'cannot update "{path}" field on "{given.id}"')

    def delete(self, id: str) -> None:
        ns = namespaces.get()
        with self.db.update() as conn:
            if conn.execute("DELETE FROM containers WHERE namespace=? AND id=?", (ns, id)).rowcount == 0:
                raise NotFound(f"container {id}")

    def references(self, namespace: str | None = None) -> Iterator[tuple[str, str, str, str]]:
        """GC edges out of containers (see :class:`pyctrd.core.containers.ContainerStore`).

        A collector should treat every container as a root and mark what this yields, as
        containerd's ``scanRoots`` does for its containers bucket.
        """
        sql, args = "SELECT namespace, id, snapshotter, snapshot_key, labels FROM containers", []
        if namespace is not None:
            sql, args = sql + " WHERE namespace=?", [namespace]
        with self.db.view() as c:
            rows = c.execute(sql + " ORDER BY namespace, id", args).fetchall()
        for ns, cid, snapshotter, key, labels_text in rows:
            if snapshotter and key:
                yield ns, cid, f"snapshot/{snapshotter}", key
            for k, v in sorted(json.loads(labels_text).items()):
                if k.startswith(GC_REF_CONTENT) and (k == GC_REF_CONTENT or k[len(GC_REF_CONTENT)] in "./"):
                    yield ns, cid, "content", v
                elif k.startswith(GC_REF_SNAPSHOT) and k[len(GC_REF_SNAPSHOT):]:
                    yield ns, cid, f"snapshot/{k[len(GC_REF_SNAPSHOT):].partition('/')[0]}", v


class ContainersTracker:
    """Containers as roots of the metadata collector (a :class:`pyctrd.core.gc.ResourceTracker`)."""

    types: tuple[str, ...] = ("container",)

    def __init__(self, store: SQLiteContainerStore) -> None:
        self.store = store

    def __repr__(self) -> str:
        return "<ContainersTracker>"

    def scan_all(self, tx: sqlite3.Connection) -> list[gc.Node]:
        return []  # a container record goes only when deleted, never by collection

    def scan_roots(self, tx: sqlite3.Connection) -> list[gc.Node]:
        return [gc.Node("container", ns, id) for ns, id in tx.execute("SELECT namespace, id FROM containers")]

    def references(self, tx: sqlite3.Connection, node: gc.Node) -> list[gc.Node]:
        row = tx.execute("SELECT snapshotter, snapshot_key, labels FROM containers WHERE namespace=? AND id=?",
                         (node.namespace, node.key)).fetchone()
        if row is None:
            return []
        snapshot = [gc.Node(f"snapshot/{row[0]}", node.namespace, row[1])] if row[0] and row[1] else []
        return [*snapshot, *gc.label_refs(node.namespace, json.loads(row[2]))]

    def remove(self, tx: sqlite3.Connection, node: gc.Node) -> None:
        """Never called: :meth:`scan_all` offers nothing to sweep."""

    def cleanup(self, removed: list[gc.Node]) -> list[str]:
        return []
