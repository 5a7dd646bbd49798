"""The btrfs snapshotter: each snapshot is a btrfs subvolume; children are copy-on-write snapshots.

Layout (containerd's)::

    <root>/metadata.db
    <root>/active/<id>       writable subvolumes (prepare)
    <root>/view/<id>         read-only snapshots (view)
    <root>/snapshots/<id>    committed layers: read-only snapshots of what was active

prepare(key, parent) snapshots ``snapshots/<parent id>`` into ``active/<id>`` - instant,
whatever the layer's size. commit() snapshots ``active/<id>`` read-only into
``snapshots/<id>`` and deletes the active one. The mount is the btrfs device itself with
``subvolid=<n>`` (plus ``ro`` for anything not active): the kernel shows just that subvolume.

The root must be on btrfs (see :mod:`.detect`); on this machine that means a loop-mounted
image, which is what the contract suite uses.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path

from .... import errdefs
from ....core.mount import Mount
from ....core.snapshots import Info, Kind, Usage, disk_usage
from ....core.snapshots.storage import MetaStore, Snapshot, utcnow
from ....errdefs import map_exceptions
from . import subvolume
from .detect import check_root

__all__ = ["BtrfsSnapshotter"]

_DIRS = {Kind.ACTIVE: "active", Kind.VIEW: "view", Kind.COMMITTED: "snapshots"}


def _changed_usage(parent: Path, child: Path) -> Usage:
    """What ``child`` adds to ``parent``: entries that are new or changed since the snapshot.

    A snapshot keeps inode numbers, so an entry whose (inode, ctime) still matches the
    parent's at the same path is shared, not counted (containerd's fs.DiffUsage, simplified).
    """
    size = inodes = 0
    for dirpath, dirnames, filenames in os.walk(child):
        for name in [*dirnames, *filenames]:
            c = os.lstat(os.path.join(dirpath, name))
            try:
                p = os.lstat(os.path.join(parent, os.path.relpath(dirpath, child), name))
                shared = (p.st_ino, p.st_ctime_ns) == (c.st_ino, c.st_ctime_ns)
            except FileNotFoundError:
                shared = False
            if not shared:
                size, inodes = size + c.st_blocks * 512, inodes + 1
    return Usage(size=size, inodes=inodes)


class BtrfsSnapshotter:
    """Snapshots as btrfs subvolumes under a root on btrfs.

    Raises:
        NotBtrfs: the root is not on btrfs (the plugin turns that into a skip).
    """

    def __init__(self, root: str | os.PathLike[str], *, clock: Callable[[], datetime] = utcnow) -> None:
        self.root = Path(root).absolute()
        self.device = check_root(self.root).source
        for d in _DIRS.values():
            (self.root / d).mkdir(mode=0o755, exist_ok=True)
        self._ms = MetaStore(self.root / "metadata.db", snapshotter="btrfs", clock=clock)
        self._recover()

    def _recover(self) -> None:
        """Finish removes a crash (or a busy subvolume) interrupted: ``rm-<id>`` subvolumes."""
        leftovers = [p for d in _DIRS.values() for p in (self.root / d).glob("rm-*")]
        if not leftovers:
            return
        with self._ms.transaction(writable=True) as tx:
            ids = tx.id_map()
            for path in leftovers:
                original = path.with_name(path.name.removeprefix("rm-"))
                if original.name in ids and not original.exists():
                    os.rename(path, original)  # the remove never committed
                else:
                    self._delete_quietly(path)

    @staticmethod
    def _delete_quietly(path: Path) -> None:
        # After a commit the record is gone whatever happens here; a subvolume still mounted
        # somewhere stays as rm-<id> and is deleted when the snapshotter next opens.
        try:
            subvolume.delete(path)
        except errdefs.PyctrdError:
            pass

    def __repr__(self) -> str:
        return f"<BtrfsSnapshotter {self.root} on {self.device}>"

    def _dir(self, kind: Kind, id_: str) -> Path:
        return self.root / _DIRS[kind] / id_

    def _mounts(self, s: Snapshot) -> list[Mount]:
        with map_exceptions(f"subvolume of snapshot {s.id}"):
            options = [f"subvolid={subvolume.subvolume_id(self._dir(s.kind, s.id))}"]
        if s.kind is not Kind.ACTIVE:
            options.append("ro")
        return [Mount("btrfs", self.device, options)]

    def stat(self, key: str) -> Info:
        with self._ms.transaction() as tx:
            return tx.get_info(key)[1]

    def update(self, info: Info, fieldpaths: Sequence[str] = ()) -> Info:
        with self._ms.transaction(writable=True) as tx:
            return tx.update_info(info, fieldpaths)

    def usage(self, key: str) -> Usage:
        with self._ms.transaction() as tx:
            id_, info, usage = tx.get_info(key)
            parent_id = tx.get_info(info.parent)[0] if info.kind is Kind.ACTIVE and info.parent else ""
        if info.kind is Kind.ACTIVE:
            with map_exceptions(f"usage of snapshot {key}"):
                active = self._dir(Kind.ACTIVE, id_)
                if parent_id:
                    return _changed_usage(self._dir(Kind.COMMITTED, parent_id), active)
                return disk_usage(active)
        return usage

    def mounts(self, key: str) -> list[Mount]:
        with self._ms.transaction() as tx:
            s = tx.get_snapshot(key)
        return self._mounts(s)

    def prepare(self, key: str, parent: str = "", labels: Mapping[str, str] | None = None) -> list[Mount]:
        return self._make(Kind.ACTIVE, key, parent, labels)

    def view(self, key: str, parent: str = "", labels: Mapping[str, str] | None = None) -> list[Mount]:
        return self._make(Kind.VIEW, key, parent, labels)

    def _make(self, kind: Kind, key: str, parent: str, labels: Mapping[str, str] | None) -> list[Mount]:
        with self._ms.transaction(writable=True) as tx:
            s = tx.create_snapshot(kind, key, parent, labels)
            target = self._dir(kind, s.id)
            if target.exists():  # left by a crash before its record committed
                subvolume.delete(target)
            if s.parent_ids:
                subvolume.snapshot(self._dir(Kind.COMMITTED, s.parent_ids[0]), target,
                                   readonly=kind is Kind.VIEW)
            else:
                subvolume.create(target)
            tx.on_rollback(lambda: subvolume.delete(target))
        return self._mounts(s)

    def commit(self, name: str, key: str, labels: Mapping[str, str] | None = None) -> None:
        usage = self.usage(key)
        with self._ms.transaction(writable=True) as tx:
            id_ = tx.commit_active(key, name, usage, labels)
            target = self._dir(Kind.COMMITTED, id_)
            subvolume.snapshot(self._dir(Kind.ACTIVE, id_), target, readonly=True)
            tx.on_rollback(lambda: subvolume.delete(target))
        self._delete_quietly(self._dir(Kind.ACTIVE, id_))

    def remove(self, key: str) -> None:
        with self._ms.transaction(writable=True) as tx:
            id_, kind = tx.remove(key)
            source = self._dir(kind, id_)
            removed = source.with_name(f"rm-{id_}")
            with map_exceptions(f"remove snapshot {key}"):
                os.rename(source, removed)  # a subvolume moves like a directory
            tx.on_rollback(lambda: os.rename(removed, source))
        self._delete_quietly(removed)

    def walk(self, *filters: str) -> Iterator[Info]:
        with self._ms.transaction() as tx:
            return iter(tx.walk(*filters))

    def close(self) -> None:
        self._ms.close()
