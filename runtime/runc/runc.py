"""An asyncio driver for the runc binary: what a shim asks runc to do (go-runc's ``Runc``).

runc is a command-line tool that does one thing per run and exits; the container's state
lives in files under ``--root`` (``<root>/<id>/state.json``). A container's life, as the shim
drives it::

    runc create --bundle B --pid-file P ID   # namespaces, cgroup, mounts; the process waits
    runc start ID                            # ... and now it runs the spec's args
    runc exec --process proc.json -d ID      # another process inside (ctr tasks exec)
    runc pause|resume ID                     # freeze/thaw its cgroup
    runc kill ID SIGTERM ; (reap the exit)   # signal it; the shim learns the status
    runc delete ID                           # remove its state and cgroup

Each method runs one such command without blocking the event loop. Three details matter:

- **Errors** come from runc's JSON log (:mod:`.errors`). Every call writes it to a fresh
  anonymous file (a ``memfd``) passed as fd 3 (``--log /proc/self/fd/3``), so a call reads
  exactly its own messages; they are then appended to ``log`` if one was given (the shim's
  ``log.json``).
- **stdio**: ``create`` and ``exec`` give runc the process's stdio (:mod:`.io`); they never
  read runc's output. Other commands are short and their output is read from pipes.
- **Reaping**: commands are started through a :class:`~.monitor.Monitor`, so that a shim
  that reaps every child (:class:`~.monitor.Reaper`) still learns each runc's exit status.
"""
from __future__ import annotations

import asyncio
import builtins
import json
import os
import signal as signals
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errdefs import InvalidArgument, Unknown, map_exceptions
from .console import ConsoleSocket
from .errors import last_error, runc_error
from .io import NullIO, PipeIO, ProcessIO, read_until_eof
from .monitor import ChildMonitor, Monitor

__all__ = ["Runc", "RuncVersion", "read_pid_file"]

_DEFAULT_MONITOR = ChildMonitor()


@dataclass(frozen=True)
class RuncVersion:
    """``runc --version``: the runc release, its commit and the OCI spec version it implements."""

    runc: str
    commit: str = ""
    spec: str = ""


def read_pid_file(path: str) -> int:
    """The pid runc wrote to ``--pid-file``.

    Raises:
        NotFound: no pid file.
        InvalidArgument: the file does not hold a number.
    """
    with map_exceptions(f"pid file {path}"), open(path) as f:
        text = f.read().strip()
    if not text.isdigit():
        raise InvalidArgument(f"pid file {path} holds {text!r}, not a pid")
    return int(text)


def _memfd(name: str, data: bytes = b"") -> int:
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
    os.write(fd, data)
    return fd


def _read_memfd(fd: int) -> bytes:
    return os.pread(fd, os.fstat(fd).st_size, 0)


