"""Owner, mode, xattrs and times of applied entries, set without ever following a symlink.

Order matters and follows containerd: owner first (``chown`` clears setuid/setgid), then
xattrs, then mode, then times. A symlink gets owner, xattrs and times on the link itself
(Linux links have no mode). Anything else is pinned with an ``O_PATH`` descriptor and
changed through ``/proc/self/fd/N``, so a device or fifo is never opened for I/O.

>>> from .tarstream import TarEntry
>>> entry_times(TarEntry("f", "file", mtime_ns=5, atime_ns=2))  # atime is never before mtime
(5, 5)
"""
from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence

from .limits import ApplyStats, ArchiveError
from .rootfs import Root, proc_path
from .tarstream import TarEntry

__all__ = ["copy_lower_dir_metadata", "entry_times", "in_user_namespace", "set_metadata", "set_xattrs"]

_NOFOLLOW_PATH = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
_MAX_NS = (1 << 63) - 1


def in_user_namespace() -> bool:
    """True inside a user namespace (device nodes cannot be made there; containerd skips them)."""
    try:
        with open("/proc/self/uid_map") as f:
            return f.read().split() != ["0", "0", "4294967295"]
    except OSError:
        return False


def entry_times(e: TarEntry) -> tuple[int, int]:
    """(atime, mtime) in ns: clamped to [epoch, 2^63), atime at least mtime (containerd's rule)."""
    mtime = min(max(e.mtime_ns, 0), _MAX_NS)
    atime = mtime if e.atime_ns is None else min(max(e.atime_ns, mtime, 0), _MAX_NS)
    return atime, mtime


def set_xattrs(e: TarEntry, target: int | str, stats: ApplyStats, *, follow: bool = True) -> None:
    """The entry's xattrs; ``trusted.*`` never comes from a layer (it would be overlayfs's own)."""
    for key, value in e.xattrs.items():
        if key.startswith("trusted."):
            stats.skipped_xattrs += 1
            continue
        try:
            os.setxattr(target, key, value, follow_symlinks=follow)
        except OSError as exc:
            # user.* is refused on symlinks and devices; some filesystems lack xattrs
            if exc.errno == errno.EOPNOTSUPP or (exc.errno == errno.EPERM and key.startswith("user.")):
                stats.skipped_xattrs += 1
                continue
            if exc.errno in (errno.EINVAL, errno.E2BIG, errno.ERANGE, errno.ENAMETOOLONG):
                raise ArchiveError(f"{e.name[:80]!r}: xattr {key[:80]!r} ({len(value)} bytes): "
                                   f"{exc.strerror}", stats) from exc
            raise


def set_metadata(e: TarEntry, pfd: int, base: str, stats: ApplyStats, *, times: bool) -> None:
    """Owner, xattrs, mode and (unless ``times`` is False) times on ``pfd/base``."""
    st = os.stat(base, dir_fd=pfd, follow_symlinks=False)
    if stat.S_ISLNK(st.st_mode):
        os.chown(base, e.uid, e.gid, dir_fd=pfd, follow_symlinks=False)
        set_xattrs(e, proc_path(pfd, base), stats, follow=False)
        if times:
            os.utime(base, ns=entry_times(e), dir_fd=pfd, follow_symlinks=False)
        return
    fd = os.open(base, _NOFOLLOW_PATH, dir_fd=pfd)  # pins this inode; nothing is opened for I/O
    try:
        p = proc_path(fd)
        os.chown(p, e.uid, e.gid)
        set_xattrs(e, p, stats)
        os.chmod(p, e.mode)
        if times:
            os.utime(p, ns=entry_times(e))
    finally:
        os.close(fd)


def copy_lower_dir_metadata(fd: int, parts: tuple[str, ...], lowers: Sequence[str]) -> None:
    """A parent directory a layer did not list takes its metadata from the first lower
    directory (top first) that has it - so an overlay upperdir does not hide the lower's
    owner and mode behind a default 0755 root:root (containerd's ``mkparent``)."""
    for lower in lowers:
        if not os.path.isdir(lower):
            continue
        with Root(lower) as lr:
            lfd, _ = lr.resolve(list(parts[:-1]))
            if lfd is None:
                continue
            try:
                try:
                    st = os.stat(parts[-1], dir_fd=lfd, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if not stat.S_ISDIR(st.st_mode):
                    return  # replaced below: keep the defaults
                src = os.open(parts[-1], _NOFOLLOW_PATH, dir_fd=lfd)
            finally:
                os.close(lfd)
            try:
                p, q = proc_path(fd), proc_path(src)
                os.chown(p, st.st_uid, st.st_gid)
                os.chmod(p, stat.S_IMODE(st.st_mode))
                for key in os.listxattr(q):
                    if not key.startswith("trusted."):
                        os.setxattr(p, key, os.getxattr(q, key))
                os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
            finally:
                os.close(src)
            return
