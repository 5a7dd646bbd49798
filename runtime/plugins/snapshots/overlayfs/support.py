"""What the kernel offers overlayfs here, checked the way containerd checks it.

- :func:`check_supported`: mount a tiny two-lowerdir overlay under the root and undo it;
  the plugin skips itself with the kernel's reason if that fails.
- :func:`supports_index`: the kernel has the ``index`` option, so mounts say ``index=off``
  (with the index on, a lower layer shared by two overlays would be refused).
- :func:`needs_userxattr`: inside a user namespace (rootless), overlay keeps its metadata
  in ``user.*`` xattrs and must be told so.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import tempfile
from pathlib import Path

from ....core.mount import Mount, mount_all, unmount_all

__all__ = ["OverlayUnsupported", "check_supported", "needs_userxattr", "running_in_userns", "supports_index"]

_TMPFS_MAGIC = 0x01021994


class OverlayUnsupported(Exception):
    """overlayfs cannot be used under the given root; the message says why."""


def supports_index() -> bool:
    """Whether this kernel's overlay has the ``index`` feature (containerd looks at sysfs too)."""
    return os.path.exists("/sys/module/overlay/parameters/index")


def running_in_userns() -> bool:
    """True unless this process sees the whole uid range (the initial user namespace)."""
    try:
        with open("/proc/self/uid_map", encoding="ascii") as f:
            return f.read().split() != ["0", "0", "4294967295"]
    except OSError:
        return False


def needs_userxattr(root: str | os.PathLike[str]) -> bool:
    """Whether mounts need ``userxattr``: in a user namespace on kernels >= 5.11, not on tmpfs."""
    if not running_in_userns():
        return False
    if _fs_magic(root) == _TMPFS_MAGIC:
        return False
    major, minor = (int(x) for x in os.uname().release.split(".")[:2])
    return (major, minor) >= (5, 11)


def _fs_magic(path: str | os.PathLike[str]) -> int:
    buf = ctypes.create_string_buffer(120)  # struct statfs; f_type is its first long
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.statfs(os.fsencode(os.fspath(path)), buf) != 0:
        return 0
    return ctypes.c_long.from_buffer(buf).value & 0xFFFFFFFF


def check_supported(root: str | os.PathLike[str]) -> None:
    """Mount and unmount an overlay with two lowerdirs in a temporary directory under ``root``.

    Raises:
        OverlayUnsupported: the mount failed (the kernel's reason is in the message).
    """
    Path(root).mkdir(mode=0o700, parents=True, exist_ok=True)
    td = Path(tempfile.mkdtemp(prefix="multiple-lowerdir-check", dir=root))
    try:
        for d in ("lower1", "lower2", "upper", "work", "merged"):
            (td / d).mkdir()
        opts = f"lowerdir={td}/lower2:{td}/lower1,upperdir={td}/upper,workdir={td}/work"
        try:
            mount_all([Mount("overlay", "overlay", [opts])], td / "merged")
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise OverlayUnsupported(f"failed to mount overlay: {reason}") from exc
        unmount_all(td / "merged")
    finally:
        shutil.rmtree(td, ignore_errors=True)
