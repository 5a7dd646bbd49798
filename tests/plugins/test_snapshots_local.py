"""What only native and overlayfs promise: their directory layout, mount shapes and copy fidelity."""
from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import struct
from pathlib import Path

import pytest

from pyctrd.core.mount import Mount, temp_mount
from pyctrd.core.snapshots import Info, Kind, Snapshotter
from pyctrd.errdefs import NotFound
from pyctrd.plugins.snapshots.native import NativeSnapshotter
from pyctrd.plugins.snapshots.native.copy import copy_tree
from pyctrd.plugins.snapshots.overlayfs import UPPERDIR_LABEL, OverlaySnapshotter
from pyctrd.plugins.snapshots.overlayfs.support import supports_index


def listing(root: Path) -> list[str]:
    """Paths under root with a trailing / on directories, like `tree` shows them."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        out += [f"{rel / d}/" for d in dirnames] + [str(rel / f) for f in filenames]
    return sorted(p.removeprefix("./") for p in out)


def image(sn: Snapshotter) -> None:
    """Two committed layers, l1 <- l2, created without mounting."""
    sn.prepare("l1-a")
    sn.commit("l1", "l1-a")
    sn.prepare("l2-a", "l1")
    sn.commit("l2", "l2-a")


# -- overlayfs -----------------------------------------------------------------------------

def test_overlay_mount_shapes_match_containerd(tmp_path: Path) -> None:
    sn = OverlaySnapshotter(tmp_path, index_off=True)
    assert repr(sn) == f"<OverlaySnapshotter {tmp_path}>"
    s = f"{tmp_path}/snapshots"
    assert sn.prepare("a") == [Mount("bind", f"{s}/1/fs", ["rw", "rbind"])]
    assert sn.view("v0") == [Mount("bind", f"{s}/2/fs", ["ro", "rbind"])]
    image(sn)  # l1 = 3, l2 = 4
    # reference/outputs/snapshots-mounts-c1.txt: index=off, workdir, upperdir, lowerdir (nearest first)
    c1 = [Mount("overlay", "overlay", [
        "index=off", f"workdir={s}/5/work", f"upperdir={s}/5/fs", f"lowerdir={s}/4/fs:{s}/3/fs"])]
    assert sn.prepare("c1", "l2") == c1
    assert sn.view("v1", "l1") == [Mount("bind", f"{s}/3/fs", ["ro", "rbind"])]
    assert sn.view("v2", "l2") == [Mount("overlay", "overlay", ["index=off", f"lowerdir={s}/4/fs:{s}/3/fs"])]
    assert sn.mounts("c1") == c1
    assert OverlaySnapshotter(tmp_path / "other", index_off=False).prepare("x", "")[0].options == ["rw", "rbind"]
    sn.close()


def test_overlay_index_option_follows_the_kernel(tmp_path: Path) -> None:
    sn = OverlaySnapshotter(tmp_path)
    image(sn)
    options = sn.prepare("c", "l2")[0].options
    assert ("index=off" in options) == supports_index() == os.path.exists("/sys/module/overlay/parameters/index")
    sn.close()


def test_overlay_layout_like_containerd(tmp_path: Path) -> None:
    root = tmp_path / "io.containerd.snapshotter.v1.overlayfs"
    sn = OverlaySnapshotter(root)
    assert listing(root) == ["snapshots/"]  # metadata.db appears on first use
    image(sn)
    sn.prepare("c1", "l2")
    sn.view("v", "l2")
    containerds = ["metadata.db", "snapshots/", "snapshots/1/", "snapshots/1/fs/", "snapshots/1/work/",
                   "snapshots/2/", "snapshots/2/fs/", "snapshots/2/work/", "snapshots/3/",
                   "snapshots/3/fs/", "snapshots/3/work/", "snapshots/4/", "snapshots/4/fs/"]
    # while open, SQLite's write-ahead log sits beside the database (see MetaStore)
    assert listing(root) == sorted([*containerds, "metadata.db-shm", "metadata.db-wal"])
    modes = {p: stat.S_IMODE(os.stat(root / p).st_mode) for p in ("", "snapshots", "snapshots/3/fs",
                                                                 "snapshots/3/work")}
    assert modes == {"": 0o700, "snapshots": 0o700, "snapshots/3/fs": 0o755, "snapshots/3/work": 0o711}
    sn.close()
    assert listing(root) == containerds


def test_overlay_upperdir_label(tmp_path: Path) -> None:
    sn = OverlaySnapshotter(tmp_path, upperdir_label=True)
    sn.prepare("a", labels={"x": "1"})
    upper = f"{tmp_path}/snapshots/1/fs"
    assert sn.stat("a").labels == {"x": "1", UPPERDIR_LABEL: upper}
    assert sn.update(Info(name="a", labels={"y": "2"})).labels == {"y": "2", UPPERDIR_LABEL: upper}
    assert [i.labels[UPPERDIR_LABEL] for i in sn.walk()] == [upper]
    sn.close()
    plain = OverlaySnapshotter(tmp_path)
    assert plain.stat("a").labels == {"y": "2"}  # computed, never stored
    plain.close()


def test_overlay_async_remove_leaves_directories_for_cleanup(tmp_path: Path) -> None:
    sn = OverlaySnapshotter(tmp_path, async_remove=True)
    sn.prepare("a")
    sn.remove("a")
    assert os.listdir(tmp_path / "snapshots") == ["1"]  # the record is gone, the files not yet
    assert sn.prepare("a") == [Mount("bind", f"{tmp_path}/snapshots/2/fs", ["rw", "rbind"])]
    sn.cleanup()
    assert os.listdir(tmp_path / "snapshots") == ["2"]
    sn.close()


def test_overlay_sync_remove_sweeps(tmp_path: Path) -> None:
    sn = OverlaySnapshotter(tmp_path)
    image(sn)
    (tmp_path / "snapshots" / "99").mkdir()  # an orphan, e.g. from a crash
    sn.prepare("c", "l2")
    sn.remove("c")
    assert sorted(os.listdir(tmp_path / "snapshots")) == ["1", "2"]
    sn.close()


def test_overlay_usage_is_cached_at_commit(tmp_path: Path) -> None:
    sn = OverlaySnapshotter(tmp_path)
    sn.prepare("a")
    (tmp_path / "snapshots/1/fs/f").write_bytes(b"x" * 5000)
    before = sn.usage("a")
    sn.commit("A", "a")
    (tmp_path / "snapshots/1/fs/g").write_bytes(b"y" * 5000)  # behind the snapshotter's back
    assert sn.usage("A") == before and before.inodes == 2
    sn.close()


# -- native ---------------------------------------------------------------------------------

def test_native_mount_shapes_and_layout(tmp_path: Path) -> None:
    root = tmp_path / "io.containerd.snapshotter.v1.native"
    sn = NativeSnapshotter(root)
    assert repr(sn) == f"<NativeSnapshotter {root}>"
    assert listing(root) == ["snapshots/"]  # as reference/outputs/tree-root-deep.txt shows it
    s = f"{root}/snapshots"
    image(sn)
    assert sn.prepare("c1", "l2") == [Mount("bind", f"{s}/3", ["rbind", "rw"])]
    assert sn.view("v", "l2") == [Mount("bind", f"{s}/2", ["rbind", "ro"])]  # the parent's own dir
    assert sn.view("v0") == [Mount("bind", f"{s}/5", ["rbind", "ro"])]
    assert sorted(os.listdir(s)) == ["1", "2", "3", "5"]  # the view of l2 owns no directory
    sn.remove("c1")
    sn.remove("v")
    assert sorted(os.listdir(s)) == ["1", "2", "5"]  # removed at once, no rm-* left
    sn.close()


def test_crash_leftovers_never_block_new_snapshots(tmp_path: Path) -> None:
    for cls in (NativeSnapshotter, OverlaySnapshotter):
        root = tmp_path / cls.__name__
        (root / "snapshots" / "1").mkdir(parents=True)
        (root / "snapshots" / "1" / "junk").write_text("from a crash before the record committed")
        sn = cls(root)
        sn.prepare("a")
        assert "junk" not in listing(root / "snapshots" / "1")
        sn.close()


def test_reopening_finishes_interrupted_creates_and_removes(tmp_path: Path) -> None:
    sn = NativeSnapshotter(tmp_path)
    image(sn)  # l1 = 1, l2 = 2
    sn.prepare("gone")  # 3
    sn.close()
    s = tmp_path / "snapshots"
    os.rename(s / "2", s / "rm-2")  # a remove of l2 that crashed before its commit
    os.rename(s / "3", s / "rm-3")
    with sqlite3.connect(tmp_path / "metadata.db") as db:
        db.execute("DELETE FROM snapshots WHERE name = 'gone'")  # ... and one that committed
    db.close()
    (s / "new-abc").mkdir()  # a create that crashed half-way
    again = NativeSnapshotter(tmp_path)
    assert sorted(os.listdir(s)) == ["1", "2"]
    assert again.prepare("x", "l2") == [Mount("bind", f"{s}/4", ["rbind", "rw"])]  # l2 is whole again
    again.close()


def test_failed_copy_leaves_no_record_and_no_directory(tmp_path: Path) -> None:
    sn = NativeSnapshotter(tmp_path)
    image(sn)
    shutil.rmtree(tmp_path / "snapshots" / "2")  # l2's files vanish behind our back
    with pytest.raises(NotFound):
        sn.prepare("c", "l2")
    with pytest.raises(NotFound):
        sn.stat("c")
    assert sorted(os.listdir(tmp_path / "snapshots")) == ["1"]
    sn.close()


@pytest.mark.requires_root
def test_copy_tree_keeps_everything(short_tmp: Path) -> None:
    src, dst = short_tmp / "src", short_tmp / "dst"
    (src / "dir").mkdir(parents=True)
    (src / "dir" / "file").write_bytes(b"data")
    os.chown(src / "dir" / "file", 1000, 1001)
    os.chmod(src / "dir" / "file", 0o4755)  # after chown, which clears setuid
    os.setxattr(src / "dir" / "file", "trusted.pyctrd", b"kept")
    os.setxattr(src / "dir" / "file", "user.pyctrd", b"too")
    cap = struct.pack("<5I", 0x02000001, 1 << 10, 0, 0, 0)  # vfs_cap_data v2: cap_net_bind_service
    os.setxattr(src / "dir" / "file", "security.capability", cap)  # chown would clear it
    os.link(src / "dir" / "file", src / "hard")
    os.symlink("dir/file", src / "sym")
    os.lchown(src / "sym", 1002, 1002)
    os.mkfifo(src / "fifo")
    os.mknod(src / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.chmod(src / "dir", 0o750)
    os.utime(src / "dir", ns=(1_000_000_000, 2_000_000_000))
    copy_tree(src, dst)
    f = os.lstat(dst / "dir" / "file")
    assert (stat.S_IMODE(f.st_mode), f.st_uid, f.st_gid) == (0o4755, 1000, 1001)
    assert os.getxattr(dst / "dir" / "file", "trusted.pyctrd") == b"kept"
    assert os.getxattr(dst / "dir" / "file", "user.pyctrd") == b"too"
    assert os.getxattr(dst / "dir" / "file", "security.capability") == cap
    assert os.lstat(dst / "hard").st_ino == f.st_ino and f.st_nlink == 2
    assert os.readlink(dst / "sym") == "dir/file" and os.lstat(dst / "sym").st_uid == 1002
    assert stat.S_ISFIFO(os.lstat(dst / "fifo").st_mode)
    null = os.lstat(dst / "null")
    assert stat.S_ISCHR(null.st_mode) and null.st_rdev == os.makedev(1, 3)
    d = os.lstat(dst / "dir")
    assert (stat.S_IMODE(d.st_mode), d.st_mtime_ns) == (0o750, 2_000_000_000)


@pytest.mark.requires_root
def test_native_child_is_an_independent_copy(short_tmp: Path) -> None:
    sn = NativeSnapshotter(short_tmp / "root")
    with temp_mount(sn.prepare("a"), base=str(short_tmp)) as t:
        (t / "f").write_text("parent")
        os.chown(t / "f", 1234, 1234)
    sn.commit("A", "a")
    with temp_mount(sn.prepare("b", "A"), base=str(short_tmp)) as t:
        assert (t / "f").stat().st_uid == 1234
        (t / "f").write_text("child")
    assert (short_tmp / "root/snapshots/1/f").read_text() == "parent"
    assert sn.stat("b").kind is Kind.ACTIVE
    sn.close()
