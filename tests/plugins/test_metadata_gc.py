"""The metadata collector: roots, edges, sweep and backend cleanup, on a real database."""
from __future__ import annotations

import json
import sqlite3
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyctrd.core import digest as digests
from pyctrd.core.gc import Collector, Node, ResourceTracker
from pyctrd.core.images import Image
from pyctrd.core.leases import Resource, lease
from pyctrd.core.namespaces import namespace
from pyctrd.core.ocispec import MEDIA_TYPE_OCI_MANIFEST, Descriptor
from pyctrd.errdefs import NotFound
from pyctrd.plugins.content.local import LocalStore
from pyctrd.plugins.metadata.sqlite.metadata import Metadata
from tests.fixtures.blobs import write_blob, write_image
from tests.fixtures.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def md(tmp_path: Path, clock: FakeClock) -> Iterator[Metadata]:
    m = Metadata(tmp_path / "meta.db", content=LocalStore(tmp_path / "content"), clock=clock)
    yield m
    m.close()


def blobs_on_disk(md: Metadata) -> set[str]:
    return {i.digest for i in md.content.walk()}


def records(md: Metadata) -> set[tuple[str, str]]:
    with md.db.view() as c:
        return {(r[0], r[1]) for r in c.execute("SELECT namespace, digest FROM blobs")}


def test_images_keep_their_blobs_until_deleted(md: Metadata) -> None:
    assert isinstance(md, Collector)
    cs = md.content_store
    with _leased(md, "pull"):  # a pull: blobs first, the image record last, then the lease goes
        w = write_image(cs, md.images, "example.com/a:1")
    stray = write_blob(cs, b"nobody wants me")
    md.leases.delete("pull")
    stats = md.garbage_collect()
    assert stats.removed == [Node("content", "default", stray)]
    assert stats.content_removed == [stray]
    assert blobs_on_disk(md) == w.blobs
    md.images.delete("example.com/a:1")
    stats = md.garbage_collect()
    assert {n.key for n in stats.removed} == w.blobs and blobs_on_disk(md) == set()
    assert repr(stats).startswith("<GCStats removed=3 blobs=3 ingests=0 ")


class _leased:
    """Create a lease, make it current, leave it in place (the test deletes it)."""

    def __init__(self, md: Metadata, lid: str) -> None:
        md.leases.create(lid)
        self._cm = lease(lid)

    def __enter__(self) -> None:
        self._cm.__enter__()

    def __exit__(self, *exc: object) -> None:
        self._cm.__exit__(None, None, None)


def test_lease_protects_until_it_expires(md: Metadata, clock: FakeClock) -> None:
    md.leases.create("short", {"containerd.io/gc.expire": "2024-05-01T13:00:00Z"})
    with lease("short"):
        d = write_blob(md.content_store, b"leased")
    assert md.garbage_collect().removed == []
    clock.advance(3601)
    stats = md.garbage_collect()
    assert set(stats.removed) == {Node("lease", "default", "short"), Node("content", "default", d)}
    assert md.leases.list() == []


def test_flat_lease_keeps_blobs_but_not_their_children(md: Metadata) -> None:
    cs = md.content_store
    child = write_blob(cs, b"child")
    parent = write_blob(cs, b"parent", {"containerd.io/gc.ref.content.x": child})
    md.leases.create("flat", {"containerd.io/gc.flat": ""})
    md.leases.add_resource("flat", Resource(parent, "content"))
    assert md.garbage_collect().removed == [Node("content", "default", child)]
    md.leases.create("deep")
    md.leases.add_resource("deep", Resource(parent, "content"))
    write_blob(cs, b"child")
    assert md.garbage_collect().removed == []


def test_gc_root_label_and_cross_namespace_bytes(md: Metadata) -> None:
    cs = md.content_store
    rooted = write_blob(cs, b"pinned", {"containerd.io/gc.root": "yes"})
    with namespace("b"):
        write_blob(cs, b"pinned")  # b's record has no root label
    stats = md.garbage_collect()
    assert stats.removed == [Node("content", "b", rooted)] and stats.content_removed == []
    assert blobs_on_disk(md) == {rooted}  # a still needs the bytes


