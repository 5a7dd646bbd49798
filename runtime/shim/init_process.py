"""The container's init process: its runc commands act on the whole container.

``runc create`` makes the container (namespaces, cgroup, mounts) with this process waiting
in it; ``runc start`` lets it run the spec's args; pause/resume freeze the cgroup; ``runc
kill`` signals it (``--all``: every process in the container); ``runc delete`` removes the
container, after which the shim unmounts the rootfs it mounted.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import Any

from .. import errdefs
from ..errdefs import NotFound, PyctrdError, Unknown
from ..runc import Monitor, Runc
from .process import Process, runtime_error
from .stdio import Stdio

__all__ = ["InitProcess", "kill_error"]

log = logging.getLogger("pyctrd.shim")


class InitProcess(Process):
    """The container's first process; its runc commands act on the whole container.

    Args:
        id: the container id; bundle: its bundle directory; rootfs: ``<bundle>/rootfs`` if
            the shim mounted it (unmounted at delete), else "".
        runc: the driver for this container's runc root and binary.
    """

    def __init__(self, id: str, bundle: str, rootfs: str, runc: Runc, stdio: Stdio, *,
                 namespace: str, monitor: Monitor, io_uid: int = 0, io_gid: int = 0) -> None:
        super().__init__(id, stdio)
        self.bundle, self.rootfs, self.runc = bundle, rootfs, runc
        self.namespace, self.monitor = namespace, monitor
        self.io_uid, self.io_gid = io_uid, io_gid
        self.pausing = False

    def status(self) -> str:
        return "pausing" if self.pausing else super().status()

    async def create(self, *, no_pivot: bool = False, no_new_keyring: bool = False) -> None:
        """``runc create``: namespaces, cgroup and mounts made; the process waits for Start.

        Raises:
            PyctrdError: runc's error, prefixed ``OCI runtime create failed``.
        """
        io, sock = await self._open_io(self.namespace, self.monitor, self.io_uid, self.io_gid)
        try:
            self.pid = await self.runc.create(
                self.id, self.bundle, pid_file=os.path.join(self.bundle, "init.pid"),
                io=io.runc_io, console_socket=sock, no_pivot=no_pivot, no_new_keyring=no_new_keyring)
            await self._attach(io, sock)
        except PyctrdError as exc:
            await io.close()
            raise runtime_error("OCI runtime create failed", exc) from exc
        except BaseException:
            await io.close()
            raise
        finally:
            self._drop_socket(sock)
        self.io = io

    async def start(self) -> None:
        """``runc start``: the process runs the spec's args.

        Raises:
            FailedPrecondition: not in the created state.
            PyctrdError: runc's error, prefixed ``OCI runtime start failed``.
        """
        self._refuse("start", "created")
        try:
            await self.runc.start(self.id)
        except PyctrdError as exc:
            raise runtime_error("OCI runtime start failed", exc) from exc
        if self.state == "created":  # (it may have exited already)
            self.state = "running"

    async def pause(self) -> None:
        """Freeze the container (``runc pause``).

        Raises:
            FailedPrecondition: not running.
        """
        self._refuse("pause", "running")
        self.pausing = True
        try:
            await self.runc.pause(self.id)
        except PyctrdError as exc:
            raise runtime_error("OCI runtime pause failed", exc) from exc
        finally:
            self.pausing = False
        if self.state == "running":
            self.state = "paused"

    async def resume(self) -> None:
        """Thaw a paused container (``runc resume``).

        Raises:
            FailedPrecondition: not paused.
        """
        self._refuse("resume", "paused")
        try:
            await self.runc.resume(self.id)
        except PyctrdError as exc:
            raise runtime_error("OCI runtime resume failed", exc) from exc
        if self.state == "paused":
            self.state = "running"

    def set_exited(self, status: int) -> None:
        was_paused = self.state == "paused"
        super().set_exited(status)
        if was_paused:  # thaw what is left so that it can be killed and deleted
            asyncio.get_running_loop().create_task(self._resume_quietly())

    async def _resume_quietly(self) -> None:
        try:
            await self.runc.resume(self.id)
        except PyctrdError as exc:
            log.error("resuming exited container from paused state: %s", exc)

    async def kill(self, sig: int, all: bool = False) -> None:
        """``runc kill [--all] ID SIG``.

        Raises:
            NotFound: ``process already finished`` (or the container is gone).
            Unknown: anything else runc said.
        """
        if self.state == "deleted":
            raise NotFound("cannot kill a deleted process")
        try:
            await self.runc.kill(self.id, sig, all=all)
        except PyctrdError as exc:
            raise kill_error(str(exc)) from exc

    async def kill_all(self) -> None:
        """SIGKILL every process of the container (when init exits without a pid namespace)."""
        try:
            await self.runc.kill(self.id, signal.SIGKILL, all=True)
        except PyctrdError as exc:
            log.error("failed to kill init's children: %s", exc)

    async def update(self, resources: dict[str, Any]) -> None:
        """``runc update`` with an OCI ``LinuxResources`` object.

        Raises:
            FailedPrecondition: the container has stopped.
        """
        self._refuse("update", "created", "running", "paused")
        await self.runc.update(self.id, resources)

    async def delete(self) -> None:
        """Remove the container from runc, close its stdio, unmount its rootfs.

        Raises:
            FailedPrecondition: it is still running or paused.
            NotFound: it was deleted already.
        """
        self._refuse("delete", "created", "stopped")
        await self._close_io()
        error: PyctrdError | None = None
        try:
            await self.runc.delete(self.id)
        except NotFound:
            pass
        except PyctrdError as exc:
            error = runtime_error("failed to delete task", exc)
        if self.rootfs:
            from ..core.mount import unmount_all

            try:
                with errdefs.map_exceptions(f"unmount {self.rootfs}"):
                    unmount_all(self.rootfs)
            except PyctrdError as exc:
                error = error or Unknown(f"failed rootfs umount: {exc}")
        self.state = "deleted"
        if error is not None:
            raise error


def kill_error(message: str) -> PyctrdError:
    """What containerd makes of a failed kill (``checkKillError``)."""
    lowered = message.lower()
    if any(m in lowered for m in ("process already finished", "not running", "no such process")):
        return NotFound("process already finished")
    if "does not exist" in lowered:
        return NotFound("no such container")
    return Unknown(f"unknown error after kill: {message}")
