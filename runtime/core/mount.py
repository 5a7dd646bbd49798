"""Mounts: how a snapshot becomes a directory tree.

A snapshotter never mounts anything itself: it *describes* mounts (containerd's
``types.Mount``) and whoever needs the files mounts them. For overlayfs::

    Mount(type="overlay", source="overlay",
          options=["index=off", "workdir=…/snapshots/6/work", "upperdir=…/snapshots/6/fs",
                   "lowerdir=…/snapshots/2/fs"])

:func:`mount_all` performs them on a target, :func:`unmount` undoes one, and
:func:`temp_mount` does both around a block (what the differ uses to apply a layer).

>>> Mount("bind", "/src", ["ro", "rbind"])
<Mount bind /src ro,rbind>
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..errdefs import InvalidArgument, Unknown

__all__ = ["Mount", "mount_all", "parse_options", "temp_mount", "unmount", "unmount_all"]

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_SYNCHRONOUS, MS_REMOUNT, MS_MANDLOCK, MS_DIRSYNC = 16, 32, 64, 128
MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_MOVE, MS_REC = 1024, 2048, 4096, 8192, 16384
MS_SILENT, MS_UNBINDABLE, MS_PRIVATE, MS_SLAVE, MS_SHARED = 32768, 1 << 17, 1 << 18, 1 << 19, 1 << 20
MS_RELATIME, MS_STRICTATIME = 1 << 21, 1 << 24
MNT_DETACH = 2

# option -> (clear?, flag), as containerd's mount_linux.go parses them
_FLAGS: dict[str, tuple[bool, int]] = {
    "async": (True, MS_SYNCHRONOUS), "atime": (True, MS_NOATIME), "bind": (False, MS_BIND),
    "defaults": (False, 0), "dev": (True, MS_NODEV), "diratime": (True, MS_NODIRATIME),
    "dirsync": (False, MS_DIRSYNC), "exec": (True, MS_NOEXEC), "mand": (False, MS_MANDLOCK),
    "noatime": (False, MS_NOATIME), "nodev": (False, MS_NODEV), "nodiratime": (False, MS_NODIRATIME),
    "noexec": (False, MS_NOEXEC), "nomand": (True, MS_MANDLOCK), "norelatime": (True, MS_RELATIME),
    "nostrictatime": (True, MS_STRICTATIME), "nosuid": (False, MS_NOSUID), "rbind": (False, MS_BIND | MS_REC),
    "relatime": (False, MS_RELATIME), "remount": (False, MS_REMOUNT), "ro": (False, MS_RDONLY),
    "rw": (True, MS_RDONLY), "strictatime": (False, MS_STRICTATIME), "suid": (True, MS_NOSUID),
    "sync": (False, MS_SYNCHRONOUS),
}
_PROPAGATION = {"private": MS_PRIVATE, "rprivate": MS_PRIVATE | MS_REC, "shared": MS_SHARED,
                "rshared": MS_SHARED | MS_REC, "slave": MS_SLAVE, "rslave": MS_SLAVE | MS_REC,
                "unbindable": MS_UNBINDABLE, "runbindable": MS_UNBINDABLE | MS_REC}

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Mount:
    """One mount: ``type`` (overlay, bind, …), ``source`` and ``options``."""

    type: str
    source: str
    options: Sequence[str] = field(default_factory=tuple)
    target: str = ""

    def __repr__(self) -> str:
        return f"<Mount {self.type} {self.source} {','.join(self.options)}>"

    def to_json(self) -> dict[str, object]:
        return {"type": self.type, "source": self.source, "options": list(self.options)}


def parse_options(options: Sequence[str]) -> tuple[int, int, str]:
    """Split options into (flags, propagation flags, data string)."""
    flags, prop, data = 0, 0, []
    for o in options:
        if o in _FLAGS:
            clear, f = _FLAGS[o]
            flags = flags & ~f if clear else flags | f
        elif o in _PROPAGATION:
            prop |= _PROPAGATION[o]
        else:
            data.append(o)
    return flags, prop, ",".join(data)


def _sys_mount(source: str, target: str, fstype: str, flags: int, data: str) -> None:
    rc = _libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None,
                     ctypes.c_ulong(flags), data.encode() if data else None)
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"mount {fstype} {source} on {target} ({data[:200]}): {os.strerror(e)}")


def _compact_overlay(options: Sequence[str]) -> tuple[list[str], str] | None:
    """Overlay option strings longer than a page fail; shorten lowerdirs relative to a common dir."""
    lower = [o for o in options if o.startswith("lowerdir=")]
    if not lower:
        return None
    dirs = lower[0][len("lowerdir="):].split(":")
    # /x/snapshots/1/fs:/x/snapshots/2/fs -> cwd /x/snapshots, lowerdir=1/fs:2/fs
    common = os.path.commonpath(dirs) if len(dirs) > 1 else os.path.dirname(os.path.dirname(dirs[0]))
    rel = [os.path.relpath(d, common) for d in dirs]
    new = [("lowerdir=" + ":".join(rel)) if o.startswith("lowerdir=") else o for o in options]
    return new, common


def mount_all(mounts: Sequence[Mount], target: str | os.PathLike[str]) -> None:
    """Mount each of ``mounts`` on ``target`` in order (later ones on top)."""
    t = os.fspath(target)
    for m in mounts:
        flags, prop, data = parse_options(m.options)
        if m.type == "overlay" and len(data) >= _PAGE - 512:
            compact = _compact_overlay(m.options)
            if compact is None:
                raise InvalidArgument(f"overlay mount options too long ({len(data)} bytes)")
            opts, cwd = compact
            # chdir is process-wide; let a child process do it instead of this (threaded) one.
            r = subprocess.run(["mount", "-t", "overlay", "-o", ",".join(opts), m.source or "overlay", t],
                               cwd=cwd, capture_output=True, text=True)
            if r.returncode != 0:
                raise Unknown(f"mount overlay on {t}: {r.stderr.strip()}")
            continue
        fstype = "" if flags & MS_BIND else m.type
        _sys_mount(m.source, t, fstype, flags & ~MS_RDONLY if flags & MS_BIND else flags, data)
        if flags & MS_BIND and flags & MS_RDONLY:
            # A bind mount ignores MS_RDONLY until it is remounted.
            _sys_mount("", t, "", flags | MS_REMOUNT, "")
        if prop:
            _sys_mount("", t, "", prop, "")


def unmount(target: str | os.PathLike[str], *, detach: bool = False) -> None:
    """Unmount ``target`` once; EINVAL (not a mount point) and ENOENT are ignored."""
    t = os.fspath(target).encode()
    for _ in range(50):
        if _libc.umount2(t, MNT_DETACH if detach else 0) == 0:
            return
        e = ctypes.get_errno()
        if e in (errno.EINVAL, errno.ENOENT):
            return
        if e != errno.EBUSY:
            raise OSError(e, f"umount {os.fsdecode(t)}: {os.strerror(e)}")
        detach = True  # busy: fall back to a lazy unmount
    raise OSError(errno.EBUSY, f"umount {os.fsdecode(t)}: busy")


def _is_mount_point(path: str) -> bool:
    """From /proc/self/mountinfo: os.path.ismount misses bind mounts within one filesystem."""
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            mp = line.split(b" ", 5)[4]
            # mountinfo escapes space, tab, newline and backslash as octal
            if re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m[1], 8)]), mp) == os.fsencode(path):
                return True
    return False


def unmount_all(target: str | os.PathLike[str]) -> None:
    """Unmount every mount stacked on ``target`` (until it is no longer a mount point)."""
    t = os.path.realpath(os.fspath(target))
    for _ in range(64):
        if not _is_mount_point(t):
            return
        unmount(t)


@contextmanager
def temp_mount(mounts: Sequence[Mount], *, prefix: str = "pyctrd-mount-",
               base: str | None = None) -> Iterator[Path]:
    """Mount ``mounts`` on a fresh temporary directory for the duration of the block."""
    d = tempfile.mkdtemp(prefix=prefix, dir=base)
    try:
        mount_all(mounts, d)
        try:
            yield Path(d)
        finally:
            unmount_all(d)
    finally:
        try:
            os.rmdir(d)
        except OSError:
            pass
