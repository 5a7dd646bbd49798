"""Helpers for the differ's tests: build trees, describe trees, build small layers."""
from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
from collections import defaultdict
from pathlib import Path
from typing import Any


def xattrs_of(path: str) -> dict[str, bytes]:
    try:
        keys = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    return {k: os.getxattr(path, k, follow_symlinks=False) for k in sorted(keys)
            if k.startswith("user.") or k == "security.capability"}


def tree_state(root: str | os.PathLike[str], *, times: bool = True, dir_times: bool = True) -> dict[str, Any]:
    """Everything a layer is meant to carry about each entry under ``root`` (root excluded),
    plus hardlink groups. Two trees are "identical" when their states are equal."""
    root = os.fspath(root)
    entries: dict[str, tuple[Any, ...]] = {}
    inodes: dict[tuple[int, int], list[str]] = defaultdict(list)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            st = os.lstat(full)
            fmt = stat.S_IFMT(st.st_mode)
            content: Any = None
            if fmt == stat.S_IFREG:
                with open(full, "rb") as f:
                    content = hashlib.sha256(f.read()).hexdigest()[:16]
            elif fmt == stat.S_IFLNK:
                content = os.readlink(full)
            elif fmt in (stat.S_IFCHR, stat.S_IFBLK):
                content = (os.major(st.st_rdev), os.minor(st.st_rdev))
            mtime = st.st_mtime_ns // 10**9 if times and (dir_times or fmt != stat.S_IFDIR) else None
            entries[rel] = (stat.filemode(st.st_mode), st.st_uid, st.st_gid,
                            st.st_size if fmt == stat.S_IFREG else None, content, mtime, xattrs_of(full))
            if fmt != stat.S_IFDIR and st.st_nlink > 1:
                inodes[(st.st_dev, st.st_ino)].append(rel)
    links = sorted(tuple(sorted(v)) for v in inodes.values() if len(v) > 1)
    return {"entries": entries, "hardlinks": links}


def outside_state(paths: list[str | os.PathLike[str]], skip: str | os.PathLike[str]) -> dict[str, Any]:
    """State of everything under ``paths`` except the ``skip`` subtree (the target root):
    files, modes, owners, times (ns), xattrs - any change outside the root shows up."""
    skip = os.fspath(skip)
    out: dict[str, Any] = {}
    for p in map(os.fspath, paths):
        if not os.path.lexists(p):
            out[p] = None
            continue
        todo = [p]
        while todo:
            cur = todo.pop()
            if cur == skip:
                continue
            st = os.lstat(cur)
            extra: Any = None
            if stat.S_ISREG(st.st_mode):
                with open(cur, "rb") as f:
                    extra = hashlib.sha256(f.read()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                extra = os.readlink(cur)
            elif stat.S_ISDIR(st.st_mode):
                names = sorted(os.listdir(cur))
                extra = names
                todo.extend(os.path.join(cur, n) for n in names)
            out[cur] = (st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, st.st_nlink, extra,
                        xattrs_of(cur))
    return out


def build_full_tree(root: Path, *, devices: bool = True) -> None:
    """A tree with every entry type a layer can carry (run as root for devices and owners)."""
    (root / "etc").mkdir(parents=True)
    (root / "etc/motd").write_text("welcome\n")
    (root / "bin").mkdir()
    (root / "bin/tool").write_bytes(b"\x7fELF" + bytes(range(256)) * 40)
    os.chmod(root / "bin/tool", 0o4755)  # setuid
    (root / "bin/group").write_bytes(b"g")
    os.chmod(root / "bin/group", 0o2711)  # setgid
    (root / "tmp").mkdir()
    os.chmod(root / "tmp", 0o1777)  # sticky
    (root / "empty").mkdir()
    (root / "big").write_bytes(os.urandom(70_000))
    (root / "zero").write_bytes(b"")
    os.link(root / "etc/motd", root / "etc/motd.link")
    os.link(root / "etc/motd", root / "bin/motd.2")
    os.symlink("/etc/motd", root / "abs-link")
    os.symlink("../etc", root / "bin/rel-link")
    os.symlink("nowhere", root / "dangling")
    os.link(root / "dangling", root / "dangling.hard", follow_symlinks=False)  # hardlink to a symlink
    os.mkfifo(root / "fifo", 0o640)
    (root / "deep/a/b/c").mkdir(parents=True)
    (root / "deep/a/b/c/leaf").write_text("leaf")
    (root / "nonascii-\u00e9\u00e8").write_text("utf8 name")
    (root / ("long-" + "n" * 200)).write_text("long name")
    os.setxattr(root / "etc/motd", "user.greeting", b"hello\x00\xff")
    os.setxattr(root / "etc", "user.dir", b"d")
    if devices:
        os.mknod(root / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        os.mknod(root / "loop9", 0o660 | stat.S_IFBLK, os.makedev(7, 9))
        os.chown(root / "etc/motd", 1000, 1000)
        os.chown(root / "tmp", 12, 34)
        os.chown(root / "abs-link", 5, 6, follow_symlinks=False)
        # a file capability, as `setcap cap_net_raw+ep` writes it (v2, permitted|effective)
        cap = (0x02000001).to_bytes(4, "little") + (1 << 13).to_bytes(4, "little") + bytes(12)
        os.setxattr(root / "bin/group", "security.capability", cap)
    # whole-second times everywhere (layers carry seconds), children before parents
    for i, (dirpath, dirnames, filenames) in enumerate(sorted(os.walk(root), reverse=True)):
        for name in dirnames + filenames:
            os.utime(os.path.join(dirpath, name), (1_600_000_000 + i, 1_500_000_000 + i), follow_symlinks=False)


def make_tar(*members: tarfile.TarInfo | tuple[tarfile.TarInfo, bytes], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    """A tar of ``members`` (TarInfo, or (TarInfo, data)), written by tarfile."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for m in members:
            if isinstance(m, tuple):
                tf.addfile(m[0], io.BytesIO(m[1]))
            else:
                tf.addfile(m)
    return buf.getvalue()


def ti(name: str, kind: str = "file", *, data: bytes = b"", link: str = "", mode: int = 0o644,
       uid: int = 0, gid: int = 0, mtime: int = 1_500_000_000, dev: tuple[int, int] = (0, 0),
       pax: dict[str, str] | None = None) -> tuple[tarfile.TarInfo, bytes]:
    """One member: kind is file, dir, symlink, hardlink, char, block or fifo."""
    t = tarfile.TarInfo(name)
    t.type = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
              "hardlink": tarfile.LNKTYPE, "char": tarfile.CHRTYPE, "block": tarfile.BLKTYPE,
              "fifo": tarfile.FIFOTYPE}[kind]
    t.mode, t.uid, t.gid, t.mtime, t.linkname = mode, uid, gid, mtime, link
    t.devmajor, t.devminor = dev
    t.size = len(data) if kind == "file" else 0
    t.pax_headers = dict(pax or {})
    return t, data
