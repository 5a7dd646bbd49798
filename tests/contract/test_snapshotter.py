"""The snapshotter contract (containerd's snapshots/testsuite, in pytest).

Every implementation of :class:`pyctrd.core.snapshots.Snapshotter` runs through these cases.
To add one, put a factory in :data:`FACTORIES`: ``factory(tmp_dir) -> (snapshotter, cleanup)``.
Calling a factory again on the same ``tmp_dir`` must open the same data (a daemon restart).

Each case gets a fresh short directory; cases that mount are ``requires_root``. When a case
fails, the directory tree and the mounts under it are printed; a case that leaves a mount
behind fails.
"""
from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

from pyctrd.core.mount import Mount, temp_mount, unmount_all
from pyctrd.core.snapshots import Info, Kind, Snapshotter, Usage
from pyctrd.errdefs import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from pyctrd.plugins.metadata.sqlite.metadata import Metadata
from pyctrd.plugins.snapshots.btrfs import BtrfsSnapshotter
from pyctrd.plugins.snapshots.native import NativeSnapshotter
from pyctrd.plugins.snapshots.overlayfs import OverlaySnapshotter
from tests.fixtures.inprocess import restart_daemon_for

Factory = Callable[[Path], tuple[Snapshotter, Callable[[], None]]]


def _native(tmp: Path) -> tuple[Snapshotter, Callable[[], None]]:
    sn = NativeSnapshotter(tmp / "root")
    return sn, sn.close


def _overlayfs(tmp: Path) -> tuple[Snapshotter, Callable[[], None]]:
    sn = OverlaySnapshotter(tmp / "root")
    return sn, sn.close


def _btrfs(tmp: Path) -> tuple[Snapshotter, Callable[[], None]]:
    """A btrfs filesystem of its own for each case: a sparse image, loop-mounted."""
    if os.geteuid() != 0 or shutil.which("mkfs.btrfs") is None:
        pytest.skip("btrfs needs root and btrfs-progs (mkfs.btrfs)")
    fs = tmp / "btrfs"
    if not _mounts_under(fs):
        fs.mkdir(exist_ok=True)
        with open(tmp / "btrfs.img", "wb") as img:
            img.truncate(160 << 20)
        subprocess.run(["mkfs.btrfs", "-q", str(tmp / "btrfs.img")], check=True, capture_output=True)
        subprocess.run(["mount", "-o", "loop", str(tmp / "btrfs.img"), str(fs)], check=True)
    sn = BtrfsSnapshotter(fs / "root")

    def cleanup() -> None:
        sn.close()
        if _mounts_under(fs):
            unmount_all(fs)  # the loop device goes with it (mount -o loop sets autoclear)

    return sn, cleanup


def _metadata(backend: Callable[[Path], Snapshotter], name: str) -> Factory:
    """The backend wrapped by the metadata database (per namespace, records in meta.db)."""

    def factory(tmp: Path) -> tuple[Snapshotter, Callable[[], None]]:
        md = Metadata(tmp / "meta.db", snapshotters={name: backend(tmp / "root")})
        sn = md.snapshotters[name]

        def cleanup() -> None:
            sn.close()
            md.close()

        return sn, cleanup

    return factory


def _grpc(tmp: Path) -> tuple[Snapshotter, Callable[[], None]]:
    """The snapshots service of a daemon in this process, through the client proxy."""
    return restart_daemon_for(tmp, lambda d: d.client().snapshotter("overlayfs"))


#: name -> factory ``(tmp) -> (snapshotter, cleanup)``.
FACTORIES: dict[str, Factory] = {
    "native": _native, "overlayfs": _overlayfs, "btrfs": _btrfs,
    "metadata-native": _metadata(NativeSnapshotter, "native"),
    "metadata-overlayfs": _metadata(lambda root: OverlaySnapshotter(root, async_remove=True), "overlayfs"),
    "grpc": _grpc,
}

GC = {"containerd.io/gc.root": "check"}


def _mounts_under(path: Path) -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p == str(path) or p.startswith(f"{path}/")]


def _dump(path: Path) -> str:
    tree = subprocess.run(["find", str(path), "-printf", "%M %u %s %p\n"], capture_output=True,
                          text=True, check=False)
    return f"--- tree of {path} ---\n{tree.stdout}--- mounts ---\n" + "\n".join(_mounts_under(path))


