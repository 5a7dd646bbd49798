"""What changed between two directory trees: continuity's double-walk ``fs.Changes``.

Both trees are walked in the same order (names compared byte-wise, ``/`` sorting before any
other byte, so a directory's contents follow it directly) and merged like two sorted lists:

- only in upper: **add**; only in lower: **delete** (a deleted directory's contents are not
  listed again: one whiteout covers them);
- in both: **modify**, unless :func:`same_file` says nothing changed. An unchanged file with
  other hardlinks is reported **unmodified**, so the writer can still link to it.

>>> import os, tempfile
>>> lo, up = tempfile.mkdtemp(), tempfile.mkdtemp()
>>> for d in (lo, up): os.makedirs(f"{d}/etc")
>>> open(f"{lo}/etc/old", "w").close(); open(f"{up}/etc/new", "w").close()
>>> [(k, p) for k, p, _ in changes(lo, up) if k != "modify"]
[('add', '/etc/new'), ('delete', '/etc/old')]
"""
from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Node", "captured_xattrs", "changes", "same_file", "walk"]


@dataclass
class Node:
    """One walked entry: ``path`` is absolute within its tree (``/etc/passwd``)."""

    path: str
    full: str
    st: os.stat_result


def _key(path: str) -> bytes:
    return os.fsencode(path).replace(b"/", b"\0")


def walk(root: str) -> Iterator[Node]:
    """Every entry under ``root`` (not root itself), depth first, in change order; no symlink followed."""
    stack: list[Iterator[str]] = [iter([""])]
    first = True
    while stack:
        rel = next(stack[-1], None)
        if rel is None:
            stack.pop()
            continue
        full = os.path.join(root, rel) if rel else root
        st = os.lstat(full)
        if not first:
            yield Node("/" + rel, full, st)
        first = False
        if stat.S_ISDIR(st.st_mode):
            names = sorted(os.listdir(full), key=os.fsencode)
            stack.append(iter([f"{rel}/{n}" if rel else n for n in names]))


#: The extended attributes a diff carries: capabilities (as containerd) and user.* (pyctrd adds them).
def captured_xattrs(full: str) -> dict[str, bytes]:
    """The xattrs of ``full`` that belong in a layer (never trusted.* or security.selinux)."""
    try:
        keys = os.listxattr(full, follow_symlinks=False)
    except OSError:
        return {}
    out = {}
    for k in sorted(keys):
        if k == "security.capability" or k.startswith("user."):
            try:
                out[k] = os.getxattr(full, k, follow_symlinks=False)
            except OSError:
                continue
    return out


def _same_content(a: str, b: str) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 16), fb.read(1 << 16)
            if x != y:
                return False
            if not x:
                return True


def same_file(a: Node, b: Node) -> bool:
    """continuity's ``sameFile``: metadata first, then size and mtime, then (when the
    timestamps may have been truncated to whole seconds) the content itself."""
    s1, s2 = a.st, b.st
    if (s1.st_dev, s1.st_ino) == (s2.st_dev, s2.st_ino):
        return True
    if (s1.st_mode, s1.st_uid, s1.st_gid, s1.st_rdev) != (s2.st_mode, s2.st_uid, s2.st_gid, s2.st_rdev):
        return False
    if captured_xattrs(a.full) != captured_xattrs(b.full):
        return False
    if stat.S_ISDIR(s1.st_mode):
        return True
    if s1.st_size != s2.st_size or s1.st_mtime_ns // 10**9 != s2.st_mtime_ns // 10**9:
        return False
    n1, n2 = s1.st_mtime_ns % 10**9, s2.st_mtime_ns % 10**9
    if n1 == 0 and n2 == 0:
        if stat.S_ISLNK(s1.st_mode):
            return os.readlink(a.full) == os.readlink(b.full)
        return s1.st_size == 0 or not stat.S_ISREG(s1.st_mode) or _same_content(a.full, b.full)
    return n1 == n2


def changes(lower: str | None, upper: str) -> Iterator[tuple[str, str, Node | None]]:
    """``(kind, path, node)`` for each change from ``lower`` to ``upper`` (no lower: all adds).

    ``kind`` is ``add``, ``modify``, ``delete`` (node None) or ``unmodified``.
    """
    if not lower:
        for n in walk(upper):
            yield "add", n.path, n
        return
    a, b = walk(lower), walk(upper)
    f1, f2 = next(a, None), next(b, None)
    rmdir = ""
    while f1 is not None or f2 is not None:
        if f1 is None or (f2 is not None and _key(f1.path) > _key(f2.path)):
            assert f2 is not None
            rmdir = ""
            yield "add", f2.path, f2
            f2 = next(b, None)
        elif f2 is None or _key(f1.path) < _key(f2.path):
            if rmdir and f1.path.startswith(rmdir):
                f1 = next(a, None)
                continue
            rmdir = f1.path + "/" if stat.S_ISDIR(f1.st.st_mode) else ""
            yield "delete", f1.path, None
            f1 = next(a, None)
        else:
            assert f2 is not None
            # a directory replaced by a non-directory: its old contents need no whiteouts
            rmdir = f1.path + "/" if stat.S_ISDIR(f1.st.st_mode) and not stat.S_ISDIR(f2.st.st_mode) else ""
            linked = not stat.S_ISDIR(f2.st.st_mode) and f2.st.st_nlink > 1
            if not same_file(f1, f2):
                yield "modify", f2.path, f2
            elif linked:
                yield "unmodified", f2.path, f2
            f1, f2 = next(a, None), next(b, None)
