"""A process's stdio, from the shim's side: pipes or a pty in the middle, the client's FIFOs outside.

The client (``ctr``) creates FIFOs (``…/c1-stdin``, ``…/c1-stdout``, ``…/c1-stderr``) and
puts their paths in CreateTaskRequest / ExecProcessRequest. The container does not get those
FIFOs: it gets pipes (or a pty) that the *shim* holds, and the shim copies::

    ctr ──> stdin FIFO ──copy──> pipe ──> container's fd 0
    ctr <── stdout FIFO <─copy── pipe <── container's fd 1      (stderr the same)

Why the indirection: the container must never block or die because the client went away
(``ctr run -d`` exits at once; containerd may restart). The shim is there for the whole life
of the container, so it can keep the FIFOs open.

The stdout URI decides the kind (containerd's ``pkg/process/io.go``):

- a path or ``fifo://``: pipes, copied to the FIFOs (or to existing files);
- ``file:///path``: pipes, both stdout and stderr appended to that file;
- ``binary:///path?k=v``: a logging program gets the container's output directly (its fds
  3 and 4), says it is ready by closing fd 5; env ``CONTAINER_ID``, ``CONTAINER_NAMESPACE``;
- nothing at all: ``/dev/null``.

With a terminal, runc hands us the pty master (:class:`~pyctrd.runc.ConsoleSocket`) and we
copy it instead: stdin FIFO -> master, master -> stdout FIFO.

Stdin's end-of-file is managed like Go's shim: we hold a *writer* on the stdin FIFO as well,
so the container only sees EOF after CloseIO closed ours *and* the client closed its own.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import os
import stat
from dataclasses import dataclass
from typing import Any

from ..errdefs import InvalidArgument, NotFound, map_exceptions
from ..runc import Console, Monitor, NullIO, PipeIO
from ..runc.io import wait_readable
from .binary_io import BinaryIO, close_fds

__all__ = ["ProcessStdio", "Stdio", "copy_fd", "open_stdio"]

log = logging.getLogger("pyctrd.shim")


@dataclass(frozen=True)
class Stdio:
    """The stdio paths a client asked for (empty = none)."""

    stdin: str = ""
    stdout: str = ""
    stderr: str = ""
    terminal: bool = False

    def is_null(self) -> bool:
        return not (self.stdin or self.stdout or self.stderr)


async def _wait_writable(fd: int) -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)
    loop.add_writer(fd, wake)
    try:
        await ready
    finally:
        loop.remove_writer(fd)


async def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            await _wait_writable(fd)


async def copy_fd(src: int, dst: int) -> int:
    """Copy from ``src`` to ``dst`` until end-of-file; return the bytes copied.

    EIO on a pty master means the terminal was hung up: that is end-of-file too. A reader
    that went away (EPIPE) ends the copy quietly.
    """
    os.set_blocking(src, False)
    total = 0
    while True:
        try:
            data = os.read(src, 32768)
        except BlockingIOError:
            await wait_readable(src)
            continue
        except OSError as exc:
            if exc.errno == errno.EIO:
                return total
            raise
        if not data:
            return total
        try:
            await _write_all(dst, data)
        except BrokenPipeError:
            return total
        total += len(data)


def _is_fifo(path: str) -> bool:
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except FileNotFoundError:
        return False


class ProcessStdio:
    """The shim's side of one process's stdio: what runc gets, and the copies we run.

    Lifecycle: :func:`open_stdio` -> pass :attr:`runc_io` (or a console socket) to runc ->
    :meth:`start` (pipes) or :meth:`start_console` (tty) -> :meth:`close_stdin` on CloseIO ->
    :meth:`wait` (copies done) -> :meth:`close`.
    """

    def __init__(self, stdio: Stdio, runc_io: Any = None, binary: BinaryIO | None = None) -> None:
        self.stdio = stdio
        self.runc_io = runc_io
        self.binary = binary
        self.console: Console | None = None
        self._stdin_writer: int | None = None  # our hold on the stdin FIFO (see module doc)
        self._opened: list[int] = []
        self._users: dict[int, int] = {}  # output fd -> copies still writing to it
        self._copies: list[asyncio.Task[int]] = []
        self._outputs: list[asyncio.Task[int]] = []  # the copies Delete waits for

    def __repr__(self) -> str:
        kind = "tty" if self.stdio.terminal else type(self.runc_io).__name__
        return f"<ProcessStdio {kind} copies={len(self._copies)}>"

    def _open(self, path: str, flags: int) -> int:
        with map_exceptions(f"open {path}"):
            fd = os.open(path, flags | os.O_CLOEXEC)
        self._opened.append(fd)
        return fd

    def _open_stdin(self) -> int | None:
        """Open the stdin FIFO to read, then hold a writer on it (reader first: never blocks)."""
        if not self.stdio.stdin:
            return None
        reader = self._open(self.stdio.stdin, os.O_RDONLY | os.O_NONBLOCK)
        self._stdin_writer = os.open(self.stdio.stdin, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        return reader

    def _output(self, path: str, shared: dict[str, int]) -> int:
        """Where one output stream goes: a FIFO (O_RDWR: opening never waits for a reader)
        or an existing file, appended to (stdout and stderr to one file share one fd)."""
        if path not in shared:
            flags = os.O_RDWR | os.O_NONBLOCK if _is_fifo(path) else os.O_WRONLY | os.O_APPEND
            shared[path] = self._open(path, flags)
        fd = shared[path]
        self._users[fd] = self._users.get(fd, 0) + 1
        return fd

    async def _copy_out(self, src: int, dst: int) -> int:
        """Copy one output stream, then let go of the destination: the client reads until
        every writer has closed the FIFO, and waits for that before it deletes the task."""
        try:
            return await copy_fd(src, dst)
        finally:
            self._users[dst] -= 1
            if self._users[dst] == 0 and dst in self._opened:
                self._opened.remove(dst)
                close_fds(dst)

    def _spawn(self, coro: Any, output: bool = False) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._copies.append(task)
        if output:
            self._outputs.append(task)

    def start(self) -> None:
        """Start copying between runc's pipes and the client's paths (non-tty, after runc ran).

        Raises:
            NotFound: a FIFO or file named in the request does not exist.
        """
        io = self.runc_io
        if not isinstance(io, PipeIO):
            return
        shared: dict[str, int] = {}
        for ours, path in ((io.stdout, self.stdio.stdout), (io.stderr, self.stdio.stderr)):
            if ours is not None and path:
                self._spawn(self._copy_out(ours, self._output(path, shared)), output=True)
        reader = self._open_stdin()
        if reader is not None and io.stdin is not None:
            self._spawn(self._copy_stdin(reader, io.stdin))

    async def _copy_stdin(self, reader: int, pipe: int) -> int:
        try:
            return await copy_fd(reader, pipe)
        finally:
            if isinstance(self.runc_io, PipeIO) and self.runc_io.stdin is not None:
                close_fds(self.runc_io.stdin)  # the container sees end-of-file
                self.runc_io.stdin = None

    def start_console(self, console: Console) -> None:
        """Start copying for a terminal: stdin FIFO -> pty master -> stdout FIFO.

        Raises:
            NotFound: a FIFO named in the request does not exist.
        """
        self.console = console
        reader = self._open_stdin()
        if reader is not None:
            self._spawn(copy_fd(reader, console.fd))
        if self.stdio.stdout:
            self._spawn(self._copy_out(console.fd, self._output(self.stdio.stdout, {})), output=True)

    def close_stdin(self) -> None:
        """CloseIO: drop our writer on the stdin FIFO, so the client's close becomes EOF."""
        close_fds(self._stdin_writer)
        self._stdin_writer = None

    async def wait(self, timeout: float = 2.0) -> None:
        """Wait (at most ``timeout``) for the output copies to drain, as Go's delete does."""
        outputs = [t for t in self._outputs if not t.done()]
        if outputs:
            await asyncio.wait(outputs, timeout=timeout)

    async def close(self) -> None:
        """Stop every copy and close every descriptor (and stop a logging binary)."""
        for task in self._copies:
            task.cancel()
        if self._copies:
            await asyncio.wait(self._copies)
        self._copies.clear()
        self._outputs.clear()
        self.close_stdin()
        if self.console is not None:
            self.console.close()
        if self.runc_io is not None:
            self.runc_io.close()
        close_fds(*self._opened)
        self._opened.clear()
        if self.binary is not None:
            await self.binary.stop()
            self.binary = None


