"""write_diff -> apply_tar round trips, whiteouts, opaque directories, diff IDs."""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import stat
import tarfile
from pathlib import Path

import pytest
from difftrees import build_full_tree, make_tar, ti, tree_state

from pyctrd.core.diff import ApplyStats, apply_tar, root_path, write_diff
from pyctrd.core.diff.changes import changes
from pyctrd.core.diff.compression import open_compressor, zstd_module
from pyctrd.core.diff.tarstream import read_entries

ROOT = os.geteuid() == 0


def names_of(layer: bytes) -> list[str]:
    """Member names as written (tarfile would strip a directory's trailing slash)."""
    from pyctrd.core.diff import ApplyLimits, LayerStream

    return [e.name for e in read_entries(LayerStream(io.BytesIO(layer)), ApplyLimits())]


def diff_bytes(lower: Path | None, upper: Path) -> tuple[bytes, str]:
    out = io.BytesIO()
    d = write_diff(lower, upper, out)
    return out.getvalue(), d


@pytest.mark.requires_root
def test_full_tree_round_trips_exactly(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    build_full_tree(src)
    data, diff_id = diff_bytes(None, src)
    dst.mkdir()
    stats = apply_tar(io.BytesIO(data), dst)
    want, got = tree_state(src), tree_state(dst)
    assert got == want
    # the tree really has what the test claims to cover
    modes = {v[0][0] for v in want["entries"].values()}
    assert modes == {"-", "d", "l", "p", "c", "b"}
    assert want["entries"]["bin/tool"][0] == "-rwsr-xr-x" and want["entries"]["tmp"][0] == "drwxrwxrwt"
    assert ("bin/motd.2", "etc/motd", "etc/motd.link") in want["hardlinks"]
    assert ("dangling", "dangling.hard") in want["hardlinks"]
    assert "security.capability" in want["entries"]["bin/group"][6]
    assert stats.diff_id == diff_id == "sha256:" + hashlib.sha256(data).hexdigest()
    assert stats.digest == stats.diff_id and stats.size == len(data) and stats.compression == "uncompressed"
    assert (stats.hardlinks, stats.symlinks, stats.devices) == (3, 3, 3)
    assert repr(stats) == f"<ApplyStats {stats.entries} entries {stats.files} files {len(data)}B>"


def test_round_trip_without_root_features(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    build_full_tree(src, devices=False)
    data, _ = diff_bytes(None, src)
    dst.mkdir()
    apply_tar(io.BytesIO(data), dst)
    assert tree_state(dst) == tree_state(src)


def test_write_diff_is_deterministic_and_ordered(tmp_path: Path) -> None:
    src = tmp_path / "src"
    build_full_tree(src, devices=False)
    a, _ = diff_bytes(None, src)
    b, _ = diff_bytes(None, src)
    assert a == b
    names = names_of(a)
    assert names.index("deep/") < names.index("deep/a/") < names.index("deep/a/b/c/leaf")
    assert names[:3] == ["abs-link", "big", "bin/"]
    with tarfile.open(fileobj=io.BytesIO(a)) as tf:
        hard = [m for m in tf if m.islnk()]
    assert {m.name: m.linkname for m in hard}["etc/motd"] == "bin/motd.2"  # first name wins
    assert len(a) % 512 == 0 and a[-1024:] == bytes(1024)  # Go's end: two zero blocks, no record padding


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_compressed_layer_digest_and_diff_id(tmp_path: Path, compression: str) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    build_full_tree(src, devices=False)
    raw, diff_id = diff_bytes(None, src)
    out = io.BytesIO()
    c = open_compressor(out, compression)
    c.write(raw)
    c.close()
    blob = out.getvalue()
    dst.mkdir()
    stats = apply_tar(io.BytesIO(blob), dst, expected_digest="sha256:" + hashlib.sha256(blob).hexdigest(),
                      expected_size=len(blob))
    assert stats.compression == compression
    assert stats.diff_id == diff_id and stats.size == len(raw)
    assert stats.digest == "sha256:" + hashlib.sha256(blob).hexdigest() != diff_id
    assert stats.compressed_size == len(blob)
    assert tree_state(dst) == tree_state(src)


def test_multi_member_gzip_is_one_stream(tmp_path: Path) -> None:
    layer = make_tar(ti("a", data=b"A" * 1000), ti("b", data=b"B"))
    blob = gzip.compress(layer[:700]) + gzip.compress(layer[700:])
    stats = apply_tar(io.BytesIO(blob), tmp_path)
    assert (tmp_path / "a").read_bytes() == b"A" * 1000 and stats.diff_id == "sha256:" + hashlib.sha256(layer).hexdigest()


def test_zstd_module_is_available() -> None:
    assert zstd_module().compress(b"x")[:4] == b"\x28\xb5\x2f\xfd"


def _two_trees(tmp_path: Path) -> tuple[Path, Path]:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    for d in (lower / "keep", lower / "gone/sub", lower / "opq/old", lower / "kind"):
        d.mkdir(parents=True)
    (lower / "keep/same").write_text("same")
    (lower / "keep/edit").write_text("before")
    (lower / "keep/del").write_text("x")
    (lower / "gone/sub/f").write_text("x")
    (lower / "opq/old/f").write_text("x")
    (lower / "filedir").write_text("file")
    (lower / "kind/x").write_text("x")
    for p in lower.rglob("*"):
        os.utime(p, (1_400_000_000, 1_400_000_000), follow_symlinks=False)
    shutil.copytree(lower, upper, symlinks=True)
    (upper / "keep/edit").write_text("after!")
    (upper / "keep/del").unlink()
    shutil.rmtree(upper / "gone")
    shutil.rmtree(upper / "filedir") if (upper / "filedir").is_dir() else (upper / "filedir").unlink()
    (upper / "filedir").mkdir()
    (upper / "filedir/inside").write_text("now a dir")
    shutil.rmtree(upper / "kind")
    (upper / "kind").write_text("now a file")
    (upper / "new").write_text("new")
    for p in ("keep", "keep/edit", "filedir", "filedir/inside", "kind", "new"):  # what changed
        os.utime(upper / p, (1_450_000_000, 1_450_000_000), follow_symlinks=False)
    return lower, upper


def test_diff_between_trees_reproduces_upper(tmp_path: Path) -> None:
    lower, upper = _two_trees(tmp_path)
    kinds = {(k, p) for k, p, _ in changes(str(lower), str(upper))}
    assert ("delete", "/gone") in kinds and ("delete", "/gone/sub") not in kinds  # one whiteout per tree
    assert ("delete", "/keep/del") in kinds and ("modify", "/keep/edit") in kinds
    data, _ = diff_bytes(lower, upper)
    names = names_of(data)
    assert ".wh.gone" in names and "keep/.wh.del" in names and "keep/" in names  # parent included
    assert "keep/same" not in names
    target = tmp_path / "target"
    shutil.copytree(lower, target, symlinks=True)
    apply_tar(io.BytesIO(data), target)
    assert tree_state(target) == tree_state(upper)


def test_whiteouts_and_opaque_directories(tmp_path: Path) -> None:
    layer1 = make_tar(ti("d", "dir"), ti("d/a", data=b"a"), ti("d/sub", "dir"), ti("d/sub/b", data=b"b"),
                      ti("o", "dir"), ti("o/old1", data=b"1"), ti("o/olddir", "dir"), ti("o/olddir/x", data=b"x"),
                      ti("o/keepdir", "dir"), ti("o/keepdir/lower", data=b"l"), ti("late", "dir"),
                      ti("late/old", data=b"o"), ti("f", data=b"f"))
    # opaque before the new content (usual), and after it (must keep what this layer added)
    layer2 = make_tar(ti("d/.wh.a"), ti("d/.wh.sub"), ti(".wh.f"), ti(".wh.never-existed"),
                      ti("o", "dir"), ti("o/.wh..wh..opq"), ti("o/new", data=b"n"),
                      ti("o/keepdir", "dir"), ti("o/keepdir/upper", data=b"u"),
                      ti("late/added", data=b"a"), ti("late/.wh..wh..opq"))
    apply_tar(io.BytesIO(layer1), tmp_path)
    stats = apply_tar(io.BytesIO(layer2), tmp_path)
    assert sorted(os.listdir(tmp_path / "d")) == []
    assert not (tmp_path / "f").exists()
    assert sorted(os.listdir(tmp_path / "o")) == ["keepdir", "new"]
    assert sorted(os.listdir(tmp_path / "o/keepdir")) == ["upper"]
    assert sorted(os.listdir(tmp_path / "late")) == ["added"]
    assert stats.whiteouts == 6 and not list(tmp_path.rglob(".wh.*"))


def test_duplicates_and_type_changes_last_wins(tmp_path: Path) -> None:
    (tmp_path / "keep").write_text("original")
    layer = make_tar(ti("x", data=b"first"), ti("x", data=b"second"),
                     ti("d", data=b"file"), ti("d", "dir"), ti("d/in", data=b"in"),
                     ti("e", "dir"), ti("e/child", data=b"c"), ti("e", data=b"now a file"),
                     ti("s", "symlink", link="keep"), ti("s", data=b"replaced the symlink"),
                     ti("h", "hardlink", link="keep"), ti("h", data=b"new h"))
    apply_tar(io.BytesIO(layer), tmp_path)
    assert (tmp_path / "x").read_text() == "second"
    assert (tmp_path / "d/in").read_text() == "in"
    assert (tmp_path / "e").read_text() == "now a file"
    assert not (tmp_path / "s").is_symlink() and (tmp_path / "s").read_text() == "replaced the symlink"
    assert (tmp_path / "keep").read_text() == "original" and (tmp_path / "h").read_text() == "new h"


def test_directory_times_survive_their_contents(tmp_path: Path) -> None:
    layer = make_tar(ti("d", "dir", mtime=1_000_000_000), ti("d/f", data=b"x", mtime=1_200_000_000),
                     ti("d/g", "symlink", link="f", mtime=1_100_000_000))
    apply_tar(io.BytesIO(layer), tmp_path)
    assert os.stat(tmp_path / "d").st_mtime == 1_000_000_000
    assert os.lstat(tmp_path / "d/g").st_mtime == 1_100_000_000


def test_pax_times_xattrs_and_modes(tmp_path: Path) -> None:
    layer = make_tar(ti("f", data=b"x", mode=0o6755, pax={"mtime": "1500000000.25", "atime": "1700000000.5",
                                                          "SCHILY.xattr.user.a": "1",
                                                          "SCHILY.xattr.trusted.overlay.opaque": "y"}))
    stats = apply_tar(io.BytesIO(layer), tmp_path)
    st = os.stat(tmp_path / "f")
    assert stat.S_IMODE(st.st_mode) == 0o6755
    assert st.st_mtime_ns == 1_500_000_000_250_000_000 and st.st_atime_ns == 1_700_000_000_500_000_000
    assert os.getxattr(tmp_path / "f", "user.a") == b"1"
    assert stats.skipped_xattrs == 1  # trusted.* never comes from a layer


def test_root_path_semantics(tmp_path: Path) -> None:
    os.makedirs(tmp_path / "usr/lib")
    os.symlink("/usr/lib", tmp_path / "lib")
    os.symlink("../../../../..", tmp_path / "usr/up")
    os.symlink("loop", tmp_path / "loop")
    assert root_path(tmp_path, "lib/x.so") == f"{tmp_path}/usr/lib/x.so"
    assert root_path(tmp_path, "usr/up/etc") == f"{tmp_path}/etc"
    assert root_path(tmp_path, "/../../lib") == f"{tmp_path}/usr/lib"
    with pytest.raises(Exception, match="too many levels of symbolic links"):
        root_path(tmp_path, "loop/x")


def test_reader_reports_entries(tmp_path: Path) -> None:
    from pyctrd.core.diff import ApplyLimits, LayerStream

    s = LayerStream(io.BytesIO(make_tar(ti("a", "dir"), ti("a/b", data=b"12"))))
    got = [(e.name, e.kind, e.size) for e in read_entries(s, ApplyLimits())]
    assert got == [("a/", "dir", 0), ("a/b", "file", 2)]
    assert repr(ApplyStats()) == "<ApplyStats 0 entries 0 files 0B>"