@pytest.fixture(params=sorted(FACTORIES))
def reopen(request: pytest.FixtureRequest, short_tmp: Path) -> Iterator[Callable[[], Snapshotter]]:
    """Opens the implementation on this case's directory (again, for restarts)."""
    cleanups: list[Callable[[], None]] = []
    failed_before = request.session.testsfailed

    def open_snapshotter() -> Snapshotter:
        sn, cleanup = FACTORIES[request.param](short_tmp)
        cleanups.append(cleanup)
        return sn

    yield open_snapshotter
    if request.session.testsfailed > failed_before:
        print(_dump(short_tmp))
    for cleanup in reversed(cleanups):  # may unmount what the factory itself mounted
        cleanup()
    left = _mounts_under(short_tmp)
    for point in sorted(left, reverse=True):
        unmount_all(point)
    assert not left, f"mounts left behind: {left}\n{_dump(short_tmp)}"


@pytest.fixture
def sn(reopen: Callable[[], Snapshotter]) -> Snapshotter:
    return reopen()


@pytest.fixture
def work(short_tmp: Path) -> Path:
    """Where cases mount snapshots (beside the snapshotter's root, never inside it)."""
    d = short_tmp / "work"
    d.mkdir()
    return d


@contextmanager
def mounted(mounts: list[Mount], work: Path) -> Iterator[Path]:
    with temp_mount(mounts, base=str(work)) as target:
        yield target


def tree(root: Path) -> dict[str, str]:
    """{relative path: "dir 755" | "file 644 <content>" | "link -> x"} - what a layer stack shows."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            rel = str(p.relative_to(root))
            st = p.lstat()
            mode = f"{st.st_mode & 0o7777:o}"
            if p.is_symlink():
                out[rel] = f"link -> {os.readlink(p)}"
            elif p.is_dir():
                out[rel] = f"dir {mode}"
            else:
                out[rel] = f"file {mode} {p.read_text()}"
    return out


def write(root: Path, files: Mapping[str, str | None]) -> None:
    """Create files (``name/`` makes a directory) or delete them (value None)."""
    for name, content in files.items():
        p = root / name
        if content is None:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
        elif name.endswith("/"):
            p.mkdir(parents=True, exist_ok=True)
            p.chmod(0o755)  # explicit modes: the umask must not decide what tree() shows
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(content)
            p.chmod(0o644)


def layer(sn: Snapshotter, work: Path, name: str, parent: str, files: Mapping[str, str | None]) -> None:
    """prepare -> mount -> write -> unmount -> commit ``name``: one image layer."""
    key = f"{name}-active"
    with mounted(sn.prepare(key, parent, GC), work) as root:
        write(root, files)
    sn.commit(name, key, GC)


def view_tree(sn: Snapshotter, work: Path, name: str) -> dict[str, str]:
    key = f"view-of-{name}-{len(list(sn.walk()))}"
    try:
        with mounted(sn.view(key, name), work) as root:
            return tree(root)
    finally:
        sn.remove(key)


def names(infos: Iterator[Info]) -> list[str]:
    return sorted(i.name for i in infos)


# -- lifecycle ------------------------------------------------------------------------------

@pytest.mark.requires_root
def test_basic_chain(sn: Snapshotter, work: Path) -> None:
    """containerd's Basic: two layers, each seeing the one below, then a view of the result."""
    prep = f"{work}/preparing"  # containerd's suite uses paths as keys: any string is a key
    mounts = sn.prepare(prep, "", GC)
    assert mounts
    with mounted(mounts, work) as root:
        write(root, {"foo": "foo\n", "a/b/c/": ""})
    sn.commit("base", prep, GC)
    base = sn.stat("base")
    assert (base.kind, base.parent, base.name) == (Kind.COMMITTED, "", "base")
    with pytest.raises(NotFound):
        sn.stat(prep)  # the active snapshot is gone after commit

    with mounted(sn.prepare("next", "base", GC), work) as root:
        assert tree(root) == {"foo": "file 644 foo\n", "a": "dir 755", "a/b": "dir 755",
                              "a/b/c": "dir 755"}
        write(root, {"bar": "bar\n", "foo": "bar\n", "a/b": None})
    sn.commit("next-c", "next", GC)
    assert sn.stat("next-c").parent == "base"
    assert view_tree(sn, work, "next-c") == {"foo": "file 644 bar\n", "bar": "file 644 bar\n",
                                              "a": "dir 755"}
    assert view_tree(sn, work, "base")["foo"] == "file 644 foo\n"  # the parent is untouched
    assert names(sn.walk()) == ["base", "next-c"]


