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
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..errdefs import InvalidArgument

__all__ = ["Mount", "MountInfo", "lookup", "mount_all", "parse_options", "temp_mount", "unmount",
           "unmount_all"]

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_SYNCHRONOUS, MS_REMOUNT, MS_MANDLOCK, MS_DIRSYNC = 16, 32, 64, 128
MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_MOVE, MS_REC = 1024, 2048, 4096, 8192, 16384
MS_SILENT, MS_UNBINDABLE, MS_PRIVATE, MS_SLAVE, MS_SHARED = 32768, 1 << 17, 1 << 18, 1 << 19, 1 << 20
MS_RELATIME, MS_STRICTATIME = 1 << 21, 1 << 24
MNT_DETACH = 2
CLONE_FS = 0x200

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
    """Shorten lowerdirs relative to their common parent directory, as containerd does.

    A mount's data must fit in one page, and 128 lowerdirs with absolute paths do not::

        lowerdir=/r/snapshots/3/fs:/r/snapshots/2/fs  ->  cwd /r/snapshots/, lowerdir=3/fs:2/fs

    Returns (new options, directory to mount from) or None when nothing can be shortened.

    >>> _compact_overlay(["workdir=/r/s/9/work", "lowerdir=/r/s/12/fs:/r/s/11/fs"])
    (['workdir=/r/s/9/work', 'lowerdir=12/fs:11/fs'], '/r/s/')
    """
    idx = next((i for i, o in enumerate(options) if o.startswith("lowerdir=")), -1)
    if idx < 0:
        return None
    dirs = options[idx][len("lowerdir="):].split(":")
    if len(dirs) < 2:
        return None
    # The snapshot IDs are digits, so the common string prefix may end inside one
    # ("/r/s/1" for 12 and 11): step back to its directory.
    common = os.path.dirname(os.path.commonprefix(dirs))  # noqa: RUF071 - see above
    if common in ("", "/"):
        return None
    common += "/"
    rel = ":".join(d[len(common):] for d in dirs)
    return [*options[:idx], f"lowerdir={rel}", *options[idx + 1:]], common


def _mount_from(cwd: str, source: str, target: str, fstype: str, flags: int, data: str) -> None:
    """mount(2) with relative paths resolved against ``cwd``, without moving this process.

    chdir is process-wide, and other threads of the daemon rely on the working directory, so
    a short-lived thread first unshares its filesystem context (CLONE_FS): its chdir is its own.
    """
    failure: list[BaseException] = []

    def run() -> None:
        try:
            if _libc.unshare(CLONE_FS) != 0:
                e = ctypes.get_errno()
                raise OSError(e, f"unshare(CLONE_FS): {os.strerror(e)}")
            os.chdir(cwd)
            _sys_mount(source, target, fstype, flags, data)
        except BaseException as exc:
            failure.append(exc)

    worker = threading.Thread(target=run, name="pyctrd-mount-at")
    worker.start()
    worker.join()
    if failure:
        raise failure[0]


def mount_all(mounts: Sequence[Mount], target: str | os.PathLike[str]) -> None:
    """Mount each of ``mounts`` on ``target`` in order (later ones on top).

    Raises:
        InvalidArgument: the options do not fit in a page even after compaction.
        OSError: mount(2) failed (wrap with errdefs.map_exceptions where it matters).
    """
    t = os.path.abspath(os.fspath(target))
    for m in mounts:
        options: Sequence[str] = m.options
        cwd = ""
        if m.type == "overlay" and sum(len(o) + 1 for o in options) >= _PAGE - 512:
            compact = _compact_overlay(options)
            if compact is not None:
                options, cwd = compact
        flags, prop, data = parse_options(options)
        if len(data) > _PAGE:
            raise InvalidArgument(f"mount options is too long ({len(data)} bytes)")
        fstype = "" if flags & MS_BIND else m.type
        first = flags & ~MS_RDONLY if flags & MS_BIND else flags
        if cwd:
            _mount_from(cwd, m.source, t, fstype, first, data)
        else:
            _sys_mount(m.source, t, fstype, first, data)
        if flags & MS_BIND and flags & MS_RDONLY:
            # A bind mount ignores MS_RDONLY until it is remounted.
            _sys_mount("", t, "", flags | MS_REMOUNT, "")
        if prop:
            _sys_mount("", t, "", prop, "")


def _umount_once(target: bytes, detach: bool) -> bool:
    """One umount2; False when ``target`` is not (or no longer) a mount point."""
    for _ in range(50):
        if _libc.umount2(target, MNT_DETACH if detach else 0) == 0:
            return True
        e = ctypes.get_errno()
        if e in (errno.EINVAL, errno.ENOENT):
            return False
        if e != errno.EBUSY:
            raise OSError(e, f"umount {os.fsdecode(target)}: {os.strerror(e)}")
        detach = True  # busy: fall back to a lazy unmount
    raise OSError(errno.EBUSY, f"umount {os.fsdecode(target)}: busy")


def unmount(target: str | os.PathLike[str], *, detach: bool = False) -> None:
    """Unmount ``target`` once; EINVAL (not a mount point) and ENOENT are ignored."""
    _umount_once(os.fsencode(os.fspath(target)), detach)


def unmount_all(target: str | os.PathLike[str]) -> None:
    """Unmount every mount stacked on ``target``, until it is no longer a mount point.

    The loop asks the kernel rather than os.path.ismount: a bind mount from the same
    filesystem (native snapshots) has the same st_dev as its parent and looks unmounted.
    """
    t = os.fsencode(os.path.realpath(os.fspath(target)))
    for _ in range(64):
        if not _umount_once(t, False):
            return
    raise OSError(errno.EBUSY, f"umount {os.fsdecode(t)}: still mounted after 64 unmounts")


@dataclass(frozen=True)
class MountInfo:
    """One line of /proc/self/mountinfo: where, what filesystem, from which source."""

    mountpoint: str
    fstype: str
    source: str
    options: str = ""

    def __repr__(self) -> str:
        return f"<MountInfo {self.mountpoint} {self.fstype} {self.source}>"


def _unescape(field_: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as octal: "\040".
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field_)


def lookup(path: str | os.PathLike[str], mountinfo: str = "/proc/self/mountinfo") -> MountInfo:
    """The mount that holds ``path`` (which need not exist), like containerd's mount.Lookup.

    >>> lookup("/proc/self").fstype
    'proc'
    """
    p = os.path.realpath(os.fspath(path))
    best: MountInfo | None = None
    with open(mountinfo, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            mp = _unescape(fields[4])
            inside = p == mp or p.startswith(mp.rstrip("/") + "/")
            # Later lines are mounted on top of earlier ones at the same point.
            if inside and (best is None or len(mp) >= len(best.mountpoint)):
                best = MountInfo(mp, fields[sep + 1], _unescape(fields[sep + 2]), fields[sep + 3])
    if best is None:
        raise OSError(errno.ENOENT, f"no mount holds {p}")
    return best


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
