"""Starting processes and learning how they ended: the monitor, and the subreaper's reaper.

A Unix process that ends stays a *zombie* until its parent collects its exit status with
``waitpid``; the status can be collected once, by the parent only. Two facts shape how pyctrd
waits:

- ``runc create`` forks the container's first process and then exits. The orphan is
  re-parented to the nearest ancestor marked *child subreaper* (``prctl(PR_SET_CHILD_SUBREAPER)``),
  or to PID 1. A shim sets that flag on itself so that the container's exit status comes to it.
- A subreaper must collect *every* orphan, or zombies pile up; so one place calls
  ``waitpid(-1)`` for all children and hands each status to whoever asked for that pid. If
  anything else in the process also waited (asyncio's child watcher, ``subprocess``'s
  ``Popen.wait``), the two would steal statuses from each other. Hence every command the
  shim runs, runc included, is started through the same :class:`Monitor` (go-runc's
  ``runc.Monitor`` and containerd's ``reaper.Default`` play this part).

Two monitors, one interface:

- :class:`ChildMonitor`: waits for each of its own children separately with a pidfd (for a
  process that is not a subreaper, e.g. the daemon or a test).
- :class:`Reaper`: a SIGCHLD handler reaps all children; waiters get their pid's exit, and
  subscribers see every exit (the shim matches them to container processes).

>>> exit_status(0x0300)   # exited with 3
3
>>> exit_status(9)        # killed by SIGKILL
137
"""
from __future__ import annotations

import asyncio
import ctypes
import fcntl
import os
import shutil
import signal
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Protocol, Self

from ..errdefs import FailedPrecondition, map_exceptions
from .io import wait_readable

__all__ = ["ChildMonitor", "Exit", "Monitor", "Reaper", "exit_status", "set_subreaper", "spawn"]


def exit_status(wait_status: int) -> int:
    """A wait status as a shell reports it: the exit code, or 128 + the killing signal."""
    code = os.waitstatus_to_exitcode(wait_status)
    return 128 - code if code < 0 else code


@dataclass(frozen=True)
class Exit:
    """A process ended: its pid, status (exit code or 128+signal) and when it was reaped."""

    pid: int
    status: int
    timestamp: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __repr__(self) -> str:
        return f"<Exit pid={self.pid} status={self.status}>"


def _stray_fds(above: int) -> list[int]:
    """Our inheritable fds above ``above``: inherited from our own parent, not ours to pass on."""
    stray = []
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if fd > above and os.get_inheritable(fd):
                stray.append(fd)
        except OSError:  # the directory listing's own fd, closed by now
            continue
    return stray


def spawn(argv: Sequence[str], stdio: tuple[int, int, int], extra_fds: Sequence[int] = (),
          env: dict[str, str] | None = None) -> int:
    """Start ``argv`` with ``stdio`` as its fds 0, 1, 2 and ``extra_fds`` as 3, 4, …; return its pid.

    No other descriptor reaches the child (like ``subprocess``'s ``close_fds``): a shim's
    sockets, or a pipe its own parent waits on, must never leak into runc or a container.

    Raises:
        NotFound: the program does not exist.
    """
    path = shutil.which(argv[0]) or argv[0]
    # Copy the sources above the target range first, so that no dup2 overwrites a source
    # that a later dup2 still needs (e.g. stdout given as fd 0). The copies are close-on-exec.
    wanted = [*stdio, *extra_fds]
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3 + len(wanted)) for fd in wanted]
    try:
        actions: list[tuple[int, ...]] = [(os.POSIX_SPAWN_DUP2, fd, target)
                                          for target, fd in enumerate(high)]
        actions += [(os.POSIX_SPAWN_CLOSE, fd) for fd in _stray_fds(len(wanted) - 1)]
        with map_exceptions(f"executable {argv[0]}"):
            return os.posix_spawn(path, list(argv), os.environ.copy() if env is None else env,
                                  file_actions=actions)
    finally:
        for fd in high:
            os.close(fd)


