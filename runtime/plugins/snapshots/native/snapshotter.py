"""The native snapshotter: every snapshot is a full copy of its parent, shown by a bind mount.

The simplest snapshotter that works on any filesystem, and the easiest to look inside::

    <root>/metadata.db
    <root>/snapshots/1/          layer 1: its files
    <root>/snapshots/2/          layer 2: a copy of 1, then layer 2's changes applied
    <root>/snapshots/3/          container c1: a copy of 2 - writes go straight here

prepare() copies the parent's tree (:func:`~.copy.copy_tree`); the mount is a recursive
bind of the snapshot's own directory (``rbind``, ``rw``). A view of a committed snapshot
gets no copy: it is a read-only bind of the parent's directory. The price is disk space
and prepare time proportional to the image size; the gain is that nothing but ``bind``
is needed from the kernel.

>>> import tempfile
>>> tmp = tempfile.TemporaryDirectory()
>>> sn = NativeSnapshotter(tmp.name)
>>> sn.prepare("k1")
[<Mount bind /tmp/.../snapshots/1 rbind,rw>]
>>> sn.close(); tmp.cleanup()
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from ....core.mount import Mount
from ....core.snapshots import Kind
from ....core.snapshots.storage import Snapshot, utcnow
from ..local import LocalSnapshotter
from .copy import copy_tree

__all__ = ["NativeSnapshotter"]


class NativeSnapshotter(LocalSnapshotter):
    """Snapshots as plain directory copies under ``<root>/snapshots/<id>``.

    Args:
        root: the snapshotter's directory (``<root>/io.containerd.snapshotter.v1.native``).
        clock: the time source for created/updated.
    """

    def __init__(self, root: str | Path, *, clock: Callable[[], datetime] = utcnow) -> None:
        super().__init__(root, name="native", clock=clock)

    def _data_dir(self, id_: str) -> Path:
        return self.snapshot_dir(id_)

    def _needs_dir(self, kind: Kind, parent: str) -> bool:
        # A view of a parent reads the parent's own directory; everything else owns one.
        return kind is Kind.ACTIVE or not parent

    def _populate(self, td: Path, s: Snapshot) -> None:
        if s.parent_ids:
            copy_tree(self.snapshot_dir(s.parent_ids[0]), td)

    def _mounts(self, s: Snapshot) -> list[Mount]:
        own = not s.parent_ids or s.kind is Kind.ACTIVE
        source = self.snapshot_dir(s.id if own else s.parent_ids[0])
        return [Mount("bind", str(source), ["rbind", "ro" if s.kind is Kind.VIEW else "rw"])]
