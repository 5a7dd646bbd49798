"""Write the changes between two trees as an OCI layer tar: containerd's ``archive.WriteDiff``.

Added and modified entries are written whole, with owner, mode, mtime (whole seconds, as
containerd truncates them), device numbers and the xattrs of
:func:`~.changes.captured_xattrs`. A deletion becomes an empty ``.wh.<name>`` file. Every
entry's parent directories are written before it (once), so the layer applies onto any
base. Files sharing an inode are written once and then as hardlinks to that first name.

The output is deterministic: same trees, same bytes (whiteouts carry mtime 0 rather than
containerd's "now"; headers carry no user or group names).

>>> import io, os, tempfile
>>> up = tempfile.mkdtemp(); os.mkdir(f"{up}/etc")
>>> with open(f"{up}/etc/motd", "w") as f: _ = f.write("hi")
>>> out = io.BytesIO(); d = write_diff(None, up, out)
>>> d.startswith("sha256:"), len(out.getvalue()) % 512
(True, 0)
"""
from __future__ import annotations

import hashlib
import os
import posixpath
import stat
import tarfile
from typing import Any

from ...errdefs import FailedPrecondition, map_exceptions
from .apply import WHITEOUT_PREFIX
from .changes import Node, captured_xattrs, changes

__all__ = ["write_diff"]

_TYPES = {stat.S_IFREG: tarfile.REGTYPE, stat.S_IFDIR: tarfile.DIRTYPE, stat.S_IFLNK: tarfile.SYMTYPE,
          stat.S_IFCHR: tarfile.CHRTYPE, stat.S_IFBLK: tarfile.BLKTYPE, stat.S_IFIFO: tarfile.FIFOTYPE}


class _ChangeWriter:
    def __init__(self, out: Any, upper: str) -> None:
        self.out, self.upper, self.hash = out, upper, hashlib.sha256()
        self.inode_src: dict[tuple[int, int], str] = {}
        self.inode_refs: dict[tuple[int, int], list[str]] = {}
        self.added_dirs: set[str] = set()

    def emit(self, data: bytes) -> None:
        self.hash.update(data)
        self.out.write(data)

    def header(self, ti: tarfile.TarInfo) -> None:
        self.include_parents(ti.name, ti.type == tarfile.DIRTYPE)
        self.emit(ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))

    def handle(self, kind: str, path: str, node: Node | None) -> None:
        if kind == "delete":
            d, b = posixpath.split(path)
            ti = tarfile.TarInfo(posixpath.join(d, WHITEOUT_PREFIX + b)[1:])
            ti.mode, ti.mtime, ti.uname, ti.gname = 0, 0, "", ""
            self.header(ti)
            return
        assert node is not None
        st = node.st
        ftype = stat.S_IFMT(st.st_mode)
        if ftype not in _TYPES:
            return  # sockets (and anything else a tar cannot hold) are left out, as containerd does
        ti = tarfile.TarInfo(path[1:])
        ti.type, ti.mode, ti.uid, ti.gid = _TYPES[ftype], stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid
        ti.mtime, ti.uname, ti.gname = st.st_mtime_ns // 10**9, "", ""
        ti.size = st.st_size if ftype == stat.S_IFREG else 0
        if ftype == stat.S_IFLNK:
            ti.linkname = os.readlink(node.full)
        if ftype in (stat.S_IFCHR, stat.S_IFBLK):
            ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        extra: list[str] = []
        if ftype != stat.S_IFDIR and st.st_nlink > 1:
            inode = (st.st_dev, st.st_ino)
            if inode in self.inode_src:
                ti.type, ti.linkname, ti.size = tarfile.LNKTYPE, self.inode_src[inode], 0
            elif kind == "unmodified":
                self.inode_refs.setdefault(inode, []).append(ti.name)
                return
            else:
                self.inode_src[inode] = ti.name
                extra = self.inode_refs.pop(inode, [])
        elif kind == "unmodified":
            return
        ti.pax_headers = {f"SCHILY.xattr.{k}": v.decode("utf-8", "surrogateescape")
                          for k, v in captured_xattrs(node.full).items()}
        self.header(ti)
        if ti.type == tarfile.REGTYPE and ti.size:
            self.copy(node.full, ti.size)
        for name in extra:
            link = tarfile.TarInfo(name)
            link.type, link.linkname, link.mode, link.uid, link.gid = tarfile.LNKTYPE, ti.name, ti.mode, ti.uid, ti.gid
            link.mtime, link.uname, link.gname, link.pax_headers = ti.mtime, "", "", ti.pax_headers
            self.header(link)

    def copy(self, full: str, size: int) -> None:
        fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            left = size
            while left:
                data = os.read(fd, min(left, 1 << 20))
                if not data:
                    raise FailedPrecondition(f"{full} shrank while the diff was written")
                self.emit(data)
                left -= len(data)
        finally:
            os.close(fd)
        self.emit(bytes(-size % tarfile.BLOCKSIZE))

    def include_parents(self, name: str, is_dir: bool) -> None:
        name = name.rstrip("/")
        parent = posixpath.dirname(name)
        if name and parent and parent not in self.added_dirs:
            self.added_dirs.add(parent)
            full = os.path.join(self.upper, parent)
            self.handle("modify", "/" + parent, Node("/" + parent, full, os.lstat(full)))
        if is_dir:
            self.added_dirs.add(name)


def write_diff(lower_root: str | os.PathLike[str] | None, upper_root: str | os.PathLike[str],
               out: Any) -> str:
    """Write the layer that turns ``lower_root`` into ``upper_root`` to ``out``; return its diff ID.

    Args:
        lower_root: the base tree, or None / "" for a layer holding all of ``upper_root``.
        upper_root: the changed tree.
        out: anything with ``write(bytes)``: a file, a compressor, a content writer.

    Returns:
        ``sha256:…`` of the uncompressed tar written.

    Raises:
        NotFound, InvalidArgument, Unknown: a tree could not be read.
        FailedPrecondition: a file changed while it was being written.
    """
    lower = os.fspath(lower_root) if lower_root else None
    upper = os.fspath(upper_root)
    w = _ChangeWriter(out, upper)
    with map_exceptions(f"diff {lower or '(empty)'} -> {upper}"):
        for kind, path, node in changes(lower, upper):
            w.handle(kind, path, node)
    w.emit(bytes(2 * tarfile.BLOCKSIZE))  # end of archive; no record padding, as Go's writer
    return "sha256:" + w.hash.hexdigest()
