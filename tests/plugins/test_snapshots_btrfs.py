"""The btrfs snapshotter on a loop-mounted btrfs image: layout, mounts, plugin status."""
from __future__ import annotations

import dataclasses
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyctrd.core.mount import Mount, lookup, unmount_all
from pyctrd.core.snapshots import Kind
from pyctrd.plugin import InitContext, Plugin
from pyctrd.plugins.snapshots.btrfs import BtrfsSnapshotter, plugin
from pyctrd.plugins.snapshots.btrfs.subvolume import subvolume_id

pytestmark = [pytest.mark.requires_root,
              pytest.mark.skipif(shutil.which("mkfs.btrfs") is None, reason="needs btrfs-progs")]


@pytest.fixture
def btrfs_dir(short_tmp: Path) -> Iterator[Path]:
    img, fs = short_tmp / "btrfs.img", short_tmp / "fs"
    fs.mkdir()
    with open(img, "wb") as f:
        f.truncate(160 << 20)
    subprocess.run(["mkfs.btrfs", "-q", str(img)], check=True, capture_output=True)
    subprocess.run(["mount", "-o", "loop", str(img), str(fs)], check=True)
    try:
        yield fs
    finally:
        unmount_all(fs)


def test_layout_and_mounts_like_containerd(btrfs_dir: Path) -> None:
    root = btrfs_dir / "io.containerd.snapshotter.v1.btrfs"
    sn = BtrfsSnapshotter(root)
    device = lookup(btrfs_dir).source
    assert device.startswith("/dev/loop") and repr(sn) == f"<BtrfsSnapshotter {root} on {device}>"
    first = sn.prepare("a")
    assert first == [Mount("btrfs", device, [f"subvolid={subvolume_id(root / 'active/1')}"])]
    sn.commit("A", "a")
    assert sorted(p.name for p in root.iterdir() if not p.name.endswith(("-wal", "-shm"))) == [
        "active", "metadata.db", "snapshots", "view"]  # -wal/-shm: SQLite's log while open (MetaStore)
    assert [p.name for p in (root / "active").iterdir()] == []  # the active subvolume went away
    view = sn.view("v", "A")
    assert view == [Mount("btrfs", device, [f"subvolid={subvolume_id(root / 'view/2')}", "ro"])]
    assert subvolume_id(root / "view/2") != subvolume_id(root / "snapshots/1")
    sn.remove("v")
    assert list((root / "view").iterdir()) == []
    assert sn.stat("A").kind is Kind.COMMITTED
    sn.close()


def test_plugin_is_ok_on_btrfs(btrfs_dir: Path) -> None:
    reg = plugin.REGISTRATION
    root = btrfs_dir / reg.uri
    p = Plugin.run(reg, InitContext(reg, root=root, state=btrfs_dir / "state", config=dataclasses.replace(reg.config)))
    assert (p.status, p.meta.exports) == ("ok", {"root": str(root)})
    assert isinstance(p.instance, BtrfsSnapshotter)
    p.instance.close()
