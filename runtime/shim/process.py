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

The init process *is* the container for runc: ``runc create/start/pause/kill/delete`` take
the container id. An exec'd process is started with ``runc exec --detach`` and then
signalled directly with ``kill(2)``, as the Go shim does.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import tempfile
import time
from typing import Any

from .. import errdefs
from ..errdefs import FailedPrecondition, NotFound, PyctrdError, Unknown
from ..runc import ConsoleSocket, Monitor, Runc
from .stdio import ProcessStdio, Stdio, open_stdio

__all__ = ["ExecProcess", "InitProcess", "Process", "kill_error"]

log = logging.getLogger("pyctrd.shim")
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


def _runtime_error(what: str, exc: PyctrdError) -> PyctrdError:
    """runc's error with containerd's prefix, keeping its kind (``OCI runtime create failed: …``).

    Our runc driver names the command (``runc create c1: <runc's message>``); containerd
    shows runc's message alone after its prefix, so the command is dropped here.

    >>> _runtime_error("OCI runtime start failed", FailedPrecondition("runc start c1: cannot start"))
    FailedPrecondition('OCI runtime start failed: cannot start: failed precondition')
    """
    message = exc.what
    if message.startswith("runc ") and ": " in message:
        message = message.split(": ", 1)[1]
    return type(exc)(f"{what}: {message}")


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
            raise _runtime_error("OCI runtime create failed", exc) from exc
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
            raise _runtime_error("OCI runtime start failed", exc) from exc
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
            raise _runtime_error("OCI runtime pause failed", exc) from exc
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
            raise _runtime_error("OCI runtime resume failed", exc) from exc
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
            error = _runtime_error("failed to delete task", exc)
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
            raise _runtime_error("OCI runtime exec failed", exc) from exc
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
