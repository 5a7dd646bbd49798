"""A process added to a running container (``ctr tasks exec``).

Started with ``runc exec --detach`` (runc joins the container's namespaces and cgroup,
starts the process and exits; the process is re-parented to the shim, its subreaper) and
signalled with plain ``kill(2)``. It has its own stdio, pid file (``<bundle>/<exec id>.pid``)
and exit; while its container is paused it reports ``paused`` too.
"""
from __future__ import annotations

import os
from typing import Any

from ..errdefs import FailedPrecondition, NotFound, PyctrdError
from .init_process import InitProcess
from .process import Process, runtime_error
from .stdio import Stdio

__all__ = ["ExecProcess"]


class ExecProcess(Process):
    """A process added to a running container (``ctr tasks exec``).

    Args:
        spec: the OCI ``process`` object (args, env, cwd, user, …) from the request.
    """

    def __init__(self, id: str, parent: InitProcess, spec: dict[str, Any], stdio: Stdio) -> None:
        super().__init__(id, stdio)
        self.parent = parent
        self.spec = {**spec, "terminal": stdio.terminal}

    def status(self) -> str:
        parent = self.parent.status()
        return parent if parent in ("paused", "pausing") else super().status()

    @property
    def pid_file(self) -> str:
        return os.path.join(self.parent.bundle, f"{self.id}.pid")

    async def start(self) -> None:
        """``runc exec --detach``: run the process inside the container.

        Raises:
            FailedPrecondition: not in the created state, or the container is not running.
            PyctrdError: runc's error, prefixed ``OCI runtime exec failed``.
        """
        self._refuse("start", "created")
        p = self.parent
        io, sock = await self._open_io(p.namespace, p.monitor, p.io_uid, p.io_gid)
        try:
            self.pid = await p.runc.exec(p.id, self.spec, pid_file=self.pid_file, io=io.runc_io,
                                         console_socket=sock)
            await self._attach(io, sock)
        except PyctrdError as exc:
            await io.close()
            self._exited.set()  # nobody must wait forever for a process that never ran
            raise runtime_error("OCI runtime exec failed", exc) from exc
        except BaseException:
            await io.close()
            raise
        finally:
            self._drop_socket(sock)
        self.io = io
        if self.state == "created":
            self.state = "running"

    async def kill(self, sig: int, all: bool = False) -> None:
        """``kill(2)`` the process (``all`` does not apply to one process).

        Raises:
            FailedPrecondition: it was never started.
            NotFound: ``process already finished``.
        """
        if self.state == "deleted":
            raise NotFound("cannot kill a deleted process")
        if self.pid == 0:
            raise FailedPrecondition("process not created")
        if self.exited_at_ns:
            raise NotFound("process already finished")
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError as exc:
            raise NotFound("process already finished") from exc

    async def delete(self) -> None:
        """Close the process's stdio and remove its pid file.

        Raises:
            FailedPrecondition: it is still running.
            NotFound: it was deleted already.
        """
        self._refuse("delete", "created", "stopped")
        await self._close_io()
        try:
            os.unlink(self.pid_file)
        except FileNotFoundError:
            pass
        self.state = "deleted"
