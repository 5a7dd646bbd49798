"""Namespaced snapshots on a real database and real backends: keys, labels, leases, GC sweep."""
from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from pyctrd.core import typeurl
from pyctrd.core.containers import Container, RuntimeInfo
from pyctrd.core.content import Info as ContentInfo
from pyctrd.core.gc import Node
from pyctrd.core.leases import Resource, lease
from pyctrd.core.mount import Mount
from pyctrd.core.namespaces import namespace
from pyctrd.core.snapshots import LABEL_SNAPSHOT_REF, Info, Kind
from pyctrd.errdefs import AlreadyExists, FailedPrecondition, NotFound
from pyctrd.plugins.content.local import LocalStore
from pyctrd.plugins.metadata.sqlite.metadata import Metadata
from pyctrd.plugins.snapshots.native import NativeSnapshotter
from pyctrd.plugins.snapshots.overlayfs import OverlaySnapshotter
from tests.fixtures.blobs import write_blob
from tests.fixtures.clock import FakeClock

GC_ROOT = {"containerd.io/gc.root": "yes"}


@pytest.fixture
def md(tmp_path: Path) -> Iterator[Metadata]:
    m = Metadata(tmp_path / "meta.db", content=LocalStore(tmp_path / "content"), clock=FakeClock(),
                 snapshotters={"native": NativeSnapshotter(tmp_path / "native"),
                               "overlayfs": OverlaySnapshotter(tmp_path / "overlay", async_remove=True)})
    yield m
    for sn in m.snapshotters.values():
        sn.close()
    m.close()


def backend_names(md: Metadata, name: str = "native") -> list[str]:
    return sorted(i.name for i in md.snapshotters[name].backend.walk())


def chain(md: Metadata, names: list[str], name: str = "native", labels: Mapping[str, str] | None = None) -> None:
    sn, parent = md.snapshotters[name], ""
    for n in names:
        sn.prepare(f"{n}-a", parent, labels)
        sn.commit(n, f"{n}-a", labels)
        parent = n


def test_namespaces_have_their_own_keys_and_backend_keys(md: Metadata) -> None:
    sn = md.snapshotters["native"]
    with namespace("a"):
        chain(md, ["base"])
        sn.prepare("c1", "base")
    with namespace("b"):
        with pytest.raises(NotFound):
            sn.stat("base")  # committed in a, invisible in b
        with pytest.raises(NotFound):
            sn.prepare("x", "base")
        chain(md, ["base"])  # the same name in b: a backend snapshot of its own
        sn.prepare("c1", "base")
        assert [i.name for i in sn.walk()] == ["base", "c1"]
        assert sn.stat("c1").parent == "base"
        assert re.fullmatch(r"<NamespacedSnapshotter native ns=b snapshots=2>", repr(sn))
    assert backend_names(md) == ["a/2/base", "a/3/c1", "b/2/base", "b/3/c1"]  # <ns>/<seq>/<key>
    with namespace("a"):
        assert repr(sn.stat("c1")) == "<Snapshot native:c1 ACTIVE parent=base>"
        assert sn.backend_key("c1") == "a/3/c1"
    with pytest.raises(FailedPrecondition, match="snapshots"):
        md.namespaces.delete("a")


def test_labels_are_kept_per_namespace_and_only_inherited_ones_reach_the_backend(md: Metadata) -> None:
    sn = md.snapshotters["native"]
    labels = {"team": "red", "containerd.io/snapshot/keep": "1", LABEL_SNAPSHOT_REF: "x"}
    sn.prepare("k", "", labels)
    assert sn.stat("k").labels == labels
    assert md.snapshotters["native"].backend.stat(sn.backend_key("k")).labels == {
        "containerd.io/snapshot/keep": "1", LABEL_SNAPSHOT_REF: "x"}
    got = sn.update(Info(name="k", labels={"team": "", "new": "2"}), ["labels.team", "labels.new"])
    assert got.labels == {"containerd.io/snapshot/keep": "1", LABEL_SNAPSHOT_REF: "x", "new": "2"}
    assert got.kind is Kind.ACTIVE
    assert [i.name for i in sn.walk("labels.new==2")] == ["k"]