def test_ingests_live_a_day_or_as_long_as_their_lease(md: Metadata, clock: FakeClock) -> None:
    cs = md.content_store
    w = cs.writer("unleased")
    w.write(b"half")
    w.close()
    md.leases.create("l")
    with lease("l"):
        w2 = cs.writer("leased")
        w2.write(b"other half")
        w2.close()
    assert md.garbage_collect().removed == []
    clock.advance(25 * 3600)
    stats = md.garbage_collect()
    assert stats.removed == [Node("ingest", "default", "unleased")] and len(stats.ingests_aborted) == 1
    assert [s.ref for s in cs.list_statuses()] == ["leased"]
    md.leases.delete("l")
    stats = md.garbage_collect()
    assert stats.removed == [Node("ingest", "default", "leased")]
    assert md.content.list_statuses() == []


def test_a_shared_ingest_keeps_the_bytes_it_expects(md: Metadata) -> None:
    cs = md.content_store
    with namespace("a"):
        d = write_blob(cs, b"shared bytes")
    with namespace("b"):
        w = cs.writer("take-it", expected=d)
        assert w.shared
    with namespace("a"):
        cs.delete(d)
    stats = md.garbage_collect()  # a's record was garbage anyway; b's ingest still expects the bytes
    assert stats.content_removed == [] and blobs_on_disk(md) == {d}
    with namespace("b"):
        w.commit(0, d)
        assert cs.info(d).size == len(b"shared bytes")


def test_backend_orphans_are_removed(md: Metadata) -> None:
    with md.content.writer("no-record") as w:  # straight into the backend: no namespace knows it
        w.write(b"orphan")
        w.commit(6, "")
    w2 = md.content.writer("abandoned")
    w2.write(b"x")
    w2.close()
    stats = md.garbage_collect()
    assert stats.removed == [] and stats.content_removed == [digests.from_bytes(b"orphan")]
    assert stats.ingests_aborted == ["abandoned"]


class TableTracker:
    """A minimal snapshot-like resource kept in its own table (stands in for the snapshot layer,
    which registers the same way)."""

    types = ("snapshot/fake",)

    def __init__(self, md: Metadata) -> None:
        with md.db.update() as c:
            c.execute("CREATE TABLE IF NOT EXISTS fake_snapshots (namespace TEXT, key TEXT, parent TEXT, "
                      "labels TEXT)")
        self.md = md
        self.cleaned: list[list[Node]] = []

    def add(self, ns: str, key: str, parent: str = "", labels: dict[str, str] | None = None) -> None:
        with self.md.db.update() as c:
            c.execute("INSERT INTO fake_snapshots VALUES (?,?,?,?)", (ns, key, parent, json.dumps(labels or {})))

    def scan_all(self, tx: sqlite3.Connection) -> Iterable[Node]:
        return [Node("snapshot/fake", ns, k) for ns, k in tx.execute("SELECT namespace, key FROM fake_snapshots")]

    def scan_roots(self, tx: sqlite3.Connection) -> Iterable[Node]:
        rows = tx.execute("SELECT namespace, key, labels FROM fake_snapshots").fetchall()
        return [Node("snapshot/fake", ns, k) for ns, k, lab in rows if "containerd.io/gc.root" in json.loads(lab)]

    def references(self, tx: sqlite3.Connection, node: Node) -> Iterable[Node]:
        from pyctrd.core.gc import label_refs

        row = tx.execute("SELECT parent, labels FROM fake_snapshots WHERE namespace=? AND key=?",
                         (node.namespace, node.key)).fetchone()
        if row is None:
            return []
        out = [Node(node.type, node.namespace, row[0], flat=node.flat)] if row[0] else []
        return out if node.flat else out + list(label_refs(node.namespace, json.loads(row[1])))

    def remove(self, tx: sqlite3.Connection, node: Node) -> None:
        tx.execute("DELETE FROM fake_snapshots WHERE namespace=? AND key=?", (node.namespace, node.key))

    def cleanup(self, removed: list[Node]) -> list[str]:
        self.cleaned.append(removed)
        return [n.key for n in removed]


