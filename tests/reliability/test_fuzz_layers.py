"""Hypothesis against the layer applier: random hostile tar streams, applied into a real directory.

The hand-written corpus (tests/diff/hostile.py, 256 cases) pins what each known attack must do;
this suite lets hypothesis combine them: names with ``..``, absolute names, names aimed at the
real directory beside the target, deep paths, symlinks and hardlinks out of the root or through
earlier symlinks (from this layer or a lower one), whiteouts and opaque markers, device nodes,
duplicates and type changes, headers that claim more data than follows, PAX records with bad
values, and the stream itself cut, corrupted or followed by garbage after gzip.

Properties, for every stream, with OCI and overlay whiteouts alike:

- :func:`~pyctrd.core.diff.apply_tar` returns, or raises a :mod:`pyctrd.errdefs` kind other than
  ``Unknown`` (an ``Unknown`` means an OS error nobody anticipated). Any other exception fails.
- Nothing outside the target changed: a sentinel tree beside it (files, a directory, a symlink
  to a file further out) and host paths are compared before/after - content, mode, owner,
  mtime (ns), link count, xattrs and directory listings.
- Nothing in the target is a second name for an inode outside it.

The same streams also go through the walking differ plugin (content store blob, bind mount of
the target), which must leave no temporary mount behind.

Runs as root (owners, device nodes, ``trusted.*`` xattrs, mounts are real) on a private tmpfs;
skipped otherwise. Examples: 200 (40 through the plugin) in CI, 3000 (500) under ``make soak``.
"""
from __future__ import annotations

import gzip
import io
import os
import stat
import subprocess
import tarfile
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pyctrd.core.diff import ApplyLimits, apply_tar
from pyctrd.core.diff.rootfs import remove_tree
from pyctrd.core.mount import Mount
from pyctrd.core.ocispec import MEDIA_TYPE_OCI_LAYER, MEDIA_TYPE_OCI_LAYER_GZIP, Descriptor
from pyctrd.errdefs import PyctrdError, Unknown
from pyctrd.plugins.content.local import LocalStore
from pyctrd.plugins.diff.walking import WalkingDiff
from tests.diff.difftrees import outside_state
from tests.fixtures.blobs import write_blob
from tests.reliability.figures import SOAK, record, scaled

pytestmark = [pytest.mark.requires_root, pytest.mark.slow]  # slow: `make soak` runs the full counts

EXAMPLES = scaled(200, 3000)
DIFFER_EXAMPLES = scaled(40, 500)
LIMITS = ApplyLimits(max_uncompressed_size=32 << 20, max_file_size=16 << 20, max_entries=2000)
END = bytes(1024)

#: Placeholders replaced when the stream is built: the real directory beside the target, and
#: a relative path climbing from the target to it.
OUT, UP = "@OUT", "@UP"
WORDS = ["a", "b", "d", "ln", "planted", "up", "canary", "secret", "dir", "lnk", "treasure"]
COMPONENTS = st.sampled_from([*WORDS, "..", ".", "", ".wh.a", ".wh.d", ".wh.ln", ".wh.planted", ".wh..wh..opq",
                              ".wh.", "x" * 255, "é", "sp ace"])
PREFIXES = st.sampled_from(["", "", "/", "./", "../", "//", f"{OUT}/", f"{UP}/", "/etc/", "/tmp/"])
# Where an escape would land: checked before/after along with the sentinel tree.
HOST = ["/etc/passwd", "/etc/shadow", "/etc/hostname"] + [f"{d}/{w}" for d in ("", "/etc", "/tmp") for w in WORDS]


def _names() -> st.SearchStrategy[str]:
    plain = st.tuples(PREFIXES, st.lists(COMPONENTS, min_size=1, max_size=6)).map(lambda t: t[0] + "/".join(t[1]))
    deep = st.tuples(st.sampled_from(["d/", "ln/", "../", "a/../"]), st.integers(20, 300), COMPONENTS).map(
        lambda t: t[0] * t[1] + t[2])
    return st.one_of(plain, plain, plain, deep)


NAMES = _names()
TARGETS = st.one_of(NAMES, st.sampled_from([OUT, f"{OUT}/canary", f"{OUT}/dir", f"{OUT}/lnk", f"{OUT}/lnk/treasure",
                                            UP, f"{UP}/canary", "/", "..", "../..", "/etc/passwd", "ln/canary",
                                            "planted/canary", "up/canary", "", "a\0b"]))