def test_create_checks_before_touching_the_backend(md: Metadata) -> None:
    sn = md.snapshotters["native"]
    chain(md, ["base"])
    sn.prepare("k", "base", {LABEL_SNAPSHOT_REF: "top"})  # a target that is free is just a label
    with pytest.raises(AlreadyExists, match="target snapshot"):
        sn.prepare("k2", "", {LABEL_SNAPSHOT_REF: "base"})  # the target exists in this namespace
    with pytest.raises(AlreadyExists):
        sn.prepare("k", "")
    assert backend_names(md) == ["default/2/base", "default/3/k"]


def test_leases_hold_what_is_made_in_them(md: Metadata) -> None:
    sn = md.snapshotters["overlayfs"]
    md.leases.create("pull")
    with lease("pull"):
        sn.prepare("extract-1 sha256:x", "")
        assert md.leases.list_resources("pull") == [Resource("extract-1 sha256:x", "snapshots/overlayfs")]
        sn.commit("sha256:x", "extract-1 sha256:x")
        assert md.leases.list_resources("pull") == [Resource("sha256:x", "snapshots/overlayfs")]
        sn.prepare("extract-2 sha256:y", "sha256:x")
        sn.remove("extract-2 sha256:y")  # a failed unpack: the lease lets go of it too
        assert md.leases.list_resources("pull") == [Resource("sha256:x", "snapshots/overlayfs")]
    with lease("gone"), pytest.raises(NotFound, match="lease"):
        sn.prepare("k", "")
    assert [i.name for i in sn.walk()] == ["sha256:x"]  # the refused prepare left nothing


def test_gc_keeps_roots_parents_and_labelled_chains(md: Metadata) -> None:
    sn, cs = md.snapshotters["native"], md.content_store
    assert cs is not None
    chain(md, ["l1", "l2", "l3"])                      # an image's chain ...
    config = write_blob(cs, b'{"config": 1}')
    cs.update(ContentInfo(config, 0, labels={"containerd.io/gc.ref.snapshot.native": "l3",
                                             "containerd.io/gc.root": "1"}), [])  # ... kept by its config
    chain(md, ["o1", "o2"])                            # an unreferenced chain
    sn.prepare("kept", "o1", GC_ROOT)                  # a root keeps its parent o1, not o2
    sn.view("stray-view", "l1")
    md.db.mark_dirty()
    stats = md.garbage_collect()
    swept = sorted(n.key for n in stats.removed if n.type == "snapshot/native")
    assert swept == ["o2", "stray-view"]
    assert sorted(i.name for i in sn.walk()) == ["kept", "l1", "l2", "l3", "o1"]
    assert sorted(stats.other_removed["snapshot/native,snapshot/overlayfs"]) == [
        "native:default/10/o2", "native:default/12/stray-view"]
    assert backend_names(md) == sorted(f"default/{n}" for n in ("2/l1", "4/l2", "6/l3", "8/o1", "11/kept"))
    cs.delete(config)
    md.garbage_collect()
    assert sorted(i.name for i in sn.walk()) == ["kept", "o1"]
    assert backend_names(md) == ["default/11/kept", "default/8/o1"]


def test_flat_leases_keep_parents_but_not_label_references(md: Metadata) -> None:
    sn = md.snapshotters["native"]
    chain(md, ["p", "q"])
    sn.prepare("other-a", "")
    sn.commit("other", "other-a")
    sn.update(Info(name="q", labels={"containerd.io/gc.ref.snapshot.native": "other"}))
    md.leases.create("flat", {"containerd.io/gc.flat": "1"})
    md.leases.add_resource("flat", Resource("q", "snapshots/native"))
    md.garbage_collect()
    assert sorted(i.name for i in sn.walk()) == ["p", "q"]  # "other" went: flat ignores labels


