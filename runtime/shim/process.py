"""The processes of a task: the container's *init* process and the *exec*'d ones.

Each process walks through the same states (containerd's ``pkg/process``)::

    created ──Start──> running ──(exit)──> stopped ──Delete──> deleted
                        │  ^
                  Pause │  │ Resume          (init only; exec'd processes show their
                        v  │                   container's paused state)
                       paused ──(exit)──> stopped

An RPC that does not fit the state is refused with the reason (``cannot start a running
process``). Exits are not observed here: the service's reaper loop calls
:meth:`Process.set_exited`, which records status and time and wakes every :meth:`Process.wait`.

The init process (:mod:`.init_process`) *is* the container for runc: ``runc
create/start/pause/kill/delete`` take the container id. An exec'd process
(:mod:`.exec_process`) is started with ``runc exec --detach`` and then signalled directly
with ``kill(2)``, as the Go shim does.
"""
from __future__ import annotations

import asyncio
import os
import tempfile
import time

from .. import errdefs
from ..errdefs import FailedPrecondition, NotFound, PyctrdError
from ..runc import ConsoleSocket, Monitor
from .stdio import ProcessStdio, Stdio, open_stdio

__all__ = ["CONSOLE_TIMEOUT", "Process", "runtime_error"]

CONSOLE_TIMEOUT = 30.0


class Process:
    """What init and exec'd processes share: identity, stdio, state, the exit and waiting."""

    def __init__(self, id: str, stdio: Stdio) -> None:
        self.id = id
        self.stdio = stdio
        self.pid = 0
        self.state = "created"
        self.exit_status = 0
        self.exited_at_ns = 0  # 0: not exited
        self.io: ProcessStdio | None = None
        self._exited = asyncio.Event()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id} pid={self.pid} {self.status()}>"

    def status(self) -> str:
        """created, running, pausing, paused or stopped (a deleted process reads stopped)."""
        return "stopped" if self.state == "deleted" else self.state

    def set_exited(self, status: int) -> None:
        """The reaper saw this process end with ``status`` (exit code, or 128 + signal)."""
        if self.state in ("stopped", "deleted"):
            return
        self.exit_status, self.exited_at_ns = status, time.time_ns()
        self.state = "stopped"
        self._exited.set()

    async def wait(self) -> None:
        """Return once the process has exited (at once if it has)."""
        await self._exited.wait()

    async def start(self) -> None:
        """Run the process (see the subclasses).

        Raises:
            FailedPrecondition: not in the created state.
        """
        raise errdefs.NotImplemented(f"{type(self).__name__}.start")

    async def kill(self, sig: int, all: bool = False) -> None:
        """Signal the process (see the subclasses).

        Raises:
            NotFound: ``process already finished``.
        """
        raise errdefs.NotImplemented(f"{type(self).__name__}.kill")

    async def delete(self) -> None:
        """Release what the process holds (see the subclasses).

        Raises:
            FailedPrecondition: it is still running.
        """
        raise errdefs.NotImplemented(f"{type(self).__name__}.delete")

    def _refuse(self, action: str, *allowed: str) -> None:
        if self.state == "deleted":
            raise NotFound(f"cannot {action} a deleted process")
        if self.state not in allowed:
            raise FailedPrecondition(f"cannot {action} a {self.state} process")

    async def _open_io(self, namespace: str, monitor: Monitor, io_uid: int, io_gid: int
                       ) -> tuple[ProcessStdio, ConsoleSocket | None]:
        io = await open_stdio(self.stdio, id=self.id, namespace=namespace, monitor=monitor,
                              io_uid=io_uid, io_gid=io_gid)
        if not self.stdio.terminal:
            return io, None
        directory = tempfile.mkdtemp(prefix="pyrunc-pty")  # like runc's NewTempConsoleSocket
        try:
            return io, ConsoleSocket(os.path.join(directory, "pty.sock"))
        except BaseException:
            os.rmdir(directory)
            raise

    async def _attach(self, io: ProcessStdio, sock: ConsoleSocket | None) -> None:
        """After runc ran: take the pty master (terminal) or start the pipe copies."""
        if sock is None:
            io.start()
            return
        console = await asyncio.wait_for(sock.receive_master(), CONSOLE_TIMEOUT)
        io.start_console(console)

    @staticmethod
    def _drop_socket(sock: ConsoleSocket | None) -> None:
        if sock is not None:
            sock.close()
            os.rmdir(os.path.dirname(sock.path))

    async def _close_io(self) -> None:
        if self.io is not None:
            await self.io.wait()  # let the output drain (at most 2 s), as Go's delete does
            await self.io.close()
            self.io = None


def runtime_error(what: str, exc: PyctrdError) -> PyctrdError:
    """runc's error with containerd's prefix, keeping its kind (``OCI runtime create failed: …``).

    Our runc driver names the command (``runc create c1: <runc's message>``); containerd
    shows runc's message alone after its prefix, so the command is dropped here.

    >>> runtime_error("OCI runtime start failed", FailedPrecondition("runc start c1: cannot start"))
    FailedPrecondition('OCI runtime start failed: cannot start: failed precondition')
    """
    message = exc.what
    if message.startswith("runc ") and ": " in message:
        message = message.split(": ", 1)[1]
    return type(exc)(f"{what}: {message}")