KINDS = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
         "char": tarfile.CHRTYPE, "block": tarfile.BLKTYPE, "fifo": tarfile.FIFOTYPE, "contiguous": tarfile.CONTTYPE,
         "volume": b"V", "sparse-gnu": tarfile.GNUTYPE_SPARSE}
PAX_KEYS = st.sampled_from(["path", "linkpath", "size", "uid", "gid", "mtime", "atime", "uname",
                            "SCHILY.xattr.user.k", "SCHILY.xattr.trusted.overlay.opaque", "SCHILY.xattr.",
                            "SCHILY.xattr.security.capability", "GNU.sparse.map", "GNU.sparse.size",
                            "GNU.sparse.major", "GNU.sparse.minor", "GNU.sparse.name", "GNU.sparse.realsize",
                            "GNU.sparse.numblocks", "GNU.sparse.offset", "GNU.sparse.numbytes"])
PAX_VALUES = st.one_of(NAMES, st.sampled_from(["0", "1", "-1", "y", "NaN", "1e400", "-5.5", "99999999999",
                                               str(2**32 - 1), str(2**64), "0,1,5", "0,10", "1,0", "x" * 300]),
                       st.integers(-10, 2**70).map(str))


@dataclass(frozen=True)
class Member:
    name: str
    kind: str
    link: str = ""
    data: bytes = b""
    mode: int = 0o644
    owner: tuple[int, int] = (0, 0)
    dev: tuple[int, int] = (1, 3)
    claim: int | None = None  # a header size that is not the body's size
    pax: tuple[tuple[str, str], ...] = ()


members = st.builds(
    Member, name=NAMES,
    kind=st.sampled_from(["file"] * 8 + ["dir"] * 6 + ["symlink"] * 6 + ["hardlink"] * 4 + ["char", "block", "fifo"] * 2
                         + list(KINDS)[7:]),  # (contiguous, volume, GNU sparse: rarer, each refuses the layer)
    link=TARGETS, data=st.binary(max_size=600), mode=st.integers(0, 0o7777),
    owner=st.tuples(st.sampled_from([0] * 12 + [1, 1000, 65534, 2**31] * 2 + [2**32 - 1]), st.sampled_from([0, 5, 2**32 - 2])),
    dev=st.tuples(st.sampled_from([0, 1, 7, 4095, 2**20]), st.sampled_from([0, 3, 255, 2**20 - 1])),
    claim=st.none() | st.none() | st.sampled_from([0, 1, 511, 513, 10**6, 2**33, 8**11 + 1, 10**15]),
    pax=st.integers(0, 4).flatmap(lambda n: st.just(()) if n else st.lists(st.tuples(PAX_KEYS, PAX_VALUES), min_size=1,
                                                                           max_size=3).map(tuple)),
)


@dataclass(frozen=True)
class Damage:
    how: str  # plain, gzip, gzip-cut, gzip-garbage, gzip-flip, cut, flip, no-end, half-end
    at: int


damage = st.builds(Damage, how=st.sampled_from(["plain"] * 6 + ["gzip"] * 3 + [
    "gzip-cut", "gzip-garbage", "gzip-flip", "cut", "flip", "no-end", "half-end"]), at=st.integers(0, 2**16))


def _fill(text: str, out: Path) -> str:
    up = "../" * 12 + str(out).lstrip("/")
    return text.replace(UP, up).replace(OUT, str(out))


def render(m: Member, out: Path) -> bytes:
    """One member's header(s) and body; the header may claim a size the body does not have."""
    t = tarfile.TarInfo(_fill(m.name, out))
    t.type = KINDS[m.kind]
    t.linkname = _fill(m.link, out) if m.kind in ("symlink", "hardlink") else ""
    t.mode, (t.uid, t.gid), (t.devmajor, t.devminor), t.mtime = m.mode, m.owner, m.dev, 1_500_000_000
    body = m.data if m.kind in ("file", "contiguous", "sparse-gnu") else b""
    t.size = len(body) if m.claim is None else m.claim
    t.pax_headers = {k: _fill(v, out) for k, v in m.pax}
    try:
        header = t.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    except (ValueError, UnicodeError):  # tarfile itself refuses (e.g. a NUL in a name field)
        t.name, t.linkname, t.pax_headers = "unwritable", "", {}
        header = t.tobuf(tarfile.PAX_FORMAT)
    return header + body + bytes(-len(body) % 512)


