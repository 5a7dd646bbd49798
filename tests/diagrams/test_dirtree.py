"""Directory trees: collapsing, special files, change marks, renderings."""
from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from pyctrd.diagrams import dir_tree, scan


def _make(tmp: Path) -> Path:
    top = tmp / "root"
    (top / "io.containerd.content.v1.content" / "blobs" / "sha256").mkdir(parents=True)
    for i in range(40):
        (top / "io.containerd.content.v1.content" / "blobs" / "sha256" / f"{i:064x}").write_bytes(b"x" * 100)
    (top / "io.containerd.content.v1.content" / "ingest").mkdir()
    deep = top / "io.containerd.snapshotter.v1.overlayfs" / "snapshots" / "1" / "fs" / "bin"
    deep.mkdir(parents=True)
    (deep / "sh").write_text("#!")
    (top / "meta.db").write_bytes(b"\0" * 2048)
    return top


def test_big_directories_are_counted_not_listed(tmp_path: Path) -> None:
    text = dir_tree(_make(tmp_path), max_entries=12).text()
    assert "… 40 more  (40 files, 3.9 KiB)" in text
    assert "0" * 64 not in text
    assert "meta.db  2.0 KiB" in text


def test_below_max_depth_directories_show_a_count(tmp_path: Path) -> None:
    top = _make(tmp_path)
    text = dir_tree(top, max_depth=4).text()
    assert "fs  … 1 entries" in text and "── sh  " not in text
    assert "sh  2 B" in dir_tree(top, max_depth=6).text()


def test_sockets_fifos_and_symlinks_are_marked(short_tmp: Path) -> None:
    (short_tmp / "fifo").parent.mkdir(exist_ok=True)
    os.mkfifo(short_tmp / "fifo")
    os.symlink("/nowhere", short_tmp / "link")
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(short_tmp / "sock"))
    try:
        text = dir_tree(short_tmp).text()
    finally:
        s.close()
    assert "fifo  [fifo]" in text and "link  -> /nowhere" in text and "sock  [socket]" in text
    assert {e.kind for e in scan(short_tmp).entries.values()} == {"dir", "fifo", "symlink", "socket"}


def test_changes_since_previous_are_marked_even_inside_collapsed_dirs(tmp_path: Path) -> None:
    top = _make(tmp_path)
    before = scan(top)
    blobs = top / "io.containerd.content.v1.content" / "blobs" / "sha256"
    (blobs / ("f" * 64)).write_bytes(b"new")
    (top / "meta.db").write_bytes(b"\1" * 4096)
    (top / "io.containerd.content.v1.content" / "ingest").rmdir()
    tree = dir_tree(top, previous=before)
    assert repr(tree.changes) == "<Changes +1 -1 ~1>"
    text = tree.text()
    assert f"+ {'f' * 64}  3 B" in text  # the new blob stands out among the collapsed 40
    assert "… 40 more" in text
    assert "- ingest" in text and "~ meta.db  4.0 KiB" in text
    assert text.endswith("(+ 1 added, - 1 removed, ~ 1 changed)")
    assert "pyctrd-added" in tree.html() and "line-through" in tree.html()
    assert not dir_tree(top, previous=scan(top)).changes


def test_digraph_and_rich_renderings_have_the_same_rows(tmp_path: Path) -> None:
    from rich.console import Console

    top = _make(tmp_path)
    tree = dir_tree(top, title="root")
    src = tree.digraph().source
    assert '"io.containerd.content.v1.content/blobs"' in src and "blobs/" in src
    assert '"/" -> "io.containerd.content.v1.content"' in src
    console = Console(width=120, record=True)
    console.print(tree)
    out = console.export_text()
    assert "ingest" in out and "… 40 more" in out
    assert repr(tree) == f"<DirTree {top.resolve()} 49 entries <Changes +0 -0 ~0>>"
    assert repr(tree.snapshot) == f"<DirSnapshot {top.resolve()} 49 entries>"


@pytest.mark.requires_root
def test_mount_points_are_marked_and_not_entered(short_tmp: Path) -> None:
    mp = short_tmp / "state" / "rootfs"
    mp.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(mp)], check=True)
    try:
        (mp / "inside").write_text("x")
        text = dir_tree(short_tmp / "state").text()
    finally:
        subprocess.run(["umount", str(mp)], check=True)
    assert "rootfs  [mount tmpfs, 1 entries]" in text and "inside" not in text
