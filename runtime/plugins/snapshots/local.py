"""What native and overlayfs share: a root directory, ``<root>/metadata.db`` and ``<root>/snapshots/<id>``.

:class:`LocalSnapshotter` implements the Snapshotter operations that only touch metadata or
measure a directory (stat, update, usage, mounts, walk, commit, close) plus the careful
create/remove sequence; a subclass says where a snapshot's files are (:meth:`_data_dir`),
how to lay out a new one (:meth:`_populate`) and which mounts show it (:meth:`_mounts`).

The create sequence, shared by both (containerd's)::

    with metadata.transaction(writable=True):
        s = create record (fresh ID)             # AlreadyExists/NotFound: nothing on disk changes
        td = mkdtemp(<root>/snapshots, "new-")    # build the files where nobody looks
        fill td (copy the parent, make fs/ and work/, ...)
        rename td -> <root>/snapshots/<s.id>      # the directory appears in one step
    # commit; if anything failed, td (or the renamed dir) is deleted and the record never was
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path

from ...core.mount import Mount
from ...core.snapshots import Info, Kind, Usage, disk_usage
from ...core.snapshots.storage import MetaStore, Snapshot, Transaction, utcnow
from ...errdefs import map_exceptions

__all__ = ["LocalSnapshotter"]


class LocalSnapshotter:
    """Base of the snapshotters that keep files under a local root directory.

    Args:
        root: the snapshotter's directory (created 0700 if missing).
        name: shown in Info reprs (``<Snapshot native:k1 ACTIVE>``).
        clock: the time source for created/updated (inject one in tests).
    """

    def __init__(self, root: str | os.PathLike[str], *, name: str,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.root = Path(root).absolute()
        self.name = name
        with map_exceptions(f"snapshotter root {self.root}"):
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            (self.root / "snapshots").mkdir(mode=0o700, exist_ok=True)
        self._ms = MetaStore(self.root / "metadata.db", snapshotter=name, clock=clock)
        self._recover()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.root}>"

    def _recover(self) -> None:
        """Finish what a crash interrupted: ``new-*`` directories are half-built creates (never
        recorded); ``rm-<id>`` ones are removes that either committed (delete) or did not
        (move back). Only touches the database when such leftovers exist."""
        snapshots = self.root / "snapshots"
        with map_exceptions(f"list {snapshots}"):
            leftovers = [p for p in snapshots.iterdir() if p.name.startswith(("new-", "rm-"))]
        if not leftovers:
            return
        with self._ms.transaction(writable=True) as tx, map_exceptions(f"recover {snapshots}"):
            ids = tx.id_map()
            for path in leftovers:
                id_ = path.name.removeprefix("rm-")
                if path.name.startswith("rm-") and id_ in ids and not (snapshots / id_).exists():
                    os.rename(path, snapshots / id_)
                else:
                    shutil.rmtree(path, ignore_errors=True)

    # -- what a subclass provides -------------------------------------------------------

    def _data_dir(self, id_: str) -> Path:
        """The directory whose size usage() reports (and commit() stores)."""
        raise NotImplementedError

    def _needs_dir(self, kind: Kind, parent: str) -> bool:
        """Whether a new snapshot gets a directory of its own."""
        return True

    def _populate(self, td: Path, s: Snapshot) -> None:
        """Fill the temporary directory of new snapshot ``s`` (inside its transaction)."""

    def _mounts(self, s: Snapshot) -> list[Mount]:
        raise NotImplementedError

    def _decorate(self, id_: str, info: Info) -> Info:
        """Hook to add computed labels to an Info (overlayfs' upperdir label)."""
        return info

    # -- the Snapshotter operations -----------------------------------------------------

    def snapshot_dir(self, id_: str) -> Path:
        return self.root / "snapshots" / id_

    def stat(self, key: str) -> Info:
        with self._ms.transaction() as tx:
            id_, info, _ = tx.get_info(key)
        return self._decorate(id_, info)

    def update(self, info: Info, fieldpaths: Sequence[str] = ()) -> Info:
        with self._ms.transaction(writable=True) as tx:
            updated = tx.update_info(info, fieldpaths)
            id_ = tx.get_info(info.name)[0]
        return self._decorate(id_, updated)

    def usage(self, key: str) -> Usage:
        with self._ms.transaction() as tx:
            id_, info, usage = tx.get_info(key)
        if info.kind is Kind.ACTIVE:
            with map_exceptions(f"usage of snapshot {key}"):
                usage = disk_usage(self._data_dir(id_))
        return usage

    def mounts(self, key: str) -> list[Mount]:
        with self._ms.transaction() as tx:
            s = tx.get_snapshot(key)
        return self._mounts(s)

    def prepare(self, key: str, parent: str = "", labels: Mapping[str, str] | None = None
                ) -> list[Mount]:
        return self._create(Kind.ACTIVE, key, parent, labels)

    def view(self, key: str, parent: str = "", labels: Mapping[str, str] | None = None
             ) -> list[Mount]:
        return self._create(Kind.VIEW, key, parent, labels)

    def commit(self, name: str, key: str, labels: Mapping[str, str] | None = None) -> None:
        with self._ms.transaction(writable=True) as tx:
            id_, info, _ = tx.get_info(key)
            usage = Usage()
            if info.kind is Kind.ACTIVE:  # others are refused below; they may have no directory
                with map_exceptions(f"usage of snapshot {key}"):
                    usage = disk_usage(self._data_dir(id_))
            tx.commit_active(key, name, usage, labels)

    def remove(self, key: str) -> None:
        with self._ms.transaction(writable=True) as tx:
            id_, _ = tx.remove(key)
            garbage = self._after_remove(tx, id_)
        for path in garbage:
            shutil.rmtree(path, ignore_errors=True)

    def _after_remove(self, tx: Transaction, id_: str) -> list[Path]:
        """Inside remove's transaction: directories to delete once it has committed.

        The default moves ``snapshots/<id>`` aside to ``rm-<id>`` first, so a failed commit
        can move it back and a crash never leaves a half-deleted snapshot under a live ID.
        """
        path, renamed = self.snapshot_dir(id_), self.root / "snapshots" / f"rm-{id_}"
        if not os.path.lexists(path):
            return []  # a view on a parent has no directory of its own
        with map_exceptions(f"remove snapshot {id_}"):
            os.rename(path, renamed)
        tx.on_rollback(lambda: os.rename(renamed, path))
        return [renamed]

    def walk(self, *filters: str) -> Iterator[Info]:
        with self._ms.transaction() as tx:
            infos = tx.walk(*filters)
            ids = tx.id_map()
        by_name = {n: i for i, n in ids.items()}
        return iter([self._decorate(by_name[i.name], i) for i in infos])

    def close(self) -> None:
        self._ms.close()

    # -- creation -------------------------------------------------------------------------

    def _create(self, kind: Kind, key: str, parent: str, labels: Mapping[str, str] | None
                ) -> list[Mount]:
        td: Path | None = None
        path: Path | None = None
        try:
            # Directories are made inside the write transaction, so that cleanup (which
            # holds it too) never sees a half-built "new-*" directory as garbage.
            with self._ms.transaction(writable=True) as tx:
                s = tx.create_snapshot(kind, key, parent, labels)
                if self._needs_dir(kind, parent):
                    with map_exceptions(f"snapshot {key}"):
                        td = Path(tempfile.mkdtemp(prefix="new-", dir=self.root / "snapshots"))
                        os.chmod(td, 0o755)
                        self._populate(td, s)
                        path = self.snapshot_dir(s.id)
                        if os.path.lexists(path):
                            # Left by a crash before its record was committed: the ID was
                            # never handed out, so nothing refers to these files.
                            shutil.rmtree(path)
                        os.rename(td, path)
                        td = None
        except BaseException:
            for leftover in (td, path):
                if leftover is not None:
                    shutil.rmtree(leftover, ignore_errors=True)
            raise
        return self._mounts(s)

    def _orphans(self, tx: Transaction) -> list[Path]:
        """Entries of ``<root>/snapshots`` that no record refers to (call with the write lock)."""
        ids = tx.id_map()
        with map_exceptions(f"list {self.root / 'snapshots'}"):
            return [p for p in (self.root / "snapshots").iterdir() if p.name not in ids]
