"""Applying layers onto real overlayfs: straight into the upperdir (overlay whiteouts), and
through a mounted overlay (the kernel makes the whiteouts)."""
from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest
from difftrees import make_tar, ti

from pyctrd.core.diff import apply_tar
from pyctrd.core.mount import Mount, temp_mount

pytestmark = pytest.mark.requires_root

LAYER = make_tar(ti(".wh.gone"), ti(".wh.gonedir"), ti("opq", "dir", mode=0o755), ti("opq/.wh..wh..opq"),
                 ti("opq/new", data=b"new"), ti("keep/b", data=b"b"), ti("newdir/f", data=b"f"))


def _lower(tmp: Path) -> Path:
    lower = tmp / "lower"
    for d in ("keep", "gonedir/sub", "opq/olddir"):
        (lower / d).mkdir(parents=True)
    (lower / "keep/a").write_text("a")
    (lower / "gone").write_text("x")
    (lower / "gonedir/sub/x").write_text("x")
    (lower / "opq/old").write_text("old")
    os.chmod(lower / "keep", 0o750)
    os.chown(lower / "keep", 7, 8)
    os.setxattr(lower / "keep", "user.from-lower", b"1")
    os.utime(lower / "keep", (1_300_000_000, 1_300_000_000))
    return lower


def _overlay(lower: Path, upper: Path, work: Path) -> Mount:
    return Mount("overlay", "overlay", (f"lowerdir={lower}", f"upperdir={upper}", f"workdir={work}"))


def _merged_view(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = Path(dirpath, n)
            out[str(p.relative_to(root))] = "dir" if p.is_dir() else p.read_text()
    return out


EXPECTED = {"keep": "dir", "keep/a": "a", "keep/b": "b", "opq": "dir", "opq/new": "new", "newdir": "dir",
            "newdir/f": "f"}


def test_apply_into_upperdir_writes_overlay_whiteouts(short_tmp: Path) -> None:
    lower, upper, work = _lower(short_tmp), short_tmp / "upper", short_tmp / "work"
    upper.mkdir()
    work.mkdir()
    stats = apply_tar(io.BytesIO(LAYER), upper, whiteouts="overlay", parents=[str(lower)])
    for name in ("gone", "gonedir"):
        st = os.lstat(upper / name)
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0, name  # overlayfs whiteout: char 0/0
    assert os.getxattr(upper / "opq", "trusted.overlay.opaque") == b"y"
    assert sorted(os.listdir(upper / "opq")) == ["new"]
    # a parent the layer did not list takes the lower directory's metadata
    st = os.stat(upper / "keep")
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o750, 7, 8)
    assert os.getxattr(upper / "keep", "user.from-lower") == b"1"
    assert stat.S_IMODE(os.stat(upper / "newdir").st_mode) == 0o755
    assert stats.whiteouts == 3
    with temp_mount([_overlay(lower, upper, work)], base=str(short_tmp)) as merged:
        assert _merged_view(merged) == EXPECTED


def test_apply_through_a_mounted_overlay(short_tmp: Path) -> None:
    lower, upper, work = _lower(short_tmp), short_tmp / "upper", short_tmp / "work"
    upper.mkdir()
    work.mkdir()
    with temp_mount([_overlay(lower, upper, work)], base=str(short_tmp)) as merged:
        apply_tar(io.BytesIO(LAYER), merged)
        assert _merged_view(merged) == EXPECTED
    st = os.lstat(upper / "gone")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0  # the kernel recorded the deletion
    assert not (lower / "gone").is_symlink() and (lower / "gone").read_text() == "x"  # lower untouched
