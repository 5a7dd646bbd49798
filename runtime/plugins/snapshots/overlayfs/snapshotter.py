"""The overlayfs snapshotter: each snapshot stores only its changes; the kernel stacks them.

Layout (compare ``tree`` of a real containerd root)::

    <root>/metadata.db             (with SQLite's -wal and -shm beside it while open)
    <root>/snapshots/2/fs          layer 1's files
    <root>/snapshots/3/fs          layer 2's changes only (a deleted file is a 0/0 char device)
    <root>/snapshots/6/fs          container c1's writes (the "upperdir")
    <root>/snapshots/6/work        overlay's scratch space ("workdir"), only for active ones

Mounts, by case (as containerd builds them, in the same option order):

- no parent: a bind of the snapshot's own ``fs`` (``rw,rbind``; ``ro,rbind`` for a view);
- a view with one parent: a read-only bind of the parent's ``fs`` - nothing to stack;
- otherwise ``overlay`` with ``index=off`` (when the kernel has that feature), then for
  an active snapshot ``workdir=`` and ``upperdir=``, and ``lowerdir=`` listing the
  parents nearest first - the top of the stack comes first.

>>> import tempfile
>>> tmp = tempfile.TemporaryDirectory()
>>> sn = OverlaySnapshotter(tmp.name, index_off=True)
>>> sn.prepare("base-a")
[<Mount bind /tmp/.../snapshots/1/fs rw,rbind>]
>>> sn.commit("base", "base-a")
>>> sn.prepare("c1", "base")
[<Mount overlay overlay index=off,workdir=/tmp/.../snapshots/2/work,upperdir=/tmp/.../snapshots/2/fs,lowerdir=/tmp/.../snapshots/1/fs>]
>>> sn.close(); tmp.cleanup()
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from ....core.mount import Mount
from ....core.snapshots import Info, Kind
from ....core.snapshots.storage import Snapshot, Transaction, utcnow
from ..local import LocalSnapshotter
from .support import needs_userxattr, supports_index

__all__ = ["UPPERDIR_LABEL", "OverlaySnapshotter"]

#: With ``upperdir_label``, stat/update/walk add this label: the snapshot's ``fs`` path.
UPPERDIR_LABEL = "containerd.io/snapshot/overlay.upperdir"


class OverlaySnapshotter(LocalSnapshotter):
    """Snapshots as overlayfs layers under ``<root>/snapshots/<id>/{fs,work}``.

    Args:
        root: the snapshotter's directory.
        upperdir_label: add :data:`UPPERDIR_LABEL` to the Infos handed out.
        async_remove: remove() drops only the record; :meth:`cleanup` (called by garbage
            collection) deletes the directories later. containerd's plugin turns this on.
        index_off: add ``index=off`` to overlay mounts (default: when the kernel has it).
        userxattr: add ``userxattr`` (default: when rootless on a kernel that needs it).
        clock: the time source for created/updated.
    """

    def __init__(self, root: str | Path, *, upperdir_label: bool = False, async_remove: bool = False,
                 index_off: bool | None = None, userxattr: bool | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        super().__init__(root, name="overlayfs", clock=clock)
        self.upperdir_label = upperdir_label
        self.async_remove = async_remove
        self.index_off = supports_index() if index_off is None else index_off
        self.userxattr = needs_userxattr(self.root) if userxattr is None else userxattr

    def upper_path(self, id_: str) -> Path:
        return self.snapshot_dir(id_) / "fs"

    def work_path(self, id_: str) -> Path:
        return self.snapshot_dir(id_) / "work"

    def _data_dir(self, id_: str) -> Path:
        return self.upper_path(id_)

    def _populate(self, td: Path, s: Snapshot) -> None:
        (td / "fs").mkdir()
        os.chmod(td / "fs", 0o755)  # explicit: the umask must not decide a rootfs' mode
        if s.kind is Kind.ACTIVE:
            (td / "work").mkdir()
            os.chmod(td / "work", 0o711)
        if s.parent_ids:
            # The new upper dir belongs to whoever owns the layer below (user-namespaced
            # images have their root directory owned by a mapped uid).
            st = os.stat(self.upper_path(s.parent_ids[0]))
            os.lchown(td / "fs", st.st_uid, st.st_gid)

    def _mounts(self, s: Snapshot) -> list[Mount]:
        if not s.parent_ids:
            mode = "ro" if s.kind is Kind.VIEW else "rw"
            return [Mount("bind", str(self.upper_path(s.id)), [mode, "rbind"])]
        options = []
        if self.index_off:
            options.append("index=off")
        if self.userxattr:
            options.append("userxattr")
        if s.kind is Kind.ACTIVE:
            options += [f"workdir={self.work_path(s.id)}", f"upperdir={self.upper_path(s.id)}"]
        elif len(s.parent_ids) == 1:
            return [Mount("bind", str(self.upper_path(s.parent_ids[0])), ["ro", "rbind"])]
        options.append("lowerdir=" + ":".join(str(self.upper_path(p)) for p in s.parent_ids))
        return [Mount("overlay", "overlay", options)]

    def _decorate(self, id_: str, info: Info) -> Info:
        if not self.upperdir_label:
            return info
        return replace(info, labels={**info.labels, UPPERDIR_LABEL: str(self.upper_path(id_))})

    def _after_remove(self, tx: Transaction, id_: str) -> list[Path]:
        # Synchronous remove sweeps every unreferenced directory once the record is gone,
        # as containerd does; asynchronous remove leaves that to cleanup().
        return [] if self.async_remove else self._orphans(tx)

    def cleanup(self) -> None:
        """Delete directories left by asynchronous removes (and by crashes).

        Raises:
            Unknown: the snapshots directory cannot be listed.
        """
        with self._ms.transaction(writable=True) as tx:
            garbage = self._orphans(tx)
            for path in garbage:  # under the write lock: no create can be half-way
                shutil.rmtree(path, ignore_errors=True)
