"""Mount helpers that snapshots rely on: long lowerdirs, same-filesystem binds, read-only binds, lookup."""
from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest

from pyctrd.core.mount import Mount, lookup, mount_all, temp_mount, unmount_all


def _findmnt(path: Path, column: str) -> str:
    return subprocess.run(["findmnt", "-n", "-o", column, "-T", str(path)], capture_output=True,
                          text=True, check=True).stdout.strip()


def test_lookup_agrees_with_findmnt(short_tmp: Path) -> None:
    found = lookup(short_tmp / "does" / "not" / "exist")  # like containerd: need not exist
    assert (found.mountpoint, found.fstype) == (_findmnt(short_tmp, "TARGET"), _findmnt(short_tmp, "FSTYPE"))


@pytest.mark.requires_root
def test_lookup_sees_a_fresh_mount_with_an_escaped_name(short_tmp: Path) -> None:
    point = short_tmp / "with space"
    point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "pyctrd-test", str(point)], check=True)
    try:
        found = lookup(point / "inside")
        assert (found.mountpoint, found.fstype, found.source) == (str(point), "tmpfs", "pyctrd-test")
        assert repr(found) == f"<MountInfo {point} tmpfs pyctrd-test>"
    finally:
        unmount_all(point)
    assert lookup(point).fstype != "tmpfs"


@pytest.mark.requires_root
def test_unmount_all_undoes_same_filesystem_binds(short_tmp: Path) -> None:
    src, target = short_tmp / "src", short_tmp / "target"
    src.mkdir()
    target.mkdir()
    (src / "f").write_text("x")
    mount_all([Mount("bind", str(src), ["rbind", "rw"])] * 2, target)  # stacked twice
    assert (target / "f").exists()
    unmount_all(target)
    assert not (target / "f").exists()
    unmount_all(target)  # nothing mounted: fine


@pytest.mark.requires_root
def test_read_only_bind(short_tmp: Path) -> None:
    src = short_tmp / "src"
    src.mkdir()
    with temp_mount([Mount("bind", str(src), ["rbind", "ro"])], base=str(short_tmp)) as t:
        with pytest.raises(OSError) as info:
            (t / "x").write_text("no")
        assert info.value.errno == errno.EROFS
    (src / "x").write_text("the source stays writable")


@pytest.mark.requires_root
def test_long_lowerdir_mounts_without_moving_this_process(short_tmp: Path) -> None:
    base = short_tmp / ("s" * 60) / "snapshots"
    lowers = []
    for i in range(1, 101):  # ~8 KiB of absolute lowerdirs: twice a page
        d = base / str(i) / "fs"
        d.mkdir(parents=True)
        (d / f"file-{i}").write_text(str(i))
        lowers.append(str(d))
    options = ["index=off", "lowerdir=" + ":".join(reversed(lowers))]
    assert len(options[1]) > os.sysconf("SC_PAGE_SIZE")
    cwd = os.getcwd()
    with temp_mount([Mount("overlay", "overlay", options)], base=str(short_tmp)) as t:
        assert os.getcwd() == cwd
        assert len(os.listdir(t)) == 100 and (t / "file-42").read_text() == "42"
