"""One image's or one container's layer chain: from records (pure) and from a real daemon."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from pyctrd.core.mount import Mount
from pyctrd.core.snapshots import Info, Kind, Usage
from pyctrd.diagrams import (
    Whiteout,
    layer_chain,
    read_container_chain,
    read_image_chain,
    select_chain,
    snapshot_chain,
)
from pyctrd.errdefs import FailedPrecondition, NotFound
from pyctrd.lab import Lab

from .test_snapshots_gc_pull import CHAIN, SNAP, D, _chain, _overlay


def _walk() -> list[Info]:
    """The snapshotter's records: our chain, a container on it, and unrelated snapshots."""
    return [*_chain(), Info(name="other", kind=Kind.COMMITTED),
            Info(name="c2", kind=Kind.ACTIVE, parent="other"), Info(name="v", kind=Kind.VIEW, parent=CHAIN[1])]


def test_select_chain_and_snapshot_chain_draw_one_chain_only() -> None:
    assert [i.name for i in select_chain(_walk(), "c1")] == [*CHAIN, "c1"]
    assert select_chain(_walk(), "nope") == []
    mounts = {**_overlay(), "c2": [Mount("bind", "/x", ["rw"])]}
    dot = snapshot_chain(_walk(), mounts=mounts, chain="c1")
    assert dot.source.count("tooltip=") == 4 and "other" not in dot.source and "mount -t bind" not in dot.source
    assert "lowerdir[2]" in dot.source
    assert dot.text().splitlines()[-1].strip() == "└── c1  ACTIVE"  # snapshot_tree_text of the chain
    assert "other" in snapshot_chain(_walk()).source  # without chain=: everything, as before


def test_layer_chain_text_stack_mount_sizes_and_whiteouts() -> None:
    usage = {CHAIN[0]: Usage(1 << 20, 40), CHAIN[2]: Usage(2048, 3), "c1": Usage(4096, 2)}
    wh = {CHAIN[2]: [Whiteout("etc/goodbye"), Whiteout("opt/data", opaque=True)], "c1": [Whiteout("etc/hello")]}
    chain = layer_chain(_walk(), "c1", subject="container c1", chain=CHAIN, diff_ids=D, mounts=_overlay()["c1"],
                        usage=usage, whiteouts=wh)
    assert repr(chain) == "<LayerChain container c1 overlayfs: 3 committed + ACTIVE c1>"
    assert [x.role for x in chain.layers] == ["lowerdir[2]", "lowerdir[1]", "lowerdir[0]", "upperdir"]
    lines = chain.text().splitlines()
    assert lines[0] == "container c1 on overlayfs: 3 committed + ACTIVE c1"
    assert lines[1].split() == ["c1", "ACTIVE", "4.0", "KiB", "2", "inodes", "upperdir", "…/snapshots/4/fs"]
    assert lines[2] == "      whiteouts: etc/hello (deleted)"
    assert lines[3].split()[1:] == ["COMMITTED", "2.0", "KiB", "3", "inodes", "lowerdir[0]", "…/snapshots/3/fs"]
    assert lines[4] == f"      diff ID {D[2][:19]}…" and lines[5] == "      whiteouts: etc/goodbye (deleted), opt/data/ (opaque)"
    assert lines[6].split()[1:4] == ["COMMITTED", "-", "lowerdir[1]"]  # no usage given for it
    assert lines[-6:] == ["mount -t overlay overlay", f"  lowerdir[0] {SNAP}/3/fs", f"  lowerdir[1] {SNAP}/2/fs",
                          f"  lowerdir[2] {SNAP}/1/fs", f"  upperdir    {SNAP}/4/fs", f"  workdir     {SNAP}/4/work"]
    dot = chain.digraph()
    assert dot.text() == chain.text() and "border='3'" in dot.source and "other" not in dot.source
    assert "<s>etc/goodbye (deleted)</s>" in dot.source and "1.0 MiB, 40 inodes" in dot.source
    assert chain._repr_mimebundle_(include=["text/plain"])["text/plain"] == chain.text()


def test_an_image_chain_with_a_layer_not_unpacked() -> None:
    infos = [Info(name=CHAIN[0], kind=Kind.COMMITTED), Info(name=CHAIN[1], kind=Kind.COMMITTED, parent=CHAIN[0])]
    chain = layer_chain(infos, CHAIN[2], subject="image r/x:1", chain=CHAIN, diff_ids=D)
    assert repr(chain) == "<LayerChain image r/x:1 overlayfs: 2 committed, 1 not unpacked>"
    assert chain.text().splitlines()[1] == f"  {CHAIN[2][:19]}…    not unpacked in overlayfs"
    assert chain.layers[2].parent == CHAIN[1] and chain.overlay is None and "mount -t" not in chain.text()


# -- a real daemon: the sample image `layered` and a container on it ------------------------------
@pytest.fixture(scope="module")
def layered() -> Iterator[tuple[Lab, str]]:
    lab = Lab.start()
    try:
        ref = f"{lab.registry_with_samples()}/layered:latest"
        lab.client("d-chain").pull(ref)
        yield lab, ref
    finally:
        lab.destroy()


@pytest.mark.requires_root
def test_a_real_containers_chain(layered: tuple[Lab, str]) -> None:
    lab, ref = layered
    c = lab.client("d-chain")
    c.new_container("c1", ref, args=["true"])
    try:
        chain = read_container_chain(c, "c1")
        assert [x.kind for x in chain.layers] == [Kind.COMMITTED] * 3 + [Kind.ACTIVE]
        assert chain.layers[-1].name == "c1" and chain.subject == f"container c1 (image {ref})"
        om = chain.overlay
        assert om is not None and om.lowerdirs == tuple(x.directory for x in reversed(chain.layers[:-1]))
        assert chain.layers[-1].directory == om.upperdir and om.workdir
        assert all(x.usage is not None and x.usage.inodes > 0 for x in chain.layers)
        assert chain.layers[0].diff_id == chain.layers[0].name  # the base layer's chain ID is its diff ID
        assert [str(w) for w in chain.layers[2].whiteouts] == ["etc/goodbye (deleted)", "opt/data/ (opaque)"]
        text = chain.text()
        assert f"  lowerdir[2] {om.lowerdirs[2]}" in text.splitlines() and "whiteouts: etc/goodbye" in text
        # the image's chain: the same committed layers; with active=c1 the same mount on top
        img = read_image_chain(c, ref)
        assert [x.name for x in img.layers] == [x.name for x in chain.layers[:-1]] and img.mounts == []
        assert img.on_top == ["c1 (ACTIVE)"] and "on top of it: c1 (ACTIVE)" in img.text()
        # without a mount the whiteouts come from the layer tars
        assert [str(w) for w in img.layers[2].whiteouts] == ["etc/goodbye (deleted)", "opt/data/ (opaque)"]
        assert read_image_chain(c, ref, active="c1").overlay == om
        with pytest.raises(FailedPrecondition):
            read_image_chain(c, ref, active=chain.layers[1].name)
    finally:
        c.containers.delete("c1", snapshot_cleanup=True)
    with pytest.raises(NotFound):
        read_container_chain(c, "c1")
    c.containers.create("bare", spec={"ociVersion": "1.0.2", "root": {"path": "/"}})
    try:
        with pytest.raises(FailedPrecondition, match="no snapshot"):
            read_container_chain(c, "bare")
    finally:
        c.containers.delete("bare")