class Runc:
    """Runs runc for one state root (one per containerd namespace, like ``/run/containerd/runc/<ns>``).

    Args:
        root: runc's state directory (``--root``); never share containerd's own.
        binary: the runc executable.
        log: a file to append runc's JSON log lines to (``None``: keep them nowhere).
        log_format: only ``"json"``: errors are read from the JSON log.
        systemd_cgroup: let systemd manage cgroups (``cgroupsPath`` is then ``slice:prefix:name``).
        monitor: starts and waits for runc (a :class:`~.monitor.Reaper` in a subreaper shim).

    Raises:
        InvalidArgument: an unsupported ``log_format``.
    """

    def __init__(self, root: str, binary: str = "runc", *, log: str | None = None,
                 log_format: str = "json", systemd_cgroup: bool = False,
                 monitor: Monitor | None = None) -> None:
        if log_format != "json":
            raise InvalidArgument(f"runc log format {log_format!r}: only json is supported")
        self.root, self.binary, self.log = root, binary, log
        self.systemd_cgroup = systemd_cgroup
        self.monitor: Monitor = monitor or _DEFAULT_MONITOR

    def __repr__(self) -> str:
        return f"<Runc root={self.root}>"

    def _argv(self, args: Sequence[str], log_fd: int) -> list[str]:
        argv = [self.binary, "--root", self.root, "--log", f"/proc/self/fd/{log_fd}",
                "--log-format", "json"]
        if self.systemd_cgroup:
            argv.append("--systemd-cgroup")
        return [*argv, *args]

    def _keep_log(self, data: bytes) -> None:
        if self.log and data:
            with map_exceptions(f"runc log {self.log}"), open(self.log, "ab") as f:
                f.write(data)

    async def _run(self, args: Sequence[str], *, io: ProcessIO | None = None,
                   stdin: bytes | None = None, extra_fds: Sequence[int] = ()
                   ) -> tuple[int, bytes, str]:
        """Run ``runc <args>``: its exit status, stdout, and error message (``""`` if none).

        With ``io`` the process's stdio is ``io`` and nothing is read from it; otherwise
        stdout and stderr are read through pipes (and ``stdin`` fed through one).
        """
        log_fd = _memfd("runc-log")
        capture: PipeIO | None = None
        if io is None:  # no io of the caller's: runc's output comes to us through pipes
            io = capture = PipeIO(stdin=stdin is not None)
        try:
            try:  # fd 3 is always the log; callers' extra fds follow it as 4, 5, ...
                pid = self.monitor.spawn(self._argv(args, 3), io.stdio(), [log_fd, *extra_fds])
            finally:
                io.close_after_start()
            out = err = b""
            if capture is not None and capture.stdout is not None and capture.stderr is not None:
                if capture.stdin is not None and stdin is not None:
                    os.write(capture.stdin, stdin)  # small JSON documents: fit in a pipe's buffer
                    os.close(capture.stdin)
                    capture.stdin = None
                out, err = await asyncio.gather(read_until_eof(capture.stdout),
                                                read_until_eof(capture.stderr))
            status = await self.monitor.wait(pid)
            log = _read_memfd(log_fd)
            self._keep_log(log)
            return status, out, last_error(log) or err.decode(errors="replace").strip()
        finally:
            os.close(log_fd)
            if capture is not None:
                capture.close()

    async def _command(self, args: Sequence[str], id: str = "", *, io: ProcessIO | None = None,
                       stdin: bytes | None = None, extra_fds: Sequence[int] = ()) -> bytes:
        """Run ``runc <args>`` and return its stdout; a non-zero exit raises runc's error
        about container ``id`` (errors read ``runc <command> <id>: <runc's message>``)."""
        status, out, message = await self._run(args, io=io, stdin=stdin, extra_fds=extra_fds)
        if status != 0:
            raise runc_error(f"runc {args[0]} {id}".rstrip(), message or f"exited with status {status}")
        return out

    async def _json(self, *args: str, id: str = "") -> Any:
        out = await self._command(args, id)
        try:
            return json.loads(out or b"null")
        except ValueError as exc:
            raise Unknown(f"runc {args[0]} {id}: unreadable output {out[:200]!r}") from exc

    # --- lifecycle -------------------------------------------------------------------------

    async def create(self, id: str, bundle: str, *, pid_file: str, io: ProcessIO | None = None,
                     console_socket: ConsoleSocket | str | None = None, no_pivot: bool = False,
                     no_new_keyring: bool = False) -> int:
        """Create container ``id`` from ``bundle``; its process waits for :meth:`start`.

        ``runc create`` always detaches (runc has no ``--detach`` for it), so there is no
        such flag. Returns the pid of the container's first process (from ``pid_file``).

        Args:
            io: the process's stdio (default /dev/null); closed here after runc started.
            console_socket: for a spec with ``terminal: true``: where runc sends the pty master.
            no_pivot: use ``chroot``-like ``MS_MOVE`` instead of ``pivot_root`` (ramdisk roots).

        Raises:
            AlreadyExists: a container ``id`` exists in this root.
            NotFound: the bundle or its config.json is missing.
            Unknown: anything else runc refused (its message is kept).
        """
        args = ["create", "--bundle", os.path.abspath(bundle), "--pid-file", os.path.abspath(pid_file)]
        if console_socket is not None:
            path = console_socket.path if isinstance(console_socket, ConsoleSocket) else console_socket
            args += ["--console-socket", path]
        args += ["--no-pivot"] * no_pivot + ["--no-new-keyring"] * no_new_keyring
        await self._command([*args, id], id, io=io or NullIO())
        return read_pid_file(pid_file)

    async def start(self, id: str) -> None:
        """Let a created container's process run its args.

        Raises:
            NotFound: no such container.
            FailedPrecondition: it is not in the created state.
        """
        await self._command(["start", id], id)

    async def exec(self, id: str, process: dict[str, Any], *, pid_file: str,
                   io: ProcessIO | None = None, console_socket: ConsoleSocket | str | None = None,
                   detach: bool = True) -> int:
        """Run another process inside a running container (``ctr tasks exec``).

        Args:
            process: an OCI ``process`` object (args, env, cwd, user, terminal, ...), handed
                to runc as an anonymous file (``--process /proc/self/fd/4``).
            detach: return once the process runs (the usual case: a shim reaps it later).
                ``False`` keeps runc in the foreground until the process exits.

        Returns:
            The new process's pid when detached; its exit status when not.

        Raises:
            NotFound: no such container, or the executable is missing in it.
            FailedPrecondition: the container is not running (or is paused).
        """
        proc_fd = _memfd("runc-process", json.dumps(process).encode())
        try:
            args = ["exec", "--process", "/proc/self/fd/4", "--pid-file", os.path.abspath(pid_file)]
            if console_socket is not None:
                path = console_socket.path if isinstance(console_socket, ConsoleSocket) else console_socket
                args += ["--console-socket", path]
            if detach:
                args.append("--detach")
                await self._command([*args, id], id, io=io or NullIO(), extra_fds=[proc_fd])
                return read_pid_file(pid_file)
            # In the foreground runc exits with the process's status; only a logged error
            # means runc itself failed.
            status, _, message = await self._run([*args, id], io=io or NullIO(), extra_fds=[proc_fd])
            if status != 0 and message:
                raise runc_error(f"runc exec {id}", message)
            return status
        finally:
            os.close(proc_fd)

    async def kill(self, id: str, signal: int = signals.SIGTERM, all: bool = False) -> None:
        """Send ``signal`` to the container's first process (``all``: to every process in it).

        Raises:
            NotFound: no such container, or its process has already exited.
            FailedPrecondition: the container is not running.
        """
        await self._command(["kill", *(["--all"] if all else []), id, str(int(signal))], id)

    async def delete(self, id: str, force: bool = False) -> None:
        """Remove the container's state and cgroup (``force``: kill it first if running).

        Raises:
            NotFound: no such container.
            FailedPrecondition: it is still running and ``force`` is false.
        """
        await self._command(["delete", *(["--force"] if force else []), id], id)

    async def pause(self, id: str) -> None:
        """Freeze every process of the container (freezer cgroup).

        Raises:
            NotFound: no such container.
            FailedPrecondition: it is not running.
        """
        await self._command(["pause", id], id)

    async def resume(self, id: str) -> None:
        """Thaw a paused container.

        Raises:
            NotFound: no such container.
            FailedPrecondition: it is not paused.
        """
        await self._command(["resume", id], id)

    async def update(self, id: str, resources: dict[str, Any]) -> None:
        """Change cgroup limits of a live container (an OCI ``linux.resources`` object).

        Raises:
            NotFound: no such container.
            Unknown: the kernel refused a value (e.g. a memory limit below current usage).
        """
        await self._command(["update", "--resources", "-", id], id, stdin=json.dumps(resources).encode())

    # --- questions -------------------------------------------------------------------------

    async def state(self, id: str) -> dict[str, Any]:
        """``runc state``: id, pid, status (created/running/paused/stopped), bundle, created, ...

        Raises:
            NotFound: no such container.
        """
        return dict(await self._json("state", id, id=id))

    async def list(self) -> list[dict[str, Any]]:
        """Every container in this root, as :meth:`state` describes them.

        Raises:
            Unknown: runc could not read its root.
        """
        return list(await self._json("list", "--format", "json") or [])

    async def ps(self, id: str) -> builtins.list[int]:
        """The host pids of every process in the container's cgroup.

        Raises:
            NotFound: no such container.
        """
        return [int(p) for p in await self._json("ps", "--format", "json", id, id=id) or []]

    async def events_stats(self, id: str) -> dict[str, Any]:
        """One ``runc events --stats`` sample: runc's own view of the cgroup counters.

        Raises:
            NotFound: no such container.
            FailedPrecondition: it is not running.
        """
        event = await self._json("events", "--stats", id, id=id)
        return dict(event.get("data") or {}) if isinstance(event, dict) else {}

    async def version(self) -> RuncVersion:
        """``runc --version``, parsed.

        Raises:
            NotFound: the runc binary is missing.
        """
        text = (await self._command(["--version"])).decode()
        fields = dict(line.split(" ", 1) for line in text.splitlines() if " " in line)
        return RuncVersion(fields.get("runc", "").removeprefix("version "),
                           fields.get("commit:", ""), fields.get("spec:", ""))