def stream(layer: list[Member], dmg: Damage, out: Path) -> bytes:
    raw = b"".join(render(m, out) for m in layer)
    raw += {"no-end": b"", "half-end": END[:512]}.get(dmg.how, END)
    if dmg.how == "cut":
        return raw[:dmg.at % (len(raw) + 1)]
    if dmg.how == "flip":
        b = bytearray(raw)
        b[dmg.at % len(b)] ^= 0x5A
        return bytes(b)
    if not dmg.how.startswith("gzip"):
        return raw
    gz = gzip.compress(raw, mtime=0)
    if dmg.how == "gzip-cut":
        return gz[:dmg.at % len(gz)]
    if dmg.how == "gzip-garbage":
        return gz + dmg.at.to_bytes(3, "big") + b"garbage"
    if dmg.how == "gzip-flip":
        b = bytearray(gz)
        b[dmg.at % len(b)] ^= 1 << (dmg.at % 8)
        return bytes(b)
    return gz


def sentinel(base: Path) -> tuple[Path, Path]:
    """``base/root`` (the target), and beside it ``outside``, ``sibling`` and ``far``."""
    root, out, far = base / "root", base / "outside", base / "far"
    for d in (root, out / "dir", far):
        d.mkdir(parents=True)
    (out / "canary").write_text("precious")
    (out / "dir/secret").write_text("secret")
    (far / "treasure").write_text("treasure")
    (base / "sibling").write_text("sibling")
    os.symlink(far, out / "lnk")  # a symlink whose target is outside the sentinel's own dir
    os.chmod(out / "canary", 0o640)
    os.chown(out / "dir/secret", 1000, 1000)
    for i, p in enumerate([out / "canary", out / "dir/secret", far / "treasure", out / "dir", far, out]):
        os.utime(p, (1_000_000_000 + i, 1_000_000_000 + i))
    return root, out


def lower(root: Path, out: Path, kind: str) -> None:
    """What an earlier layer left in the target: links out of it, and a tree to white out."""
    if kind == "links":
        os.symlink(out, root / "planted")
        os.symlink("../" * 12 + str(out).lstrip("/"), root / "up")
        os.symlink(out / "canary", root / "canary")
    if kind in ("links", "tree"):
        (root / "d/sub").mkdir(parents=True)
        (root / "d/f").write_text("f")
        (root / "a").write_text("a")
        os.symlink("d", root / "ln")


def inodes(paths: list[str]) -> set[tuple[int, int]]:
    """The (dev, ino) of every non-directory under ``paths`` (symlinks not followed)."""
    found, todo = set(), [p for p in paths if os.path.lexists(p)]
    while todo:
        p = todo.pop()
        s = os.lstat(p)
        if stat.S_ISDIR(s.st_mode):
            todo.extend(os.path.join(p, n) for n in os.listdir(p))
        else:
            found.add((s.st_dev, s.st_ino))
    return found


def names_outside(root: Path, foreign: set[tuple[int, int]]) -> list[str]:
    """Entries of ``root`` (symlinks not followed) that are the same inode as something outside."""
    bad = []
    for dirpath, dirnames, filenames in os.walk(root):
        for n in filenames + dirnames:
            p = os.path.join(dirpath, n)
            s = os.lstat(p)
            if not stat.S_ISDIR(s.st_mode) and (s.st_dev, s.st_ino) in foreign:
                bad.append(os.path.relpath(p, root))
    return bad


