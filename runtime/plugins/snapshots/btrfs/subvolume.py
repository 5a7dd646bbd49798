"""btrfs subvolumes, the unit the btrfs snapshotter works in.

A *subvolume* is a directory with its own file tree inside a btrfs filesystem; a *snapshot*
of one is a new subvolume sharing every block with it until either side changes
(copy-on-write), so "copying" a layer costs nothing. Subvolumes are made and deleted with
the ``btrfs`` command (btrfs-progs); the ID a mount needs (``subvolid=``) comes from an
ioctl, the way containerd's btrfs package reads it.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import struct
import subprocess

from .... import errdefs

__all__ = ["create", "delete", "snapshot", "subvolume_id"]

# _IOWR(BTRFS_IOCTL_MAGIC 0x94, 18, struct btrfs_ioctl_ino_lookup_args /* 4096 bytes */)
_IOC_INO_LOOKUP = (3 << 30) | (4096 << 16) | (0x94 << 8) | 18
_FIRST_FREE_OBJECTID = 256  # the root directory of every subvolume


def _btrfs(*args: str) -> None:
    exe = shutil.which("btrfs")
    if exe is None:
        raise errdefs.FailedPrecondition("btrfs: the btrfs command (btrfs-progs) is not installed")
    r = subprocess.run([exe, *args], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise errdefs.Unknown(f"btrfs {' '.join(args)}: {r.stderr.strip() or r.stdout.strip()}")


def create(path: str | os.PathLike[str]) -> None:
    """A new, empty subvolume at ``path``."""
    _btrfs("subvolume", "create", os.fspath(path))


def snapshot(source: str | os.PathLike[str], target: str | os.PathLike[str], *, readonly: bool) -> None:
    """A copy-on-write snapshot of subvolume ``source`` at ``target``."""
    _btrfs("subvolume", "snapshot", *(["-r"] if readonly else []), os.fspath(source), os.fspath(target))


def delete(path: str | os.PathLike[str]) -> None:
    """Delete subvolume ``path`` (read-only ones too)."""
    _btrfs("subvolume", "delete", os.fspath(path))


def subvolume_id(path: str | os.PathLike[str]) -> int:
    """The subvolume ID of directory ``path`` (what ``mount -o subvolid=`` takes)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        args = bytearray(struct.pack("=QQ", 0, _FIRST_FREE_OBJECTID) + bytes(4080))
        fcntl.ioctl(fd, _IOC_INO_LOOKUP, args)
    finally:
        os.close(fd)
    return int(struct.unpack_from("=Q", args)[0])
