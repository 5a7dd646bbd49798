"""kill -9 at a random point: a seeded count of acknowledged operations, no timers.

Workers call :meth:`Killer.ack` after each operation the daemon acknowledged; when the count
reaches the point the seeded generator picked, that worker kills the daemon with SIGKILL on
the spot - in the middle of whatever the other workers have in flight. Workers then see
errors and stop (:meth:`Killer.dead`). The same seed gives the same kill points.

>>> k = Killer(pid=0, at=3)
>>> repr(k)
'<Killer at=3 acked=0 fired=False>'
"""
from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

__all__ = ["Killer", "integrity", "run_workers"]


class Killer:
    def __init__(self, pid: int, at: int) -> None:
        self.pid, self.at = pid, at
        self.acked = 0
        self.fired = threading.Event()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Killer at={self.at} acked={self.acked} fired={self.fired.is_set()}>"

    def ack(self) -> None:
        with self._lock:
            self.acked += 1
            if self.acked == self.at and not self.fired.is_set():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                self.fired.set()

    def dead(self) -> bool:
        return self.fired.is_set()

    def finish(self) -> int:
        """After the workers: 1 if the kill came mid-workload; else kill now and return 0."""
        if self.fired.is_set():
            return 1
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        self.fired.set()
        return 0


def run_workers(n: int, work: Callable[[int], None], killer: Killer, timeout: float = 120) -> list[BaseException]:
    """Run ``work(i)`` in ``n`` threads until each returns (after the kill, at the latest);
    returns what they raised that was not the daemon going away."""
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            work(i)
        except BaseException as exc:
            if not killer.dead():
                errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
        assert not t.is_alive(), "a worker hung after the daemon was killed"
    return errors


def integrity(root: Path) -> str:
    """``PRAGMA integrity_check`` of the metadata database under ``root``."""
    with sqlite3.connect(root / "io.containerd.metadata.v1.sqlite" / "meta.db") as c:
        return str(c.execute("PRAGMA integrity_check").fetchone()[0])
