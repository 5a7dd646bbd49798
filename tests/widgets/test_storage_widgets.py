"""SnapshotChain, PullProgress and GCView against a real daemon and registry: what they show changes
when an image is pulled, a container's snapshot is prepared, an image is removed, GC runs."""
from __future__ import annotations

import contextlib
import hashlib
import threading

import pytest

from pyctrd.core import leases as current_lease
from pyctrd.core.gc import Node
from pyctrd.core.remotes import Progress
from pyctrd.diagrams import human_size
from pyctrd.errdefs import FailedPrecondition, NotFound
from pyctrd.lab import Lab
from pyctrd.widgets import Dashboard, GCView, PullProgress, SnapshotChain, read_gc_graph

from .conftest import RecordingComm, comm_of, until


@pytest.mark.requires_root
@pytest.mark.needs_dot
def test_a_pull_then_a_container_show_up_in_the_chain(lab: Lab, comms: list[RecordingComm]) -> None:
    ref = f"{lab.registry_with_samples()}/layered:latest"
    c = lab.client("w-chain")
    chain = SnapshotChain(c, interval=0.05)
    pp = PullProgress(c, interval=0.05)
    try:
        assert chain.summary() == "<SnapshotChain overlayfs empty depth=0 whiteouts=0>"
        result = pp.pull(ref).wait()
        assert sorted(b.kind for b in pp.timeline.blobs) == ["config", "layer", "layer", "layer", "manifest"]
        assert pp.timeline.blobs[0].kind == "manifest" and pp.timeline.done
        assert "done</span>: fetched 5" in pp.status.value and result.image.name == ref
        assert any("layer" in v for v in comm_of(pp.bars, comms).updates("value")), "no bars reached the page"
        assert "<rect class='done'" in pp.chart.value
        assert pp.summary().startswith(f"<PullProgress done PullTimeline {ref} 5/5 blobs") and len(repr(pp)) <= 110
        with pytest.raises(FailedPrecondition, match="nothing pulled"):
            PullProgress(c).wait()

        assert until(chain, lambda: chain.summary().startswith("<SnapshotChain overlayfs committed=3 depth=3"))
        c.new_container("c1", ref, args=["true"])
        try:
            assert until(chain, lambda: "active=1" in chain.summary())
            assert chain.summary() == "<SnapshotChain overlayfs active=1 committed=3 depth=4 whiteouts=2>"
            assert "lowerdir[2]" in chain.svg.value and "etc/goodbye (deleted)" in chain.svg.value
            assert "opt/data/ (opaque)" in chain.svg.value
            assert chain.text().splitlines()[-1].strip() == "└── c1  ACTIVE"
        finally:
            c.containers.delete("c1", snapshot_cleanup=True)
        assert until(chain, lambda: "active" not in chain.summary())
    finally:
        chain.close()
        c.images.delete(ref, sync=True)
    assert not chain.feed.running


def test_a_failed_pull_says_why(lab: Lab) -> None:
    pp = PullProgress(lab.client("w-fail"), interval=0.05)
    with pytest.raises(NotFound):
        pp.pull(f"{lab.registry_with_samples()}/nothing-here:latest").wait()
    assert "failed:" in pp.status.value and pp.summary().startswith("<PullProgress failed")


def test_gc_view_predicts_what_the_daemon_collects(lab: Lab) -> None:
    reg = lab.registry_with_samples()
    c = lab.client("w-gc")
    busybox, layered = f"{reg}/busybox:latest", f"{reg}/layered:latest"
    c.pull(busybox)
    c.pull(layered)
    view = GCView(c, interval=0.05)
    try:
        assert view.graph.garbage() == [] and sorted(view.images.options) == [busybox, layered]
        predicted = read_gc_graph(c)
        predicted.roots.remove(Node("image", "w-gc", layered))
        expect = {n for n in predicted.garbage()} | {Node("image", "w-gc", layered)}
        gone = set(view.remove_image(layered))
        assert gone == expect
        kinds = sorted(n.type for n in gone)
        # manifest, config, two own layers (the first layer is busybox's too); two snapshots
        assert kinds == ["content"] * 4 + ["image"] + ["snapshot/overlayfs"] * 2, kinds
        assert view.images.options == (busybox,) and f"removed {len(gone)}" in view.result.value
        assert view.images.value == busybox  # the picker never shows a removed image

        data = b"nobody wants me"
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        lease = c.leases.create(labels={"containerd.io/gc.expire": "2000-01-01T00:00:00Z"})
        with current_lease.lease(lease.id), c.content.writer("w-gc-blob", total=len(data), expected=digest) as w:
            w.write(data)
            w.commit(len(data), digest)
        view.refresh()
        assert Node("lease", "w-gc", lease.id) in view.graph.expired
        assert {n.key for n in view.graph.garbage()} == {digest, lease.id}
        assert {n.key for n in view.collect()} == {digest, lease.id}
        with pytest.raises(NotFound):
            c.content.info(digest)
        assert view.summary() == (f"<GCView {len(view.graph.nodes)} nodes, 1 roots, 0 garbage; "
                                  "last collection removed 2>")
    finally:
        view.close()
        c.images.delete(busybox, sync=True)