def test_stat_active_and_committed(sn: Snapshotter) -> None:
    sn.prepare("c1-a", "", GC)
    sn.commit("c1", "c1-a", {"l": "committed"})
    sn.prepare("a1", "c1", {"l": "active"})
    active, committed = sn.stat("a1"), sn.stat("c1")
    assert (active.kind, active.parent, active.labels) == (Kind.ACTIVE, "c1", {"l": "active"})
    assert (committed.kind, committed.parent, committed.labels) == (Kind.COMMITTED, "", {"l": "committed"})
    assert active.created == active.updated and active.created >= committed.created
    assert re.fullmatch(r"<Snapshot (\w+:)?a1 ACTIVE parent=c1>", repr(active))
    assert re.fullmatch(r"<Snapshot (\w+:)?c1 COMMITTED>", repr(committed))
    with pytest.raises(NotFound):
        sn.stat("nope")


def test_view_and_prepare_share_one_key_space(sn: Snapshotter) -> None:
    """containerd's PrepareView: a key is taken whatever kind holds it."""
    sn.prepare("a-tmp", "", GC)
    sn.commit("A", "a-tmp", GC)
    sn.prepare("new", "A", GC)
    with pytest.raises(AlreadyExists):
        sn.view("new", "A", GC)
    with pytest.raises(AlreadyExists):
        sn.prepare("new", "A", GC)
    sn.view("v", "A", GC)
    with pytest.raises(AlreadyExists):
        sn.view("v", "A", GC)
    with pytest.raises(AlreadyExists):
        sn.prepare("A", "", GC)  # a committed name is taken too
    assert sn.stat("v").kind is Kind.VIEW


def test_commit_rules(sn: Snapshotter) -> None:
    sn.prepare("a", "", {"only": "active"})
    sn.commit("A", "a", {"only": "committed"})
    assert sn.stat("A").labels == {"only": "committed"}  # commit's labels replace the active's
    with pytest.raises(NotFound):
        sn.commit("A2", "a")  # committing twice: the key is gone
    sn.prepare("b", "A")
    with pytest.raises(AlreadyExists):
        sn.commit("A", "b")  # the name is taken
    sn.view("v", "A")
    with pytest.raises(FailedPrecondition):
        sn.commit("V", "v")  # views cannot be committed
    with pytest.raises(FailedPrecondition):
        sn.commit("A3", "A")  # nor can committed snapshots
    assert names(sn.walk()) == ["A", "b", "v"]  # failed commits changed nothing


def test_errors_leave_nothing_behind(sn: Snapshotter) -> None:
    with pytest.raises(NotFound):
        sn.prepare("k", "missing-parent")
    with pytest.raises(NotFound):
        sn.view("k", "missing-parent")
    sn.prepare("active", "")
    with pytest.raises(InvalidArgument):
        sn.prepare("k", "active")  # parents must be committed
    for bad in ("", "nul\x00byte", "lone-\udc80-surrogate"):
        with pytest.raises(InvalidArgument):
            sn.prepare(bad, "")
        with pytest.raises(NotFound):
            sn.stat(bad)
    with pytest.raises(InvalidArgument):
        sn.prepare("k", "", {"big": "x" * 5000})
    with pytest.raises(NotFound):
        sn.mounts("nope")
    with pytest.raises(NotFound):
        sn.remove("nope")
    with pytest.raises(NotFound):
        sn.usage("nope")
    with pytest.raises(InvalidArgument):
        sn.commit("", "active")
    sn.commit("C", "active")
    with pytest.raises(FailedPrecondition):
        sn.mounts("C")  # committed snapshots have no mounts
    assert names(sn.walk()) == ["C"]
    sn.prepare("k", "C")  # the key that failed before is free


def test_update_labels(sn: Snapshotter) -> None:
    sn.prepare("a", "", {"keep": "1", "drop": "2"})
    before = sn.stat("a")
    got = sn.update(Info(name="a", labels={"drop": "", "new": "3"}), ["labels.drop", "labels.new"])
    assert got.labels == {"keep": "1", "new": "3"} == sn.stat("a").labels
    assert got.kind is Kind.ACTIVE and got.created == before.created and got.updated >= before.updated
    got = sn.update(Info(name="a", labels={"only": "this"}))  # no fieldpaths: replace them all
    assert got.labels == {"only": "this"}
    assert sn.update(Info(name="a", labels={}), ["labels"]).labels == {}
    with pytest.raises(InvalidArgument):
        sn.update(Info(name="a", parent="x"), ["parent"])
    with pytest.raises(NotFound):
        sn.update(Info(name="nope", labels={"a": "b"}))