async def open_stdio(stdio: Stdio, *, id: str, namespace: str, monitor: Monitor,
                     io_uid: int = 0, io_gid: int = 0) -> ProcessStdio:
    """Prepare the stdio of one process before runc runs it (nothing for a terminal:
    runc makes the pty and sends us its master).

    Raises:
        InvalidArgument: an unknown URI scheme.
        NotFound: a ``binary://`` logger that does not exist.
    """
    if stdio.terminal:
        return ProcessStdio(stdio)
    if stdio.is_null():
        return ProcessStdio(stdio, NullIO())
    scheme, sep, rest = stdio.stdout.partition("://")
    scheme = scheme if sep else "fifo"
    if scheme == "binary":
        binary = await BinaryIO.launch(stdio.stdout, id, namespace, monitor)
        return ProcessStdio(stdio, binary, binary)
    if scheme == "file":
        path = "/" + rest.lstrip("/").split("?", 1)[0]
        with map_exceptions(f"log file {path}"):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644))
        stdio = Stdio(stdio.stdin, path, path, stdio.terminal)
    elif scheme != "fifo":
        raise InvalidArgument(f"unknown STDIO scheme {scheme}")
    elif sep:
        stdio = Stdio(stdio.stdin, rest, stdio.stderr, stdio.terminal)
    pipes = PipeIO(stdin=bool(stdio.stdin), stdout=bool(stdio.stdout), stderr=bool(stdio.stderr))
    if io_uid or io_gid:  # let a non-root container user reopen its stdio (/proc/self/fd/N)
        for fd in set(pipes.stdio()):
            os.fchown(fd, io_uid, io_gid)
    for path in {stdio.stdout, stdio.stderr} - {""}:
        if not os.path.exists(path):
            pipes.close()
            raise NotFound(f"stdio {path}")
    return ProcessStdio(stdio, pipes)
