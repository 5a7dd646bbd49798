"""Can the btrfs snapshotter run here? Only if its root directory is on a btrfs filesystem.

btrfs makes snapshots with copy-on-write subvolumes, so it needs the root on btrfs itself.
containerd creates the root (mode 0700), asks which mount holds it, and skips the plugin
with the filesystem it found:

>>> import tempfile; tmp = tempfile.TemporaryDirectory()
>>> try:
...     check_root(tmp.name + "/io.containerd.snapshotter.v1.btrfs")
... except NotBtrfs as exc:
...     print(str(exc).replace(tmp.name, "<tmp>"))
path <tmp>/io.containerd.snapshotter.v1.btrfs (...) must be a btrfs filesystem to be used with the btrfs snapshotter
>>> tmp.cleanup()
"""
from __future__ import annotations

import os
from pathlib import Path

from ....core.mount import MountInfo, lookup

__all__ = ["NotBtrfs", "check_root"]


class NotBtrfs(Exception):
    """The root is on another filesystem; the message is containerd's."""


def check_root(root: str | os.PathLike[str]) -> MountInfo:
    """Create ``root`` (0700) and return its mount; raise NotBtrfs unless that is btrfs.

    Raises:
        NotBtrfs: the filesystem holding ``root`` is not btrfs.
        OSError: ``root`` cannot be created.
    """
    path = Path(root)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o777 != 0o700:
        path.chmod(0o700)
    mnt = lookup(path)
    if mnt.fstype != "btrfs":
        raise NotBtrfs(f"path {os.fspath(root)} ({mnt.fstype}) must be a btrfs filesystem to be "
                       f"used with the btrfs snapshotter")
    return mnt