def test_dashboard_has_the_storage_tabs_on_its_one_feed(lab: Lab) -> None:
    d = Dashboard.for_lab(lab, interval=0.05)
    try:
        titles = [d.children[1].get_title(i) for i in range(len(d.children[1].children))]
        assert titles == ["Plugins", "Files", "Snapshots", "Content & GC", "Pull", "Architecture"]
        assert d.snapshots.feed is d.feed and d.gc.feed is d.feed and d.puller.watching
        text = d._repr_mimebundle_()["text/plain"]
        assert text.startswith("<Dashboard plugins=") and len(text) <= 110
    finally:
        d.close()
    assert not d.feed.running and not d.puller.watching


@pytest.mark.requires_root
@pytest.mark.needs_dot
def test_native_chain_is_bind_mounts_of_full_copies(lab: Lab) -> None:
    ref = f"{lab.registry_with_samples()}/layered:latest"
    c = lab.client("w-native")
    pulled = c.pull(ref, snapshotter="native")
    top = pulled.unpacked[0][1].chain_id
    chain = SnapshotChain(c, "native", interval=0.05)
    try:
        c.snapshotter("native").view("v", top, labels={"containerd.io/gc.root": "test"})
        chain.refresh()  # containerd publishes no event for a view (prepare, commit, remove only)
        assert chain.summary() == "<SnapshotChain native committed=3 view=1 depth=4 whiteouts=0>"  # applied, not kept
        assert "mount &#45;t bind</text>" in chain.svg.value and "lowerdir[0]" in chain.svg.value
        assert chain.usage[top].size > chain.usage[chain.infos[0].name].size // 2  # a full copy, not a diff
        c.snapshotter("native").remove("v")
    finally:
        chain.close()
        c.images.delete(ref, sync=True)


@pytest.mark.requires_root
def test_watching_shows_a_pull_started_elsewhere(lab: Lab, comms: list[RecordingComm]) -> None:
    """The widget runs no pull here: it sees another connection's pull only through ListStatuses."""
    ref = f"{lab.registry_with_samples()}/busybox:latest"
    c = lab.client("w-watch")
    pp = PullProgress(c, watch=True, poll=0.02, interval=0.05)
    other = lab.client("w-watch")  # as pyctr in a terminal: its own connection, same namespace
    held, release = threading.Event(), threading.Event()

    def hold(p: Progress) -> None:  # keep the pull at its manifest's bytes until the widget saw them
        if p.ref.startswith("manifest-") and p.status == "downloading" and p.offset > 0 and not held.is_set():
            held.set()
            release.wait(30)

    outcome: list[object] = []

    def pull() -> None:
        try:
            outcome.append(other.pull(ref, progress=hold))
        except Exception as exc:
            outcome.append(exc)

    puller = threading.Thread(target=pull, daemon=True)
    try:
        assert pp.watching and "0 active ingests in namespace w-watch" in pp.active.value
        puller.start()
        assert held.wait(30), "the pull never reached its manifest"
        # the manifest is fetched alone (its children are known only once it is read)
        assert until(pp, lambda: [s.offset > 0 for s in pp.ingests.ingests.values()] == [True])
        [(manifest, st)] = pp.ingests.ingests.items()
        assert manifest.startswith("manifest-sha256:") and 0 < st.offset <= st.total
        size = f"{human_size(st.offset)} / {human_size(st.total)}"
        assert until(pp, lambda: "1 active ingest " in pp.active.value and size in pp.active.value)
        assert manifest[:25] in pp.active.value
        assert pp.summary().startswith("<PullProgress ready ingests=1")
        assert any(manifest[:25] in v for v in comm_of(pp.active, comms).updates("value")), "no bar reached the page"
        assert pp.timeline.blobs == []  # not its own pull
        release.set()
        puller.join(60)
        assert [type(o).__name__ for o in outcome] == ["PullResult"], outcome
        assert until(pp, lambda: not pp.ingests.ingests and "0 active ingests" in pp.active.value)
        assert manifest in pp.ingests.finished and "finished (committed or aborted)" in pp.active.value

        # an ingest written by hand, then aborted: it shows with its size, then goes
        with c.content.writer("w-watch-by-hand", total=10) as wr:
            wr.write(b"1234")
            assert until(pp, lambda: "4 B / 10 B" in pp.active.value)
            assert pp.ingests.ingests["w-watch-by-hand"].offset == 4
            c.content.abort("w-watch-by-hand")
        assert until(pp, lambda: "w-watch-by-hand" not in pp.ingests.ingests)
        assert list(pp.ingests.finished)[-1] == "w-watch-by-hand"
    finally:
        release.set()
        if puller.is_alive():
            puller.join(60)
        pp.close()
        with contextlib.suppress(NotFound):
            c.images.delete(ref, sync=True)
    assert not pp.watching and not pp.ingests.running
