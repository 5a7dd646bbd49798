"""A container's stdin, stdout and stderr: descriptors handed over, never relayed by runc.

``runc create`` (and ``runc exec --detach``) give the new process *runc's own* fds 0, 1 and
2, then runc exits. So whatever we start runc with **is** the container's stdio. Two
consequences:

- never capture ``runc create``'s output through a pipe and wait for end-of-file: the
  container holds that pipe's write end and EOF comes only when it exits (hence runc's
  errors are read from its log, not from stderr, see :mod:`pyctrd.runc.runc`);
- after runc has started, close our copies of the ends we gave away, or a reader of
  stdout never sees EOF because *we* still hold a write end (go-runc's ``CloseAfterStart``).

Three kinds of IO, all with :meth:`ProcessIO.stdio` (the fds the process gets) and
:meth:`ProcessIO.close_after_start`:

- :class:`NullIO`: ``/dev/null`` for all three (containerd's default for ``ctr run -d``);
- :class:`PipeIO`: three pipes; we keep the other ends (what a shim copies to client FIFOs);
- :class:`FileIO`: files or FIFOs opened for the process directly (``ctr run --log-uri file://``).
"""
from __future__ import annotations

import asyncio
import os
import stat
from typing import Protocol

from ..errdefs import map_exceptions

__all__ = ["FileIO", "NullIO", "PipeIO", "ProcessIO", "read_until_eof", "wait_readable"]


class ProcessIO(Protocol):
    """The stdio given to a process that runc starts."""

    def stdio(self) -> tuple[int, int, int]:
        """The fds that become the process's 0, 1 and 2.

        Raises:
            FailedPrecondition: the IO was closed already.
        """
        ...

    def close_after_start(self) -> None:
        """Close our copies of the process's ends once runc has started (idempotent).

        Raises:
            Nothing: errors closing are ignored.
        """
        ...

    def close(self) -> None:
        """Close everything this IO still holds (idempotent).

        Raises:
            Nothing: errors closing are ignored.
        """
        ...


def _close(*fds: int | None) -> None:
    for fd in fds:
        if fd is not None and fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass


class NullIO:
    """``/dev/null`` as stdin, stdout and stderr."""

    def __init__(self) -> None:
        self._fd = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)

    def stdio(self) -> tuple[int, int, int]:
        return (self._fd, self._fd, self._fd)

    def close_after_start(self) -> None:
        _close(self._fd)
        self._fd = -1

    close = close_after_start

    def __repr__(self) -> str:
        return "<NullIO>"


class PipeIO:
    """A pipe for each stream asked for (``/dev/null`` for the others).

    Our ends are :attr:`stdin` (write), :attr:`stdout` and :attr:`stderr` (read), or ``None``
    for streams not asked for. Read them with :func:`read_until_eof` or
    ``loop.connect_read_pipe``; close :attr:`stdin` to give the process end-of-file.
    """

    def __init__(self, stdin: bool = False, stdout: bool = True, stderr: bool = True) -> None:
        self.stdin: int | None = None
        self.stdout: int | None = None
        self.stderr: int | None = None
        null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        child = [null, null, null]
        if stdin:
            child[0], self.stdin = os.pipe()
        if stdout:
            self.stdout, child[1] = os.pipe()
        if stderr:
            self.stderr, child[2] = os.pipe()
        if null not in child:
            os.close(null)
        self._child = child

    def stdio(self) -> tuple[int, int, int]:
        return (self._child[0], self._child[1], self._child[2])

    def close_after_start(self) -> None:
        _close(*set(self._child))
        self._child = [-1, -1, -1]

    def close(self) -> None:
        self.close_after_start()
        _close(self.stdin, self.stdout, self.stderr)
        self.stdin = self.stdout = self.stderr = None

    def __repr__(self) -> str:
        kinds = [n for n in ("stdin", "stdout", "stderr") if getattr(self, n) is not None]
        return f"<PipeIO {','.join(kinds) or 'closed'}>"


def _open_input(path: str) -> int:
    if stat.S_ISFIFO(os.stat(path).st_mode):
        # O_NONBLOCK so opening does not wait for a writer, then back to blocking for reads
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        os.set_blocking(fd, True)
        return fd
    return os.open(path, os.O_RDONLY | os.O_CLOEXEC)


def _open_output(path: str) -> int:
    if os.path.exists(path) and stat.S_ISFIFO(os.stat(path).st_mode):
        # O_RDWR on a FIFO never blocks waiting for a reader (Linux); the reader still sees
        # EOF when the process, the last writer, exits.
        return os.open(path, os.O_RDWR | os.O_CLOEXEC)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)


class FileIO:
    """Files (appended to) or FIFOs given to the process directly; ``None`` means /dev/null.

    Raises:
        NotFound: ``stdin`` (or an output's directory) does not exist.
    """

    def __init__(self, stdin: str | None = None, stdout: str | None = None,
                 stderr: str | None = None) -> None:
        self.paths = (stdin, stdout, stderr)
        fds: list[int] = []
        try:
            for i, path in enumerate(self.paths):
                with map_exceptions(f"process io {path}"):
                    if path is None:
                        fds.append(os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC))
                    else:
                        fds.append(_open_input(path) if i == 0 else _open_output(path))
        except BaseException:
            _close(*fds)
            raise
        self._fds = fds

    def stdio(self) -> tuple[int, int, int]:
        return (self._fds[0], self._fds[1], self._fds[2])

    def close_after_start(self) -> None:
        _close(*self._fds)
        self._fds = [-1, -1, -1]

    close = close_after_start

    def __repr__(self) -> str:
        return "<FileIO " + " ".join(p or "-" for p in self.paths) + ">"


async def wait_readable(fd: int) -> None:
    """Wait until ``fd`` can be read without blocking (the event loop watches it).

    Raises:
        Nothing of its own: cancellation propagates, and the watch is always removed.
    """
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)
    loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        loop.remove_reader(fd)


async def read_until_eof(fd: int) -> bytes:
    """Everything readable from ``fd`` until end-of-file, without blocking the loop.

    Raises:
        Unknown: a read error other than EOF.
    """
    os.set_blocking(fd, False)
    chunks: list[bytes] = []
    while True:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            await wait_readable(fd)
            continue
        if not data:
            return b"".join(chunks)
        chunks.append(data)