def test_walk_filters(sn: Snapshotter) -> None:
    """containerd's Walk table, case for case."""
    def with_l(v: str) -> dict[str, str]:
        return {"l": v, **GC}

    sn.prepare("a-np", "", GC)
    sn.prepare("p-tmp", "", GC)
    sn.commit("p", "p-tmp", GC)
    sn.prepare("a", "p", GC)
    sn.view("v", "p", GC)
    sn.prepare("p-wl-tmp", "", GC)
    sn.commit("p-wl", "p-wl-tmp", with_l("1"))
    sn.prepare("a-wl", "p-wl", with_l("2"))
    sn.view("v-wl", "p-wl", with_l("3"))
    sn.prepare("a-np-wl", "", with_l("2"))
    gc = 'labels."containerd.io/gc.root"==check'
    cases = [
        ([gc], ["a", "a-np", "a-np-wl", "a-wl", "p", "p-wl", "v", "v-wl"]),
        ([f"kind==active,{gc}"], ["a", "a-np", "a-np-wl", "a-wl"]),
        ([f"kind==view,{gc}"], ["v", "v-wl"]),
        ([f"kind==committed,{gc}"], ["p", "p-wl"]),
        (["name==p", "name==a-np-wl"], ["a-np-wl", "p"]),
        (["name==a-wl,labels.l"], ["a-wl"]),
        (["parent==p"], ["a", "v"]),
        ([f'parent!="",{gc}'], ["a", "a-wl", "v", "v-wl"]),
        (["labels.l"], ["a-np-wl", "a-wl", "p-wl", "v-wl"]),
        (["labels.l==2"], ["a-np-wl", "a-wl"]),
    ]
    for filters, expected in cases:
        assert names(sn.walk(*filters)) == expected, filters
    assert [i.name for i in sn.walk()] == sorted(i.name for i in sn.walk())  # in name order
    with pytest.raises(InvalidArgument):
        list(sn.walk("name=="))


def test_remove_intermediate_refused_then_leaf_first(sn: Snapshotter) -> None:
    sn.prepare("base-a", "", GC)
    sn.commit("base", "base-a", GC)
    sn.prepare("inter-a", "base", GC)
    sn.commit("inter", "inter-a", GC)
    sn.prepare("top", "inter", GC)
    with pytest.raises(FailedPrecondition):
        sn.remove("inter")
    with pytest.raises(FailedPrecondition):
        sn.remove("base")
    assert names(sn.walk()) == ["base", "inter", "top"]
    sn.remove("top")
    sn.remove("inter")
    sn.remove("base")
    assert names(sn.walk()) == []
    sn.prepare("top", "")  # keys are reusable at once


def test_close_twice_and_reopen(reopen: Callable[[], Snapshotter]) -> None:
    sn = reopen()
    sn.prepare("a", "", {"x": "1"})
    sn.commit("A", "a")
    sn.close()
    sn.close()  # closing again is fine
    again = reopen()  # a restart finds everything
    assert [(i.name, i.kind) for i in again.walk()] == [("A", Kind.COMMITTED)]


