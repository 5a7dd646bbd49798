"""Property tests: random small trees round-trip exactly through write_diff / apply_tar, and a
diff between two random trees turns the first into the second."""
from __future__ import annotations

import io
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from difftrees import tree_state
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyctrd.core.diff import apply_tar, write_diff

ROOT = os.geteuid() == 0
NAMES = st.sampled_from(["a", "b", "c", "\u00e9t\u00e9", "sp ace", "x.y", "-", "deep"])


@dataclass(frozen=True)
class Spec:
    path: str
    kind: str  # file, dir, symlink, hardlink, fifo
    data: bytes = b""
    mode: int = 0o644
    mtime: int = 0
    link: str = ""
    owner: int = 0
    xattr: bytes | None = None


specs = st.builds(
    Spec,
    path=st.lists(NAMES, min_size=1, max_size=3).map("/".join),
    kind=st.sampled_from(["file", "file", "dir", "symlink", "hardlink", "fifo"]),
    data=st.binary(max_size=700),
    mode=st.integers(0, 0o7777),
    mtime=st.integers(0, 2**32),
    link=st.sampled_from(["a", "../b", "/etc/passwd", "deep/a", "", "."]),
    owner=st.integers(0, 70000),
    xattr=st.none() | st.binary(min_size=1, max_size=20),
)


def build(root: Path, entries: list[Spec], *, retime: bool = True) -> None:
    """Create ``entries`` in order, skipping any that cannot exist (parent is not a directory)."""
    root.mkdir(exist_ok=True)
    for e in entries:
        p = root / e.path
        if any((root / q).is_symlink() for q in Path(e.path).parents):
            continue  # the builder never writes through a symlink
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.path.lexists(p):
            continue
        if e.kind == "file":
            p.write_bytes(e.data)
        elif e.kind == "dir":
            p.mkdir()
        elif e.kind == "symlink":
            os.symlink(e.link or "t", p)
        elif e.kind == "fifo":
            os.mkfifo(p)
        else:
            files = sorted(q for q in root.rglob("*") if q.is_file() and not q.is_symlink())
            if not files:
                continue
            os.link(files[len(e.path) % len(files)], p)
        if e.xattr is not None and e.kind == "file":  # (a merged directory keeps lower xattrs, as in containerd)
            os.setxattr(p, "user.prop", e.xattr)
        if e.kind != "symlink":
            # directories keep owner rwx so a non-root run can still fill them
            os.chmod(p, (e.mode | 0o700) if e.kind == "dir" else e.mode)
        if ROOT:
            os.chown(p, e.owner, e.owner // 2, follow_symlinks=False)
    if retime:
        _whole_second_times(root, entries)


def _whole_second_times(root: Path, entries: list[Spec]) -> None:
    times = {e.path: e.mtime for e in entries}
    for dirpath, dirnames, filenames in sorted(os.walk(root), reverse=True):  # children first
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            t = times.get(os.path.relpath(p, root), 1_234_567_890)
            os.utime(p, (t, t), follow_symlinks=False)


def round_trip(lower: Path | None, upper: Path, target: Path) -> None:
    out = io.BytesIO()
    diff_id = write_diff(lower, upper, out)
    stats = apply_tar(io.BytesIO(out.getvalue()), target)
    assert stats.diff_id == diff_id


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(specs, max_size=14))
def test_random_trees_round_trip(entries: list[Spec]) -> None:
    with tempfile.TemporaryDirectory() as d:
        src, dst = Path(d, "src"), Path(d, "dst")
        build(src, entries)
        dst.mkdir()
        round_trip(None, src, dst)
        assert tree_state(dst) == tree_state(src)


@dataclass(frozen=True)
class Mutation:
    op: str  # rm, write, chmod, todir, tofile, add
    index: int
    data: bytes
    spec: Spec


mutations = st.builds(Mutation, op=st.sampled_from(["rm", "write", "chmod", "todir", "tofile", "add"]),
                      index=st.integers(0, 1000), data=st.binary(max_size=300), spec=specs)


def mutate(root: Path, muts: list[Mutation], t: int) -> None:
    for m in muts:
        paths = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
        if m.op == "add" or not paths:
            build(root, [m.spec], retime=False)
            for q in sorted(set(root.rglob("*")) - {root / p for p in paths}):
                os.utime(q, (t, t), follow_symlinks=False)
            continue
        p = root / paths[m.index % len(paths)]
        is_dir = p.is_dir() and not p.is_symlink()
        if m.op in ("rm", "todir", "tofile"):
            shutil.rmtree(p) if is_dir else p.unlink()
            if m.op == "todir":
                p.mkdir()
            elif m.op == "tofile":
                p.write_bytes(m.data)
        elif m.op == "write" and p.is_file() and not p.is_symlink():
            p.write_bytes(m.data)
        elif m.op == "chmod" and not p.is_symlink():
            os.chmod(p, (stat.S_IMODE(os.lstat(p).st_mode) ^ 0o5) | (0o700 if is_dir else 0))
        else:
            continue  # nothing changed (a directory's mtime alone is not a change a layer carries)
        if os.path.lexists(p):
            os.utime(p, (t, t), follow_symlinks=False)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(specs, max_size=10), st.lists(mutations, min_size=1, max_size=5), st.integers(0, 2**31))
def test_diff_between_random_trees_applies_to_the_upper(entries: list[Spec], muts: list[Mutation], t: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        lower, upper, target = Path(d, "lower"), Path(d, "upper"), Path(d, "target")
        build(lower, entries)
        build(upper, entries)  # built, not copied: hardlinks stay hardlinks
        build(target, entries)
        mutate(upper, muts, t)
        round_trip(lower, upper, target)
        # a directory whose only change is its mtime is not in a layer (containerd's rule)
        assert tree_state(target, dir_times=False) == tree_state(upper, dir_times=False)
