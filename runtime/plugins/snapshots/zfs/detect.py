"""Can the zfs snapshotter run here? Only if its root is a mounted zfs dataset.

containerd's zfs plugin looks up the mount holding the root (without creating it) and skips
itself when that is not zfs:

>>> try:
...     check_root("/proc/io.containerd.snapshotter.v1.zfs")
... except NotZfs as exc:
...     print(exc)
path /proc/io.containerd.snapshotter.v1.zfs must be a zfs filesystem to be used with the zfs snapshotter
"""
from __future__ import annotations

import os

from ....core.mount import MountInfo, lookup

__all__ = ["NotZfs", "check_root"]


class NotZfs(Exception):
    """The root is not on zfs; the message is containerd's."""


def check_root(root: str | os.PathLike[str]) -> MountInfo:
    """The zfs mount holding ``root``.

    Raises:
        NotZfs: the filesystem holding ``root`` is not zfs.
    """
    mnt = lookup(root)
    if mnt.fstype != "zfs":
        raise NotZfs(f"path {os.fspath(root)} must be a zfs filesystem to be used with the zfs snapshotter")
    return mnt