def test_concurrent_prepares_of_one_key(sn: Snapshotter) -> None:
    start = threading.Barrier(8)
    outcomes: list[str] = []

    def race(i: int) -> None:
        start.wait()
        try:
            sn.prepare("same", "", {"who": str(i)})
            outcomes.append("ok")
        except AlreadyExists:
            outcomes.append("exists")

    threads = [threading.Thread(target=race, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["exists"] * 7 + ["ok"]
    assert names(sn.walk()) == ["same"]


def test_concurrent_prepares_of_many_keys(sn: Snapshotter) -> None:
    sn.prepare("p-a", "")
    sn.commit("p", "p-a")
    threads = [threading.Thread(target=sn.prepare, args=(f"k{i}", "p")) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert names(sn.walk("parent==p")) == sorted(f"k{i}" for i in range(12))


# -- files through mounts ---------------------------------------------------------------------

@pytest.mark.requires_root
def test_deleted_files_in_child(sn: Snapshotter, work: Path) -> None:
    layer(sn, work, "l1", "", {"foo": "foo\n", "foobar": "foobar\n", "d/": "", "d/x": "x"})
    layer(sn, work, "l2", "l1", {"foobar": None, "d": None})
    layer(sn, work, "l3", "l2", {})
    assert view_tree(sn, work, "l3") == {"foo": "file 644 foo\n"}
    assert view_tree(sn, work, "l2") == {"foo": "file 644 foo\n"}
    assert set(view_tree(sn, work, "l1")) == {"foo", "foobar", "d", "d/x"}


@pytest.mark.requires_root
def test_views_are_read_only(sn: Snapshotter, work: Path) -> None:
    layer(sn, work, "base", "", {"f": "1"})
    layer(sn, work, "top", "base", {"g": "2"})
    for parent in ("", "base", "top"):  # no parent, one parent, a stack
        mounts = sn.view(f"v-{parent}", parent)
        assert sn.mounts(f"v-{parent}") == mounts
        with mounted(mounts, work) as root:
            with pytest.raises(OSError) as info:
                (root / "new").write_text("x")
            assert info.value.errno == errno.EROFS
            assert ("g" in os.listdir(root)) == (parent == "top")


@pytest.mark.requires_root
def test_mounts_again_and_root_mode(sn: Snapshotter, work: Path) -> None:
    layer(sn, work, "base", "", {"f": "1"})
    first = sn.prepare("c", "base")
    assert sn.mounts("c") == first
    with mounted(first, work) as root:
        assert root.stat().st_mode & 0o777 == 0o755  # containerd's RootPermission
        (root / "written").write_text("kept")
    with mounted(sn.mounts("c"), work) as root:
        assert (root / "written").read_text() == "kept"


@pytest.mark.requires_root
def test_owners_and_modes_cross_layers(sn: Snapshotter, work: Path) -> None:
    """containerd's Chown and DirectoryPermissionOnCommit: metadata survives stacking."""
    key = "l1-a"
    with mounted(sn.prepare(key, ""), work) as root:
        write(root, {"owned": "x", "dir/": "", "dir/in": "y"})
        os.chown(root / "owned", 1000, 1001)
        os.chmod(root / "dir", 0o700)
        os.chown(root / "dir", 1002, 1002)
    sn.commit("l1", key)
    with mounted(sn.prepare("l2-a", "l1"), work) as root:
        st = (root / "owned").stat()
        assert (st.st_uid, st.st_gid) == (1000, 1001)
        assert (root / "dir").stat().st_mode & 0o777 == 0o700
        (root / "dir" / "more").write_text("z")  # copying-up keeps the directory's owner
        assert (root / "dir").stat().st_uid == 1002


@pytest.mark.requires_root
def test_usage(sn: Snapshotter, work: Path) -> None:
    with mounted(sn.prepare("a", ""), work) as root:
        empty = sn.usage("a")
        (root / "big").write_bytes(os.urandom(1 << 20))
        os.link(root / "big", root / "same")  # one inode, counted once
    grown = sn.usage("a")
    assert grown.inodes == empty.inodes + 1
    assert (1 << 20) <= grown.size - empty.size < (1 << 20) + 64 * 1024
    sn.commit("A", "a")
    assert sn.usage("A") == grown  # measured at commit
    assert re.fullmatch(r"<Usage 1\.\d MiB, \d+ inodes>", repr(sn.usage("A")))
    assert sn.usage("A") + Usage(1, 1) == Usage(grown.size + 1, grown.inodes + 1)


@pytest.mark.requires_root
def test_128_layers_mount(sn: Snapshotter, work: Path) -> None:
    """containerd's 128LayersMount: every layer's files are visible through one mount."""
    parent = ""
    expected: dict[str, str] = {}
    for i in range(128):
        if i == 0:
            files: dict[str, str | None] = {"bottom": "way at the bottom\n", "overwriteme": "FIRST!\n",
                                            "ADDHERE/": "", "ONLYME/": "", "ONLYME/bottom": "bye!\n"}
        else:
            files = {"overwriteme": f"{i} WAS HERE!\n", f"ADDHERE/file-{i}": "same\n", "ONLYME": None,
                     "ONLYME/": "", f"ONLYME/file-{i}": "only me!\n"}
        key = f"prepare-layer-{i}"
        with mounted(sn.prepare(key, parent, GC), work) as root:
            assert tree(root) == expected, f"layer {i} before writing"
            write(root, files)
            expected = tree(root)
        parent = f"committed-{i}"
        sn.commit(parent, key, GC)
    assert expected["overwriteme"] == "file 644 127 WAS HERE!\n"
    assert sorted(k for k in expected if k.startswith("ONLYME/")) == ["ONLYME/file-127"]
    assert sum(k.startswith("ADDHERE/") for k in expected) == 127
    with mounted(sn.view("fullview", parent, GC), work) as root:
        assert tree(root) == expected
