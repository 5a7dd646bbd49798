"""A readers-writer lock (Go's ``sync.RWMutex``, which containerd's metadata snapshotter uses).

>>> lock = RWLock()
>>> with lock.shared(), lock.shared():   # readers do not exclude each other
...     pass
>>> with lock.exclusive():
...     pass
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["RWLock"]


class RWLock:
    """Many holders of :meth:`shared` at once, or one of :meth:`exclusive` (containerd's RWMutex).

    Snapshot operations share it; the garbage collector's backend sweep takes it exclusively,
    so it never sees a backend snapshot whose record is about to be written.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            while self._writer:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._readers:
                self._cond.wait()
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()