def test_trackers_plug_other_resources_in(md: Metadata) -> None:
    tr = TableTracker(md)
    assert isinstance(tr, ResourceTracker)
    md.collector.register(tr)
    assert repr(md.collector) == "<MetadataCollector trackers=container,snapshot/fake dirty=0>"
    cfg = write_blob(md.content_store, b"config of a snapshot")
    tr.add("default", "base")
    tr.add("default", "top", parent="base", labels={"containerd.io/gc.ref.content.c": cfg})
    tr.add("default", "lonely")
    tr.add("default", "pinned", labels={"containerd.io/gc.root": "1"})
    md.images.create(Image("x:1", Descriptor(MEDIA_TYPE_OCI_MANIFEST, "sha256:" + "0" * 64, 1),
                           {"containerd.io/gc.ref.snapshot.fake": "top"}))
    stats = md.garbage_collect()
    assert stats.removed == [Node("snapshot/fake", "default", "lonely")]
    assert stats.other_removed == {"snapshot/fake": ["lonely"]} and tr.cleaned == [stats.removed]
    md.images.delete("x:1")
    md.leases.create("flat", {"containerd.io/gc.flat": ""})
    md.leases.add_resource("flat", Resource("top", "snapshots/fake"))
    stats = md.garbage_collect()  # flat: top and its parent stay, the blob its label names goes
    assert stats.removed == [Node("content", "default", cfg)]


# -- the property: on a real database, exactly the unreachable records go ---------------------
@st.composite
def worlds(draw: st.DrawFn) -> dict[str, object]:
    n = draw(st.integers(1, 10))
    return {
        "n": n,
        "edges": {i: draw(st.lists(st.integers(0, n - 1), max_size=3, unique=True)) for i in range(n)},
        "ns": {i: draw(st.sampled_from(["a", "b"])) for i in range(n)},
        "roots": draw(st.lists(st.integers(0, n - 1), max_size=3, unique=True)),
        "images": draw(st.lists(st.integers(0, n - 1), max_size=2, unique=True)),
        "leased": draw(st.lists(st.integers(0, n - 1), max_size=2, unique=True)),
    }


@settings(max_examples=25, deadline=None)
@given(worlds())
def test_gc_removes_exactly_the_unreachable(world: dict[str, object]) -> None:
    n, edges, ns = world["n"], world["edges"], world["ns"]
    assert isinstance(n, int) and isinstance(edges, dict) and isinstance(ns, dict)
    data = {i: f"blob {i}".encode() for i in range(n)}
    dg = {i: digests.from_bytes(data[i]) for i in range(n)}
    with tempfile.TemporaryDirectory() as tmp:
        md = Metadata(Path(tmp) / "meta.db", content=LocalStore(Path(tmp) / "content"))
        cs = md.content_store
        for i in range(n):  # edges point within the blob's own namespace (labels are per namespace)
            labels = {f"containerd.io/gc.ref.content.{j}": dg[j] for j in edges[i] if ns[j] == ns[i]}
            if i in world["roots"]:  # type: ignore[operator]
                labels["containerd.io/gc.root"] = "x"
            with namespace(ns[i]):
                write_blob(cs, data[i], labels)
        for i in world["images"]:  # type: ignore[attr-defined]
            with namespace(ns[i]):
                md.images.create(Image(f"img-{i}", Descriptor(MEDIA_TYPE_OCI_MANIFEST, dg[i], len(data[i]))))
        for i in world["leased"]:  # type: ignore[attr-defined]
            with namespace(ns[i]):
                md.leases.create(f"l{i}")
                md.leases.add_resource(f"l{i}", Resource(dg[i], "content"))
        starts = {*world["roots"], *world["images"], *world["leased"]}  # type: ignore[misc]
        reachable, todo = set(starts), deque(starts)
        while todo:
            i = todo.popleft()
            for j in edges[i]:
                if ns[j] == ns[i] and j not in reachable:
                    reachable.add(j)
                    todo.append(j)
        md.garbage_collect()
        assert records(md) == {(ns[i], dg[i]) for i in reachable}
        assert blobs_on_disk(md) == {dg[i] for i in reachable}
        for i in reachable:
            with namespace(ns[i]):
                r = cs.reader_at(dg[i])
                assert r.read_at(0, r.size) == data[i]
                r.close()
        for i in set(range(n)) - reachable:
            with namespace(ns[i]), pytest.raises(NotFound):
                cs.info(dg[i])
        md.close()
