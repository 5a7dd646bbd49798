"""Snapshot chains, the GC graph and pull timelines: DOT text and structure, no pixels."""
from __future__ import annotations

import hashlib
import io
import os
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pyctrd.core.containers import Container
from pyctrd.core.content import Info as Blob
from pyctrd.core.gc import Node, mark
from pyctrd.core.images import Image, chain_ids
from pyctrd.core.leases import Lease, Resource
from pyctrd.core.mount import Mount
from pyctrd.core.ocispec import Descriptor
from pyctrd.core.remotes import Progress
from pyctrd.core.snapshots import Info, Kind, Usage
from pyctrd.diagrams import (
    PullTimeline,
    Whiteout,
    content_graph,
    gc_graph,
    layer_dirs,
    overlay_mount,
    scan_whiteouts,
    snapshot_chain,
    snapshot_tree_text,
    whiteouts_in_tar,
)

D = [f"sha256:{hashlib.sha256(x.encode()).hexdigest()}" for x in ("l0", "l1", "l2")]
CHAIN = chain_ids(D)
SNAP = "/r/io.containerd.snapshotter.v1.overlayfs/snapshots"


def _chain() -> list[Info]:
    return [Info(name=CHAIN[0], kind=Kind.COMMITTED), Info(name=CHAIN[1], kind=Kind.COMMITTED, parent=CHAIN[0]),
            Info(name=CHAIN[2], kind=Kind.COMMITTED, parent=CHAIN[1]),
            Info(name="c1", kind=Kind.ACTIVE, parent=CHAIN[2])]


def _overlay() -> dict[str, list[Mount]]:
    return {"c1": [Mount("overlay", "overlay", ["index=off", f"workdir={SNAP}/4/work", f"upperdir={SNAP}/4/fs",
                                                 f"lowerdir={SNAP}/3/fs:{SNAP}/2/fs:{SNAP}/1/fs"])]}


def test_chain_goes_base_to_active_with_the_mount_naming_lowerdirs_top_first() -> None:
    dot = snapshot_chain(_chain(), mounts=_overlay(), usage={"c1": Usage(8192, 3)}, highlight="c1",
                         whiteouts={CHAIN[2]: [Whiteout("etc/goodbye"), Whiteout("opt/data", opaque=True)]}).source
    ids = {name: f"snap{n}" for n, name in enumerate(sorted(i.name for i in _chain()))}
    assert f"{ids[CHAIN[0]]} -> {ids[CHAIN[1]]}" in dot and f"{ids[CHAIN[2]]} -> {ids['c1']}" in dot
    mount = f"mount_{ids['c1']}"
    for n, name in enumerate(reversed(CHAIN)):  # lowerdir[0] is the parent, lowerdir[2] the base layer
        assert f'{mount} -> {ids[name]} [label=" lowerdir[{n}]"' in dot
    assert "lowerdir[0] …/snapshots/3/fs" in dot and "upperdir …/snapshots/4/fs" in dot
    assert "workdir …/snapshots/4/work" in dot
    assert "8.0 KiB, 3 inodes" in dot and "<s>etc/goodbye (deleted)</s>" in dot and "<s>opt/data/ (opaque)</s>" in dot
    assert "border='3'" in dot and dot.count("border='3'") == 1  # only the highlighted one
    assert layer_dirs(_chain(), _overlay()) == {"c1": f"{SNAP}/4/fs", CHAIN[2]: f"{SNAP}/3/fs",
                                                CHAIN[1]: f"{SNAP}/2/fs", CHAIN[0]: f"{SNAP}/1/fs"}


def test_native_bind_mount_and_a_view_and_a_missing_parent() -> None:
    infos = [Info(name="v", kind=Kind.VIEW, parent=CHAIN[0]), Info(name="orphan", kind=Kind.ACTIVE, parent="gone")]
    mounts = {"v": [Mount("bind", "/r/native/snapshots/7", ["ro", "rbind"])]}
    assert overlay_mount(mounts["v"]) == overlay_mount([Mount("bind", "/r/native/snapshots/7", ["rbind", "ro"])])
    dot = snapshot_chain(infos, mounts=mounts).source
    assert "mount -t bind" in dot and "lowerdir[0] …/native/snapshots/7" in dot and "upperdir" not in dot
    assert 'label=gone' in dot and "style=dashed" in dot  # parents not in the list are drawn dashed
    assert overlay_mount([Mount("bind", "/x", ["rbind", "rw"])]).upperdir == "/x"  # type: ignore[union-attr]


def test_tree_text_like_ctr_snapshots_tree() -> None:
    text = snapshot_tree_text([*_chain(), Info(name="sibling", kind=Kind.ACTIVE, parent=CHAIN[1])])
    lines = text.splitlines()
    assert lines[0].startswith(CHAIN[0][:19]) and lines[0].endswith("COMMITTED")
    assert lines[1].startswith("└── " + CHAIN[1][:19])
    assert [ln.strip()[:7] for ln in lines[2:]] == ["├── sha", "│   └──", "└── sib"]


