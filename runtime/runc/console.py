"""Terminals: how a container gets a tty, and how we get its other end.

With ``"terminal": true`` in the process spec, runc makes a pseudo-terminal *inside* the
container (its ``/dev/pts`` is the container's own devpts instance): the process gets the
slave side as stdin/stdout/stderr and becomes its session leader. The master side, where
keystrokes go in and screen output comes out, must reach whoever drives the terminal. runc
sends it as a file descriptor over a unix socket that we listen on (``--console-socket``),
in an ``SCM_RIGHTS`` control message; the message text is the pty's name.

    sock = ConsoleSocket("/run/…/c1.sock")      # listen before runc create
    await runc.create("c1", bundle, pid_file=…, console_socket=sock)
    console = await sock.receive_master()       # the pty master, as a Console
    console.write(b"echo hi\\n"); await console.read()

Closing the master hangs up the terminal (the process gets SIGHUP). When every process
holding the slave side has exited, reads on the master fail with EIO: that is end-of-file.
"""
from __future__ import annotations

import asyncio
import errno
import fcntl
import os
import socket
import struct
import termios
from types import TracebackType
from typing import Self

from ..errdefs import InvalidArgument, Unknown, map_exceptions
from .io import wait_readable

__all__ = ["Console", "ConsoleSocket"]


class Console:
    """The master side of a container's pseudo-terminal (non-blocking, asyncio-friendly)."""

    def __init__(self, fd: int, name: str = "") -> None:
        self.fd = fd
        self.name = name
        os.set_blocking(fd, False)

    async def read(self, n: int = 65536) -> bytes:
        """Up to ``n`` bytes of terminal output; ``b""`` once no process holds the terminal.

        Raises:
            Unknown: a read error other than the hang-up (EIO).
        """
        while True:
            try:
                return os.read(self.fd, n)
            except BlockingIOError:
                await wait_readable(self.fd)
            except OSError as exc:
                if exc.errno == errno.EIO:
                    return b""
                raise Unknown(f"console {self.name}: {exc.strerror}") from exc

    async def read_until(self, marker: bytes, limit: int = 1 << 20) -> bytes:
        """Read until ``marker`` has appeared (or EOF); return everything read.

        Raises:
            InvalidArgument: more than ``limit`` bytes came without the marker.
        """
        buf = b""
        while marker not in buf:
            chunk = await self.read()
            if not chunk:
                break
            buf += chunk
            if len(buf) > limit:
                raise InvalidArgument(f"console {self.name}: {marker!r} not seen in {limit} bytes")
        return buf

    def write(self, data: bytes) -> int:
        """Type ``data`` into the terminal (keystrokes); returns how many bytes were taken.

        Raises:
            Unknown: the terminal is gone or its input buffer is full.
        """
        with map_exceptions(f"console {self.name}"):
            return os.write(self.fd, data)

    def resize(self, width: int, height: int) -> None:
        """Set the window size (the process gets SIGWINCH), as ``ctr``'s ResizePty does.

        Raises:
            Unknown: the ioctl failed (e.g. the console is closed).
        """
        with map_exceptions(f"console {self.name} resize"):
            fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    def size(self) -> tuple[int, int]:
        """The current window size as (width, height).

        Raises:
            Unknown: the ioctl failed.
        """
        with map_exceptions(f"console {self.name} size"):
            rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(self.fd, termios.TIOCGWINSZ, b"\0" * 8))
        return cols, rows

    def close(self) -> None:
        """Close the master (hangs up the terminal). Idempotent."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __repr__(self) -> str:
        return f"<Console {self.name or '?'} fd={self.fd}>"


class ConsoleSocket:
    """A listening unix socket at ``path`` for runc's ``--console-socket``.

    Args:
        path: where to create the socket (must not exist; < 108 bytes); removed on close.

    Raises:
        InvalidArgument: the path is too long for a unix socket.
        AlreadyExists: something exists at ``path``.
    """

    def __init__(self, path: str) -> None:
        if len(os.fsencode(path)) >= 108:
            raise InvalidArgument(f"console socket path too long ({len(path)} bytes): {path}")
        self.path = path
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with map_exceptions(f"console socket {path}"):
                self._sock.bind(path)
            self._sock.listen(1)
            self._sock.setblocking(False)
        except BaseException:
            self._sock.close()
            raise

    async def receive_master(self) -> Console:
        """Accept runc's connection and take the pty master it sends.

        runc has sent it by the time ``create`` (or a detached ``exec``) returns, so await
        this afterwards; if runc failed it never connects and this would wait forever.

        Raises:
            Unknown: the peer sent no file descriptor.
        """
        loop = asyncio.get_running_loop()
        conn, _ = await loop.sock_accept(self._sock)
        with conn:
            while True:
                try:
                    msg, fds, _, _ = socket.recv_fds(conn, 4096, 1)
                    break
                except BlockingIOError:
                    await wait_readable(conn.fileno())
        if not fds:
            raise Unknown(f"console socket {self.path}: no file descriptor received")
        return Console(fds[0], msg.decode(errors="replace"))

    def close(self) -> None:
        """Stop listening and remove the socket file. Idempotent."""
        self._sock.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, t: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<ConsoleSocket {self.path}>"
