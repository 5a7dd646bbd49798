"""The root filesystem every benchmark container runs from: Debian's static busybox.

Made once per benchmark run and named by each container's spec as ``root.path`` (read-only),
so containerd and pyctrd start identical containers from one directory, and ``runc`` alone
(the floor) uses the same one.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..errdefs import NotFound, map_exceptions

__all__ = ["BUSYBOX", "make_rootfs"]

BUSYBOX = "/usr/bin/busybox"
APPLETS = ("sh", "sleep", "true", "echo", "cat")


def make_rootfs(path: str | os.PathLike[str]) -> Path:
    """``path/bin/busybox`` (hard-linked when possible) with a few applets, and ``/etc/passwd``.

    Raises:
        NotFound: busybox-static is not installed.
        AlreadyExists: ``path`` exists already.
    """
    if not os.path.exists(BUSYBOX):
        raise NotFound(f"{BUSYBOX} (apt-get install busybox-static)")
    root = Path(path)
    with map_exceptions(f"rootfs {root}"):
        (root / "bin").mkdir(parents=True)
        (root / "etc").mkdir()
        try:
            os.link(BUSYBOX, root / "bin" / "busybox")
        except OSError:
            shutil.copy(BUSYBOX, root / "bin" / "busybox")
        for applet in APPLETS:
            (root / "bin" / applet).symlink_to("busybox")
        (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
        (root / "etc" / "group").write_text("root:x:0:\n")
    return root
