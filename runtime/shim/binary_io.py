"""``binary://`` stdio: a logging program reads the container's output itself.

``ctr run --log-uri binary:///usr/local/bin/logger?tag=web`` asks for it (containerd's
``NewBinaryIO``). The shim starts the program with::

    fd 3 = the read end of the container's stdout pipe
    fd 4 = the read end of its stderr pipe
    fd 5 = a pipe the logger closes (or writes to) once it is ready
    env   CONTAINER_ID, CONTAINER_NAMESPACE (and nothing else)
    args  the URI's query, as ``key value`` pairs

and waits for the ready signal before runc creates the container, whose stdout and stderr
are the pipes' write ends. Nothing is copied by the shim. At Delete the logger gets SIGTERM
(and SIGKILL if it has not finished 12 s later).
"""
from __future__ import annotations

import asyncio
import os

from ..runc import Monitor
from ..runc.io import wait_readable

__all__ = ["BinaryIO", "close_fds"]


def close_fds(*fds: int | None) -> None:
    """Close each fd that is set (``None``/negative skipped), ignoring errors."""
    for fd in fds:
        if fd is not None and fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass


class BinaryIO:
    """``binary://`` stdio: a logging program reads the container's stdout and stderr itself.

    Make it with :meth:`launch`. It is a :class:`pyctrd.runc.ProcessIO`: the container gets
    the pipes' write ends; the logger got the read ends as its fds 3 and 4.
    """

    def __init__(self, pid: int, out_w: int, err_w: int, monitor: Monitor) -> None:
        self.pid, self._monitor = pid, monitor
        self._null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        self._fds = [self._null, out_w, err_w]

    @classmethod
    async def launch(cls, uri: str, id: str, namespace: str, monitor: Monitor) -> BinaryIO:
        """Start the logger named by ``uri`` and wait until it says it is ready.

        Raises:
            NotFound: the program does not exist.
        """
        from urllib.parse import parse_qsl, urlsplit

        parts = urlsplit(uri)
        args = [word for key, value in parse_qsl(parts.query, keep_blank_values=True)
                for word in ((key, value) if value else (key,))]
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        ready_r, ready_w = os.pipe()
        null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        try:
            pid = monitor.spawn([parts.path, *args], (null, null, null), [out_r, err_r, ready_w],
                                env={"CONTAINER_ID": id, "CONTAINER_NAMESPACE": namespace})
        except BaseException:
            close_fds(out_w, err_w, ready_r)
            raise
        finally:
            close_fds(out_r, err_r, ready_w, null)
        try:  # the logger writes a byte or closes fd 5 once it is ready
            await wait_readable(ready_r)
        finally:
            close_fds(ready_r)
        return cls(pid, out_w, err_w, monitor)

    def stdio(self) -> tuple[int, int, int]:
        return (self._fds[0], self._fds[1], self._fds[2])

    def close_after_start(self) -> None:
        close_fds(*self._fds)  # the container holds its copies; the logger sees EOF when it exits
        self._fds = [-1, -1, -1]

    close = close_after_start

    async def stop(self, timeout: float = 12.0) -> None:
        """Ask the logger to finish (SIGTERM), then kill it if it takes longer than ``timeout``."""
        try:
            os.kill(self.pid, 15)
        except ProcessLookupError:
            pass
        try:
            await asyncio.wait_for(self._monitor.wait(self.pid), timeout)
        except TimeoutError:
            os.kill(self.pid, 9)
            await self._monitor.wait(self.pid)

    def __repr__(self) -> str:
        return f"<BinaryIO pid={self.pid}>"
