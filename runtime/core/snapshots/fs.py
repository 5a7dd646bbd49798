"""Filesystem helpers shared by snapshotters: disk usage of a tree.

>>> import tempfile, os
>>> tmp = tempfile.TemporaryDirectory(); d = tmp.name
>>> from pathlib import Path
>>> Path(d, "f").write_text("x")
1
>>> os.link(os.path.join(d, "f"), os.path.join(d, "g"))   # a hard link is one inode
>>> disk_usage(d).inodes
2
>>> tmp.cleanup()
"""
from __future__ import annotations

import os
import stat

from .info import Usage

__all__ = ["disk_usage"]

_BLOCK = 512  # st_blocks is in 512-byte units whatever the filesystem block size


def disk_usage(root: str | os.PathLike[str]) -> Usage:
    """Allocated bytes and distinct inodes under ``root`` (itself included; links not followed).

    Counts each inode once, so hard links do not double the size - containerd's
    ``fs.DiskUsage`` does the same.

    Raises:
        OSError: ``root`` cannot be read.
    """
    seen: set[tuple[int, int]] = set()
    size = 0
    top = os.lstat(root)
    seen.add((top.st_dev, top.st_ino))
    size += top.st_blocks * _BLOCK
    stack = [os.fspath(root)] if stat.S_ISDIR(top.st_mode) else []
    while stack:
        with os.scandir(stack.pop()) as it:
            for entry in it:
                st = entry.stat(follow_symlinks=False)
                key = (st.st_dev, st.st_ino)
                if key not in seen:
                    seen.add(key)
                    size += st.st_blocks * _BLOCK
                if stat.S_ISDIR(st.st_mode):
                    stack.append(entry.path)
    return Usage(size=size, inodes=len(seen))
