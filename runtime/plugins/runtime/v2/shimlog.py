"""A shim's log: the ``log`` FIFO in its bundle, copied to the daemon's stderr."""
from __future__ import annotations

import asyncio
import contextlib
import os
import sys

from .bundle import Bundle

__all__ = ["ShimLog"]


class ShimLog:
    """Copies a shim's log FIFO to the daemon's stderr, as containerd does.

    Opened read-write so that opening never blocks and the daemon never sees EOF between
    shim writes; reopened by a restarted daemon.
    """

    def __init__(self, bundle: Bundle) -> None:
        path = bundle.path / "log"
        if not path.exists():
            os.mkfifo(path, 0o700)
        self.fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.fd, self._copy)

    def _copy(self) -> None:
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            self.close()
            return
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.buffer.write(data)
            sys.stderr.flush()

    def close(self) -> None:
        if self.fd >= 0:
            self._loop.remove_reader(self.fd)
            os.close(self.fd)
            self.fd = -1