OUTCOMES: Counter[str] = Counter()


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    """A private tmpfs: thousands of small trees are made and removed, and a busy disk makes
    each rmdir cost milliseconds. The host paths an escape would reach (``HOST``) are still watched."""
    d = Path(tempfile.mkdtemp(prefix="fzl-", dir="/tmp"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256m,mode=0755", "tmpfs", str(d)], check=True)
    try:
        yield d
    finally:
        subprocess.run(["umount", str(d)], check=True)
        d.rmdir()


def mounts_under(path: Path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(f"{path}/")]


def check_layer(scratch: Path, layer: list[Member], dmg: Damage, whiteouts: str, lower_kind: str,
                differ: WalkingDiff | None = None) -> None:
    """Apply ``layer`` (directly, or through ``differ`` onto a bind mount) and check the properties."""
    work = Path(tempfile.mkdtemp(dir=scratch))
    try:
        root, out = sentinel(work / "case")
        lower(root, out, lower_kind)
        blob = stream(layer, dmg, out)
        watched = [str(work), *HOST]
        before, foreign = outside_state(watched, skip=root), inodes([str(work / "case/outside"),
                                                                     str(work / "case/far"), *HOST])
        try:
            if differ is None:
                apply_tar(io.BytesIO(blob), root, limits=LIMITS, whiteouts=whiteouts)
            else:
                media = MEDIA_TYPE_OCI_LAYER_GZIP if blob[:2] == b"\x1f\x8b" else MEDIA_TYPE_OCI_LAYER
                desc = Descriptor(media, write_blob(differ.store, blob), len(blob))
                applied = differ.apply(desc, [Mount("bind", str(root), ("rbind", "rw"))])
                assert applied.media_type == MEDIA_TYPE_OCI_LAYER and applied.digest.startswith("sha256:")
            OUTCOMES["applied"] += 1
        except PyctrdError as exc:
            assert not isinstance(exc, Unknown), f"an unanticipated OS error: {exc!r}"
            OUTCOMES[type(exc).__name__] += 1
        if differ is not None:
            assert not mounts_under(differ.mount_dir) and not os.listdir(differ.mount_dir), "a temporary mount left"
        after = outside_state(watched, skip=root)
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        assert not changed, f"changed outside the target: {changed}"
        shared = names_outside(root, foreign)
        assert not shared, f"names in the target for inodes outside it: {shared}"
    finally:
        fd = os.open(work, os.O_PATH)
        try:
            remove_tree(fd, "case")  # iterative: a layer may build a tree deeper than rmtree recurses
        finally:
            os.close(fd)
        os.rmdir(work)


SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=not SOAK,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SETTINGS
@given(layer=st.lists(members, min_size=1, max_size=10), dmg=damage, whiteouts=st.sampled_from(["oci", "overlay"]),
       lower_kind=st.sampled_from(["none", "links", "tree"]))
def test_hostile_layers_stay_in_the_target(scratch: Path, layer: list[Member], dmg: Damage, whiteouts: str,
                                           lower_kind: str) -> None:
    check_layer(scratch, layer, dmg, whiteouts, lower_kind)


@pytest.fixture(scope="module")
def differ(scratch: Path) -> WalkingDiff:
    """The walking differ plugin's applier over a real local content store."""
    return WalkingDiff(LocalStore(scratch / "content"), scratch / "mounts", limits=LIMITS)


@settings(SETTINGS, max_examples=DIFFER_EXAMPLES)
@given(layer=st.lists(members, min_size=1, max_size=8), dmg=damage, lower_kind=st.sampled_from(["none", "links"]))
def test_hostile_layers_through_the_walking_differ(scratch: Path, differ: WalkingDiff, layer: list[Member],
                                                   dmg: Damage, lower_kind: str) -> None:
    """The same streams as content-store blobs, applied by the plugin onto a bind mount of the target."""
    check_layer(scratch, layer, dmg, "oci", lower_kind, differ)


def test_hostile_layer_figures() -> None:
    """Runs after the property above (file order): reports what the examples came to."""
    tried = sum(OUTCOMES.values())
    if tried:
        record("layers", "hypothesis streams", tried)
        record("layers", "hypothesis applied", OUTCOMES["applied"])
        record("layers", "hypothesis refused", tried - OUTCOMES["applied"])
    assert tried == 0 or OUTCOMES["applied"] > 0, OUTCOMES  # the generator reaches the applier's success path


# Every (kind, what it aims at) pair the generator mixes, pinned once so CI always runs them.
PINNED = [
    [Member(f"{UP}/evil", "file", data=b"x"), Member("ln", "symlink", f"{OUT}"), Member("ln/pwned", "file")],
    [Member("h", "hardlink", f"{OUT}/canary"), Member("h2", "hardlink", "planted/canary")],
    [Member("ln", "symlink", f"{OUT}/lnk"), Member("ln/treasure", "file", data=b"t"), Member("ln/.wh.treasure", "file")],
    [Member("d", "dir"), Member("d", "file", data=b"f"), Member("d", "symlink", OUT), Member("d/x", "dir")],
    [Member("planted/.wh..wh..opq", "file"), Member("up/.wh.canary", "file"), Member("null", "char", dev=(1, 3))],
    [Member("big", "file", data=b"short", claim=10**6), Member("after", "file")],
]
for _pinned in PINNED:
    test_hostile_layers_stay_in_the_target = example(layer=_pinned, dmg=Damage("plain", 0), whiteouts="oci",
                                                     lower_kind="links")(test_hostile_layers_stay_in_the_target)