def set_subreaper(on: bool = True) -> None:
    """Mark this process a child subreaper: orphans of its descendants become its children.

    Raises:
        Unknown: prctl failed.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1 if on else 0, 0, 0, 0) != 0:  # 36 = PR_SET_CHILD_SUBREAPER
        with map_exceptions("prctl(PR_SET_CHILD_SUBREAPER)"):
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))


class Monitor(Protocol):
    """Starts processes and reports their exit status (go-runc's ``ProcessMonitor``)."""

    def spawn(self, argv: Sequence[str], stdio: tuple[int, int, int],
              extra_fds: Sequence[int] = (), env: dict[str, str] | None = None) -> int:
        """Start a process (see :func:`spawn`) and remember to report its exit.

        Raises:
            NotFound: the program does not exist.
        """
        ...

    async def wait(self, pid: int) -> int:
        """The exit status of ``pid`` once it has ended (exit code, or 128 + signal).

        Raises:
            FailedPrecondition: ``pid`` is not a child of this process (and never was reaped here).
        """
        ...


class ChildMonitor:
    """Waits for each child on its own pidfd; reaps nothing it was not asked about."""

    def spawn(self, argv: Sequence[str], stdio: tuple[int, int, int],
              extra_fds: Sequence[int] = (), env: dict[str, str] | None = None) -> int:
        return spawn(argv, stdio, extra_fds, env)

    async def wait(self, pid: int) -> int:
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError as exc:
            raise FailedPrecondition(f"pid {pid} is not running and was not reaped here") from exc
        try:
            await wait_readable(pidfd)  # a pidfd becomes readable when its process ends
        finally:
            os.close(pidfd)
        return _collect(pid)

    def __repr__(self) -> str:
        return "<ChildMonitor>"


class Reaper:
    """Reaps every child of this process on SIGCHLD and dispatches the exits.

    Use it as ``async with Reaper() as reaper:`` inside the running loop (it installs the
    SIGCHLD handler, so only one may be active per process, in the main thread). Exits of
    processes it spawned are kept until :meth:`wait` collects them; other exits are kept
    (the last ``keep`` of them) so that a wait that arrives late still gets its answer, and
    are also put on every :meth:`subscribe` queue.
    """

    def __init__(self, keep: int = 1024) -> None:
        self._keep = keep
        self._waiters: dict[int, asyncio.Future[int]] = {}
        self._spawned: set[int] = set()
        self._exits: OrderedDict[int, Exit] = OrderedDict()
        self._subscribers: set[asyncio.Queue[Exit]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __aenter__(self) -> Self:
        self._loop = asyncio.get_running_loop()
        self._loop.add_signal_handler(signal.SIGCHLD, self.reap)
        self.reap()  # children that ended before the handler existed
        return self

    async def __aexit__(self, t: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._loop is not None:
            self._loop.remove_signal_handler(signal.SIGCHLD)
            self._loop = None

    def spawn(self, argv: Sequence[str], stdio: tuple[int, int, int],
              extra_fds: Sequence[int] = (), env: dict[str, str] | None = None) -> int:
        pid = spawn(argv, stdio, extra_fds, env)
        self._spawned.add(pid)
        return pid

    def reap(self) -> list[Exit]:
        """Collect every ended child now (the SIGCHLD handler); return what was reaped."""
        reaped = []
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            reaped.append(self._dispatch(Exit(pid, exit_status(status))))
        return reaped

    def _dispatch(self, e: Exit) -> Exit:
        for q in self._subscribers:
            q.put_nowait(e)
        # Kept until a wait() collects it, even if a waiter is here now: that waiter may have
        # been cancelled, and the next one must still get the answer.
        self._exits[e.pid] = e
        waiter = self._waiters.pop(e.pid, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(e.status)
        unclaimed = [p for p in self._exits if p not in self._spawned]
        for p in unclaimed[: max(0, len(unclaimed) - self._keep)]:
            del self._exits[p]
        return e

    async def wait(self, pid: int) -> int:
        known = self._exits.get(pid)
        if known is not None:
            status = known.status
        else:
            if self._loop is None:
                raise FailedPrecondition("reaper is not running (use it as `async with Reaper()`)")
            if pid not in self._spawned and not _is_child(pid):
                raise FailedPrecondition(f"pid {pid} is not a child of this process")
            fut = self._waiters.setdefault(pid, self._loop.create_future())
            status = await asyncio.shield(fut)
        self._exits.pop(pid, None)
        self._spawned.discard(pid)
        return status

    def subscribe(self) -> asyncio.Queue[Exit]:
        """A queue that receives every exit from now on (until :meth:`unsubscribe`)."""
        q: asyncio.Queue[Exit] = asyncio.Queue()
        self._subscribers.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[Exit]) -> None:
        """Stop feeding ``q``."""
        self._subscribers.discard(q)

    def __repr__(self) -> str:
        state = "running" if self._loop else "stopped"
        return f"<Reaper {state} waiting={len(self._waiters)} kept={len(self._exits)}>"


def _collect(pid: int) -> int:
    """Reap ``pid``, known to have ended (so waitpid returns at once)."""
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError as exc:
        raise FailedPrecondition(f"pid {pid} is not a child of this process") from exc
    return exit_status(status)


def _is_child(pid: int) -> bool:
    """Is ``pid`` (still) our child? Reads its parent from /proc/<pid>/stat."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1]) == os.getpid()
    except (OSError, IndexError, ValueError):
        return False