def test_whiteouts_from_a_sample_layer_tar() -> None:
    from pyctrd.images.samples.layers import LayerBuilder

    data = (LayerBuilder().dir("etc").file("etc/hello", b"x").whiteout("etc/goodbye")
            .opaque("opt/data").file("opt/data/a", b"a").tar())
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        names = tf.getnames()
    assert whiteouts_in_tar(names) == [Whiteout("etc/goodbye"), Whiteout("opt/data", opaque=True)]


@pytest.mark.requires_root
def test_scan_whiteouts_finds_overlay_markers(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    os.mknod(tmp_path / "etc" / "goodbye", 0o600 | 0o020000, os.makedev(0, 0))  # a 0:0 char device
    (tmp_path / "opt" / "data").mkdir(parents=True)
    os.setxattr(tmp_path / "opt" / "data", "trusted.overlay.opaque", b"y")
    (tmp_path / "etc" / "hello").write_text("hi")
    assert scan_whiteouts(tmp_path) == [Whiteout("etc/goodbye"), Whiteout("opt/data", opaque=True)]
    assert scan_whiteouts(tmp_path / "nope") == []


# -- the GC graph --------------------------------------------------------------------------------
M, C, L0, L1, LOST, HELD = (f"sha256:{hashlib.sha256(x.encode()).hexdigest()}"
                            for x in ("m", "c", "l0", "l1", "lost", "held"))
REF = "containerd.io/gc.ref."
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _blobs() -> list[Blob]:
    return [Blob(M, 600, labels={REF + "content.config": C, REF + "content.l.0": L0, REF + "content.l.1": L1}),
            Blob(C, 700, labels={REF + "snapshot.overlayfs": CHAIN[1]}), Blob(L0, 1000), Blob(L1, 200),
            Blob(LOST, 5), Blob(HELD, 6, labels={REF + "content": LOST})]


def _image() -> Image:
    return Image("r/layered:latest", Descriptor("application/vnd.oci.image.manifest.v1+json", M, 600))


def test_graph_edges_come_from_labels_and_mark_is_the_daemons() -> None:
    snaps = [Info(name=CHAIN[0], kind=Kind.COMMITTED, snapshotter="overlayfs"),
             Info(name=CHAIN[1], kind=Kind.COMMITTED, parent=CHAIN[0], snapshotter="overlayfs"),
             Info(name="stray", kind=Kind.COMMITTED, snapshotter="overlayfs")]
    g = gc_graph(_blobs(), [_image()], snapshots=snaps, now=NOW)
    edges = {(s.key[:9], d.key[:9], label) for s, ds in g.edges.items() for d, label in ds}
    assert ("r/layere", M[:9], "target") not in edges  # (key cut at 9: the image name is longer)
    assert {(M[:9], C[:9], "config"), (M[:9], L0[:9], "l.0"), (C[:9], CHAIN[1][:9], "snapshot"),
            (CHAIN[1][:9], CHAIN[0][:9], "parent")} <= edges
    assert [n.key for n in g.garbage()] == sorted([LOST, HELD, "stray"])
    assert g.mark() == mark(g.roots, g.refs)
    net = g.network()
    assert net.nodes[Node("image", "default", "r/layered:latest")]["root"] is True
    assert net.edges[Node("content", "default", M), Node("content", "default", C)]["label"] == "config"


def test_leases_hold_until_they_expire_and_flat_ones_hold_no_children() -> None:
    live = Lease("pull", labels={"containerd.io/gc.expire": "2024-05-01T13:00:00Z"})
    old = Lease("old", labels={"containerd.io/gc.expire": "2024-05-01T11:00:00Z"})
    g = gc_graph(_blobs(), [], leases=[(live, [Resource(HELD, "content")]), (old, [Resource(M, "content")])],
                 now=NOW)
    assert {n.key for n in g.garbage()} == {M, C, L0, L1, "old"}  # HELD holds LOST; the old lease holds nothing
    assert Node("lease", "default", "old") in g.expired
    flat = Lease("flat", labels={"containerd.io/gc.flat": "1"})
    g = gc_graph(_blobs(), [], leases={"x": []} | {}, now=NOW)
    assert Node("lease", "default", "x") in g.mark()
    g = gc_graph(_blobs(), [], leases=[(flat, [Resource(HELD, "content")])], now=NOW)
    assert LOST in {n.key for n in g.garbage()} and HELD not in {n.key for n in g.garbage()}


def test_containers_are_roots_holding_their_snapshot() -> None:
    snaps = [Info(name=CHAIN[0], kind=Kind.COMMITTED, snapshotter="overlayfs"),
             Info(name="c1", kind=Kind.ACTIVE, parent=CHAIN[0], snapshotter="overlayfs")]
    g = gc_graph([], [], snapshots=snaps, containers=[Container("c1", snapshotter="overlayfs", snapshot_key="c1")])
    assert g.garbage() == [] and Node("container", "default", "c1") in g.roots


def test_content_graph_colours_marked_green_garbage_red_roots_bold() -> None:
    dot = content_graph(_blobs(), [_image()], now=NOW).source
    assert dot.count("#c62828") == 2 and dot.count("style=\"filled,dashed\"") == 2  # LOST and HELD
    assert "penwidth=2.5" in dot and "· root" in dot
    assert "l.0" in dot and "label=target" in dot
    # a student's marking (here: nothing marked) colours everything as garbage
    assert content_graph(gc_graph(_blobs(), [_image()]), marked=set()).source.count("#c62828") == 7
    assert "#c62828" not in content_graph(_blobs(), [_image()], show_marks=False).source


# -- pull timelines -------------------------------------------------------------------------------
def test_pull_timeline_orders_blobs_and_draws_a_bar_each() -> None:
    now = [10.0]
    tl = PullTimeline(clock=lambda: now[0])
    script = [(10.0, "img", "resolving", 0, 0), (10.1, "img", "resolved", 0, 0),
              (10.2, f"manifest-{M}", "waiting", 0, 600), (10.3, f"manifest-{M}", "done", 600, 600),
              (10.4, f"layer-{L0}", "waiting", 0, 1000), (10.4, f"config-{C}", "waiting", 0, 700),
              (10.5, f"layer-{L0}", "downloading", 500, 1000), (10.6, f"config-{C}", "exists", 700, 700)]
    for when, ref, status, off, total in script:
        now[0] = when
        tl.add(Progress(ref, status, off, total))
    assert [b.kind for b in tl.blobs] == ["manifest", "layer", "config"] and not tl.done
    layer = tl.blobs[1]
    assert layer.fraction == 0.5 and layer.started_at == 10.5 and repr(layer).endswith("downloading 500/1000>")
    tl.add(Progress(f"layer-{L0}", "done", 1000, 1000), at=10.9)
    assert tl.done and tl.elapsed == pytest.approx(0.9) and tl.total_bytes == 1600  # "exists" fetched nothing
    svg = tl.svg()
    assert svg.count("<rect class='waiting'") == 3 and svg.count("<rect class='done'") == 2
    assert "900 ms" in svg
    text = tl.text(bar=4)
    assert text.splitlines()[2].startswith("layer-sha256:") and "|++++|" in text
    assert tl.summary() == "<PullTimeline img 3/3 blobs 1.6 KiB in 0.90s>"
    assert "width:100%" in tl.html()


def test_gc_text_shows_roots_with_what_they_keep_and_the_garbage() -> None:
    live = Lease("pull", labels={"containerd.io/gc.expire": "2024-05-01T13:00:00Z"})
    old = Lease("old", labels={"containerd.io/gc.expire": "2024-05-01T11:00:00Z"})
    snaps = [Info(name=CHAIN[0], kind=Kind.COMMITTED, snapshotter="overlayfs"),
             Info(name=CHAIN[1], kind=Kind.COMMITTED, parent=CHAIN[0], snapshotter="overlayfs")]
    g = gc_graph(_blobs()[:4], [_image()], snapshots=snaps, leases=[(old, [Resource(M, "content")])],
                 containers=[Container("c1", snapshotter="overlayfs", snapshot_key="gone")], now=NOW)
    lines = g.text().splitlines()
    assert lines[0] == "GC graph of namespace default: 9 nodes, 8 edges, 2 roots, 1 garbage"
    assert lines[1:8] == [
        "image r/layered:latest  [root]",
        f"└─ target -> content {M[:19]}…  600 B",
        f"   ├─ config -> content {C[:19]}…  700 B",
        f"   │  └─ snapshot -> snapshot/overlayfs {CHAIN[1][:19]}…  COMMITTED",
        f"   │     └─ parent -> snapshot/overlayfs {CHAIN[0][:19]}…  COMMITTED",
        f"   ├─ l.0 -> content {L0[:19]}…  1000 B",
        f"   └─ l.1 -> content {L1[:19]}…  200 B"]
    assert lines[8:] == ["container c1  [root]", "└─ rootfs -> snapshot/overlayfs gone  (not listed)",
                         "garbage (a collection would remove):", "  lease old  expired"]
    # a live lease holding what the image holds too: met again, said once
    g = gc_graph(_blobs(), [_image()], leases=[(live, [Resource(M, "content"), Resource(HELD, "content")])], now=NOW)
    text = g.text()
    assert f"holds -> content {M[:19]}…  600 B  (above)" in text and "0 garbage" in text and "would remove" not in text
    assert f"content -> content {LOST[:19]}…  5 B" in text
    # a student's marking (nothing) makes everything garbage; content_graph's text says the same
    assert content_graph(g, marked=set()).text() == g.text(marked=set())
    assert g.text(marked=set()).splitlines()[-1].startswith("  lease pull")
    from rich.console import Console
    console = Console(width=120, record=True)
    console.print(g)
    assert console.export_text().rstrip("\n") == text
