"""The REAL ``ctr`` pulls into pyctrd, and ``pyctr`` does the same: shapes as containerd's outputs.

The registry is a real docker-registry with the sample images pushed; the daemon is a real
pyctrd process; the snapshots land in its overlayfs root as containerd's do.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pyctrd.cmd.pyctr.units import bytes_iec
from pyctrd.core.images import chain_ids
from pyctrd.core.mount import Mount, temp_mount
from pyctrd.images.samples import SampleImage
from tests.fixtures.daemon import DaemonProcess
from tests.fixtures.registry import Registry

from .conftest import file_tree

pytestmark = [pytest.mark.requires_root, pytest.mark.needs_ctr]

HEX = r"[0-9a-f]{64}"
OVERLAY = "io.containerd.snapshotter.v1.overlayfs"


def _rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines()]


def _content_rows(text: str) -> list[tuple[str, str, frozenset[str]]]:
    """(digest, size, labels) of ``content ls`` (ctr prints labels in Go's random map order)."""
    rows = [line.split("\t") for line in text.splitlines()[1:]]
    return [(r[0], next(c for c in r[1:] if c), frozenset(r[-1].split(","))) for r in rows]


def check_pull_output(out: str, ref: str, s: SampleImage) -> None:
    """ctr's pull output: resolved ref, one done line per blob, elapsed/total, unpacking, done."""
    lines = re.sub(r"\x1b\[[0-9]*m", "", out).splitlines()  # ctr colours its bars, always
    assert re.fullmatch(rf"{re.escape(ref)}:\s+resolved\s+\|\++\|\s*", lines[0]), lines[0]
    keys = [f"manifest-{s.manifest.digest}", f"config-{s.config.digest}", *(f"layer-{x.digest}" for x in s.layers)]
    done = {m.group(1): m.group(2) for line in lines if (m := re.match(r"((?:manifest|config|layer)-sha256:"
                                                                       rf"{HEX}):\s+(done|exists)\s+\|\++\|", line))}
    assert sorted(done) == sorted(keys)
    assert any(re.match(r"elapsed: \d+\.\d ?s\s+total:\s+\S+( \S+)?\s+\(.*/s\)", line) for line in lines), out
    assert f"unpacking linux/amd64 {s.manifest.digest}..." in lines
    assert re.fullmatch(r"done: [0-9.]+(ms|s|µs)\t?", lines[-1]), lines[-1]


def test_ctr_content_fetch_and_images_pull(pyctrd: DaemonProcess, pushed: Registry,
                                          samples: dict[str, SampleImage], short_tmp: Path) -> None:
    busybox, layered = samples["busybox"], samples["layered"]
    fetched = pyctrd.ctr("content", "fetch", "--plain-http", pushed.ref("busybox")).stdout
    assert re.search(rf"layer-{busybox.layers[0].digest}:\s+done", fetched)
    # the fetch recorded the image but unpacked nothing
    assert pyctrd.ctr("snapshots", "ls").stdout.splitlines() == ["KEY PARENT KIND "]

    out = pyctrd.ctr("images", "pull", "--plain-http", pushed.ref("layered")).stdout
    check_pull_output(out, pushed.ref("layered"), layered)
    chain = chain_ids(layered.diff_ids)

    rows = _rows(pyctrd.ctr("images", "ls").stdout)
    assert rows[0] == ["REF", "TYPE", "DIGEST", "SIZE", "PLATFORMS", "LABELS"]
    assert [r[0] for r in rows[1:]] == [pushed.ref("busybox"), pushed.ref("layered")]
    size = bytes_iec(sum(d.size for d in (layered.manifest, layered.config, *layered.layers))).split()
    assert rows[2][1:] == ["application/vnd.oci.image.manifest.v1+json", layered.manifest.digest, *size,
                           "linux/amd64", "-"]
    assert pyctrd.pyctr("images", "ls").stdout == pyctrd.ctr("images", "ls").stdout
    check = _rows(pyctrd.ctr("images", "check").stdout)
    assert check[0] == ["REF", "TYPE", "DIGEST", "STATUS", "SIZE", "UNPACKED"]
    # busybox was only fetched, but its one layer is layered's first: its chain ID exists
    assert check[1][3:5] + check[1][-1:] == ["complete", "(2/2)", "true"]
    assert check[2][3:5] + check[2][-1:] == ["complete", "(4/4)", "true"]
    assert pyctrd.pyctr("images", "check").stdout == pyctrd.ctr("images", "check").stdout

    content = pyctrd.ctr("content", "ls").stdout
    assert f"containerd.io/gc.ref.snapshot.overlayfs={chain[-1]}" in content
    for layer, diff_id in zip(layered.layers, layered.diff_ids, strict=True):
        assert re.search(rf"{layer.digest}\s.*containerd.io/uncompressed={diff_id}", content)
    assert _content_rows(content) == _content_rows(pyctrd.pyctr("content", "ls").stdout)

    ls = pyctrd.ctr("snapshots", "ls").stdout
    assert _rows(ls) == [["KEY", "PARENT", "KIND"], *sorted([[chain[0], "Committed"], [chain[1], chain[0], "Committed"],
                                                            [chain[2], chain[1], "Committed"]])]
    assert pyctrd.pyctr("snapshots", "ls").stdout == ls
    tree = pyctrd.ctr("snapshots", "tree").stdout
    assert tree == f" {chain[0]}\n  \\_ {chain[1]}\n    \\_ {chain[2]}\n"
    assert pyctrd.pyctr("snapshots", "tree").stdout == tree
    # containerd's layout: snapshots/<id>/fs, one per committed layer
    fs_dirs = sorted((pyctrd.root / OVERLAY / "snapshots").glob("*/fs"))
    assert len(fs_dirs) == 3 and all(d.parent.name.isdigit() for d in fs_dirs)

    # a container's view: prepare on the top layer, mount what Mounts says
    pyctrd.ctr("snapshots", "prepare", "c1", chain[2])
    mounts = pyctrd.ctr("snapshots", "mounts", "/TARGET", "c1").stdout
    assert pyctrd.pyctr("snapshots", "mounts", "/TARGET", "c1").stdout == mounts
    m = re.fullmatch(r"mount -t overlay overlay /TARGET -o (\S+)\n", mounts)
    assert m, mounts
    opts = m.group(1).split(",")
    assert [o.split("=")[0] for o in opts if "dir=" in o] == ["workdir", "upperdir", "lowerdir"]
    assert len(opts[-1].split(":")) == 3  # lowerdir: the three layers, top first
    with temp_mount([Mount("overlay", "overlay", opts)], base=str(short_tmp)) as root:
        files = file_tree(Path(root))
        assert (root / "etc/hello").read_text() == "hello from layer2\n"
        assert "etc/goodbye" not in files  # the whiteout was applied
        assert sorted(p for p in files if p.startswith("opt/data/")) == ["opt/data/a", "opt/data/b"]
        assert (root / "opt/data/a").read_text() == "a from layer2\n"  # opaque: layer 1's stale is gone
        assert files["bin/busybox"].startswith("file 755")
    info = pyctrd.ctr("snapshots", "info", "c1").stdout
    assert f'"Parent": "{chain[2]}"' in info and '"Kind": "Active"' in info
    assert '"containerd.io/gc.root"' in info

    pyctrd.ctr("snapshots", "rm", "c1")
    pyctrd.ctr("images", "rm", "--sync", pushed.ref("layered"), pushed.ref("busybox"))
    assert pyctrd.ctr("images", "ls", "-q").stdout == ""
    assert pyctrd.ctr("snapshots", "ls").stdout.splitlines() == ["KEY PARENT KIND "]
    assert pyctrd.ctr("content", "ls", "-q").stdout == ""
    assert not list((pyctrd.root / OVERLAY / "snapshots").iterdir())  # the directories went too


def test_pyctr_images_pull_into_overlayfs(pyctrd: DaemonProcess, pushed: Registry,
                                          samples: dict[str, SampleImage]) -> None:
    layered = samples["layered"]
    out = pyctrd.pyctr("images", "pull", "--plain-http", pushed.ref("layered")).stdout
    check_pull_output(out, pushed.ref("layered"), layered)
    for blob in (layered.manifest, layered.config, *layered.layers):
        kind = "manifest" if blob is layered.manifest else "config" if blob is layered.config else "layer"
        assert f"{kind}-{blob.digest}: served by {pushed.host}" in out
    chain = chain_ids(layered.diff_ids)
    assert _rows(pyctrd.pyctr("snapshots", "ls").stdout)[1:] == sorted(
        [[chain[0], "Committed"], [chain[1], chain[0], "Committed"], [chain[2], chain[1], "Committed"]])
    snaps = pyctrd.root / OVERLAY / "snapshots"
    assert sorted(p.name for p in snaps.iterdir()) == ["1", "2", "3"]
    assert sorted(p.name for p in (snaps / "1").iterdir()) == ["fs", "work"]  # as containerd leaves them
    assert (snaps / "3" / "fs" / "etc" / "goodbye").is_char_device()  # overlay's own whiteout
    # pulling again finds everything: all blobs exist, no layer is applied again
    again = pyctrd.pyctr("images", "pull", "--plain-http", pushed.ref("layered")).stdout
    assert re.search(rf"layer-{layered.layers[0].digest}:\s+exists", again)
    assert sorted(p.name for p in snaps.iterdir()) == ["1", "2", "3"]


def test_pyctr_snapshots_commands_match_ctr(pyctrd: DaemonProcess) -> None:
    def both(*args: str) -> str:
        ours = pyctrd.pyctr("snapshots", "--snapshotter", "native", *args).stdout
        theirs = pyctrd.ctr("snapshots", "--snapshotter", "native", *args).stdout
        assert ours == theirs, args
        return ours

    pyctrd.pyctr("snapshots", "--snapshotter", "native", "prepare", "a", "")
    mounts = json.loads(pyctrd.pyctr("snapshots", "--snapshotter", "native", "prepare", "--mounts", "b").stdout)
    assert [m["Type"] for m in mounts] == ["bind"] and mounts[0]["Options"] == ["rbind", "rw"]
    pyctrd.ctr("snapshots", "--snapshotter", "native", "commit", "A", "a")
    pyctrd.pyctr("snapshots", "--snapshotter", "native", "view", "v", "A")
    assert _rows(both("ls")) == [["KEY", "PARENT", "KIND"], ["A", "Committed"], ["b", "Active"], ["v", "A", "View"]]
    assert both("tree") == " A\n  \\_ v\n b\n"
    assert _rows(both("usage", "A"))[1][1:] == ["4.0", "KiB", "1"]
    both("usage", "-b")
    info = json.loads(both("info", "A"))
    assert (info["Kind"], info["Name"], sorted(info["Labels"])) == ("Committed", "A", ["containerd.io/gc.root"])
    b_root = json.loads(both("info", "b"))["Labels"]["containerd.io/gc.root"]
    root = f"containerd.io/gc.root={b_root}"
    labelled = pyctrd.pyctr("snapshots", "--snapshotter", "native", "label", "b", "team=red").stdout
    assert set(labelled.strip().split(",")) == {root, "team=red"}
    assert set(pyctrd.ctr("snapshots", "--snapshotter", "native", "label", "b").stdout.strip().split(",")) == {
        root, "team=red"}  # ctr sees what pyctr set (in Go's map order)
    assert pyctrd.pyctr("snapshots", "--snapshotter", "native", "label", "b", "team=").stdout.count("team") == 0
    pyctrd.pyctr("snapshots", "--snapshotter", "native", "rm", "v", "b")
    assert _rows(both("ls"))[1:] == [["A", "Committed"]]
    failed = pyctrd.pyctr("snapshots", "--snapshotter", "native", "rm", "nope", check=False)
    assert failed.returncode == 1 and "not found" in failed.stderr