def test_a_containers_snapshot_and_its_parents_are_kept(md: Metadata) -> None:
    sn = md.snapshotters["overlayfs"]
    chain(md, ["base"], "overlayfs")
    sn.prepare("c1", "base")
    sn.prepare("c2", "base")
    spec = typeurl.pack_json(typeurl.OCI_SPEC_URL, {"ociVersion": "1.0.2-dev"})
    md.containers.create(Container("c1", runtime=RuntimeInfo("io.containerd.runc.v2"), spec=spec,
                                   snapshotter="overlayfs", snapshot_key="c1"))
    stats = md.garbage_collect()
    assert [n for n in stats.removed if n.type.startswith("snapshot/")] == [Node("snapshot/overlayfs", "default", "c2")]
    assert sorted(i.name for i in sn.walk()) == ["base", "c1"]


def test_removed_records_free_the_backend_at_the_next_collection(md: Metadata, tmp_path: Path) -> None:
    sn = md.snapshotters["overlayfs"]
    chain(md, ["base"], "overlayfs", GC_ROOT)
    sn.prepare("c1", "base")
    sn.remove("c1")  # the record only: the files stay until GC
    assert len(list((tmp_path / "overlay" / "snapshots").iterdir())) == 2
    sn.prepare("c2", "base")
    with pytest.raises(FailedPrecondition, match="child"):
        sn.remove("base")
    sn.remove("c2")
    stats = md.garbage_collect()
    assert stats.other_removed == {"snapshot/native,snapshot/overlayfs": ["overlayfs:default/3/c1",
                                                                          "overlayfs:default/4/c2"]}
    assert [p.name for p in (tmp_path / "overlay" / "snapshots").iterdir()] == ["1"]  # cleanup() ran


def test_first_collection_heals_a_crash_between_record_and_backend(tmp_path: Path) -> None:
    backend = NativeSnapshotter(tmp_path / "native")
    backend.prepare("default/7/half-made", "")  # as if the daemon died before the record was written
    md = Metadata(tmp_path / "meta.db", snapshotters={"native": backend})
    try:
        assert repr(md.snapshot_tracker) == "<SnapshotTracker native dirty=native>"
        md.garbage_collect()
        assert backend_names(md) == []
        assert repr(md.snapshot_tracker) == "<SnapshotTracker native dirty=->"
    finally:
        backend.close()
        md.close()


class DedupNative(NativeSnapshotter):
    """TEST DOUBLE (lowest seam): a backend that shares committed layers by their
    ``containerd.io/snapshot.ref`` label, as remote snapshotters do (overlayfs and native never
    do). Beside it, the real backends above go through the same metadata code."""

    def prepare(self, key: str, parent: str = "", labels: Mapping[str, str] | None = None) -> list[Mount]:
        target = (labels or {}).get(LABEL_SNAPSHOT_REF)
        if target and any(i.kind is Kind.COMMITTED and i.labels.get(LABEL_SNAPSHOT_REF) == target
                          and i.parent == parent for i in self.walk()):
            raise AlreadyExists(f"target {target}")
        return super().prepare(key, parent, labels)


def test_a_backend_that_shares_targets_makes_the_layer_visible_in_the_namespace(tmp_path: Path) -> None:
    backend = DedupNative(tmp_path / "native")
    md = Metadata(tmp_path / "meta.db", snapshotters={"native": backend})
    sn = md.snapshotters["native"]
    ref = {LABEL_SNAPSHOT_REF: "sha256:l1", **GC_ROOT}
    try:
        with namespace("a"):
            sn.prepare("extract-1", "", ref)
            sn.commit("sha256:l1", "extract-1", ref)
        with namespace("b"):
            with pytest.raises(AlreadyExists, match="target snapshot"):
                sn.prepare("extract-2", "", ref)
            info = sn.stat("sha256:l1")  # recorded in b, sharing a's backend snapshot
            assert (info.kind, sn.backend_key("sha256:l1")) == (Kind.COMMITTED, "a/2/sha256:l1")
        with namespace("a"):
            sn.remove("sha256:l1")
        md.garbage_collect()  # b's record still names the backend snapshot: it stays
        assert backend_names(md) == ["a/2/sha256:l1"]
        with md.db.view() as c:
            assert json.loads(c.execute("SELECT labels FROM snapshots").fetchone()[0]) == ref
        assert backend.stat("a/2/sha256:l1").labels == {LABEL_SNAPSHOT_REF: "sha256:l1"}
    finally:
        backend.close()
        md.close()
