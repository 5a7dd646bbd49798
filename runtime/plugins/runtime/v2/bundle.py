"""The bundle: a task's directory, where the daemon and its shim meet.

``<state>/io.containerd.runtime.v2.task/<namespace>/<id>/`` (mode 0700), as containerd makes it::

    config.json        the OCI spec (the daemon writes it)
    rootfs/            mount point of the root filesystem (the shim mounts it)
    work -> <root>/io.containerd.runtime.v2.task/<namespace>/<id>   persistent scratch space
    log                FIFO: the shim writes its log, the daemon copies it to its own output
    shim-binary-path   the shim binary (written after it started: a restarted daemon reads it)
    address, init.pid, log.json, options.json, runtime     written by the shim itself

Deleting a bundle unmounts ``rootfs`` first, then renames the directory to a hidden
``.<id>`` and removes that, so a crash half-way leaves no directory that looks like a task.
"""
from __future__ import annotations

import logging
import os
import shutil
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from .... import identifiers
from ....core import mount
from ....core.oci.check import check_spec
from ....errdefs import InvalidArgument, map_exceptions

__all__ = ["Bundle", "load_bundle", "new_bundle"]

log = logging.getLogger("pyctrd.runtime")

CONFIG = "config.json"


@dataclass(frozen=True)
class Bundle:
    """A bundle directory: ``path`` (in state) for task ``id`` of ``namespace``."""

    id: str
    path: Path
    namespace: str

    def __repr__(self) -> str:
        return f"<Bundle {self.namespace}/{self.id} {self.path}>"

    @property
    def rootfs(self) -> Path:
        return self.path / "rootfs"

    def read(self, name: str) -> str | None:
        """A small file the shim or the daemon wrote here (None if absent)."""
        try:
            return (self.path / name).read_text()
        except FileNotFoundError:
            return None

    def write(self, name: str, text: str, mode: int = 0o600) -> None:
        with map_exceptions(f"write {self.path / name}"):
            fd = os.open(self.path / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            with os.fdopen(fd, "w") as f:
                f.write(text)

    def delete(self) -> None:
        """Unmount the rootfs, then remove the bundle and its work directory.

        Raises:
            Unavailable: the rootfs is busy and could not be unmounted.
            Unknown: the directories could not be removed.
        """
        work = None
        try:
            work = os.readlink(self.path / "work")
        except OSError:
            pass
        with map_exceptions(f"unmount rootfs {self.rootfs}"):
            mount.unmount_all(self.rootfs)
        # rmdir, never rmtree: a rootfs still holding files means something is still mounted
        with map_exceptions(f"remove bundle rootfs {self.rootfs}"), suppress(FileNotFoundError):
            self.rootfs.rmdir()
        _atomic_delete(self.path)
        if work is not None:
            _atomic_delete(Path(work))


def _atomic_delete(path: Path) -> None:
    hidden = path.with_name(f".{path.name}")
    try:
        os.rename(path, hidden)
    except FileNotFoundError:
        return
    with map_exceptions(f"remove {path}"):
        shutil.rmtree(hidden)


def _remapped_gid(spec: bytes) -> int:
    """The host gid that container gid 0 maps to (0 without a user namespace)."""
    doc = check_spec(spec or b"{}", need_process=False)  # shapes checked: the lookups below hold
    for m in (doc.get("linux") or {}).get("gidMappings") or []:
        if m.get("containerID") == 0:
            return int(m.get("hostID") or 0)
    return 0


def new_bundle(root: Path, state: Path, namespace: str, id: str, spec: bytes) -> Bundle:
    """Create the bundle for a new task (containerd's ``NewBundle``).

    Raises:
        InvalidArgument: a bad task ID or a spec that is not a JSON object of the OCI shape.
        AlreadyExists: a bundle for this task exists already.
    """
    try:
        identifiers.validate(id)
    except InvalidArgument as exc:
        raise InvalidArgument(f"invalid task id {id}: {exc.what}") from None
    gid = _remapped_gid(spec)
    b = Bundle(id, state / namespace / id, namespace)
    work = root / namespace / id
    made: list[Path] = []
    try:
        with map_exceptions(f"bundle {b.path}"):
            b.path.parent.mkdir(mode=0o711, parents=True, exist_ok=True)
            b.path.mkdir(mode=0o700)
            made.append(b.path)
            if gid:  # the container's root group must be able to reach the bundle
                os.chown(b.path, -1, gid)
                os.chmod(b.path, 0o710)
            work.parent.mkdir(mode=0o711, parents=True, exist_ok=True)
            b.rootfs.mkdir(mode=0o711)
            if work.exists():  # left over from an earlier task of this ID
                shutil.rmtree(work)
            work.mkdir(mode=0o711)
            made.append(work)
            os.symlink(work, b.path / "work")
            fd = os.open(b.path / CONFIG, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            with os.fdopen(fd, "wb") as f:
                f.write(spec)
    except BaseException:
        for d in made:
            shutil.rmtree(d, ignore_errors=True)
        raise
    return b


def load_bundle(state: Path, namespace: str, id: str) -> Bundle:
    """The bundle of an existing task (containerd's ``LoadBundle``)."""
    return Bundle(id, state / namespace / id, namespace)
