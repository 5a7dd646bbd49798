"""ctr's transfer progress: one line per blob, a bar, bytes, and an ``elapsed … total`` line.

:class:`ProgressDisplay` is the ``progress`` callback of :meth:`pyctrd.client.Client.pull`
(and push). It keeps the latest :class:`~pyctrd.core.remotes.Progress` of each ref, in the
order they appeared, and draws the table ctr draws::

    127.0.0.1:5000/layered:latest:    resolved       |++++++++++++++++++++++++++++++++++++++|
    manifest-sha256:bcc4…:            done           |++++++++++++++++++++++++++++++++++++++|
    layer-sha256:509e…:               downloading    |+++++++++++++-------------------------| 360.0 KiB/1.0 MiB
    elapsed: 0.1 s                    total:  360.0  (3.5 MiB/s)

In a terminal the table is redrawn every 100 ms over itself (cursor up, clear line) with a
green bar, as ctr does; otherwise it is printed once, plain, when the transfer ends. Time is
read through ``clock`` and the drawing is driven by :meth:`tick`, so tests need no sleeps.
"""
from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from typing import Self, TextIO

from ...core.remotes import Progress
from .tabwriter import TabWriter
from .units import bytes_iec

__all__ = ["ProgressDisplay", "bar"]

GREEN, RESET = "\x1b[32m", "\x1b[0m"
ACTIVE = ("downloading", "uploading")


def bar(fraction: float, width: int = 40, *, color: bool = False) -> str:
    """ctr's ``progress.Bar``: ``|+++---|`` ``width`` characters wide.

    >>> bar(0.5, 12)
    '|+++++-----|'
    """
    fraction = min(max(fraction, 0.0), 1.0)
    inner = width - 2
    done = int(inner * fraction)
    plus = "+" * done
    if color:
        plus = f"{GREEN}{plus}{RESET}"
    return f"|{plus}{'-' * (inner - done)}|"


def _bytes(n: int) -> str:
    return bytes_iec(n)


class ProgressDisplay:
    """A thread-safe progress callback that draws ctr's table (see the module docstring).

    Args:
        out: where to draw.
        tty: redraw in place with colours (default: whether ``out`` is a terminal).
        clock: seconds, monotonic (the elapsed line).
        interval: seconds between redraws in a terminal (:meth:`start` runs a ticker).
    """

    def __init__(self, out: TextIO, *, tty: bool | None = None, clock: Callable[[], float] = time.monotonic,
                 interval: float = 0.1) -> None:
        self.out, self.clock, self.interval = out, clock, interval
        self.tty = out.isatty() if tty is None else tty
        self.start_time = clock()
        self._lock = threading.Lock()
        self._order: list[str] = []
        self._latest: dict[str, Progress] = {}
        self.hosts: dict[str, str] = {}
        self._drawn_lines = 0
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"<ProgressDisplay {len(self._order)} refs{' tty' if self.tty else ''}>"

    def __call__(self, p: Progress) -> None:
        with self._lock:
            if p.ref not in self._latest:
                self._order.append(p.ref)
            self._latest[p.ref] = p
            if p.host:
                self.hosts[p.ref] = p.host

    # -- drawing --------------------------------------------------------------------------
    def render(self) -> str:
        """The table as it stands (no cursor movement)."""
        with self._lock:
            latest = [self._latest[r] for r in self._order]
        w = TabWriter(minwidth=1, padding=1)
        total = 0
        for p in latest:
            total += p.offset if p.status in ACTIVE or p.status in ("done", "pushed") else 0
            if p.status in ACTIVE:
                frac = p.offset / p.total if p.total else 0.0
                size = f"{_bytes(p.offset):>8.8}/{_bytes(p.total)}"
                w.write(f"{p.ref}:\t{p.status}\t{bar(frac, color=self.tty)}\t{size}\t\n")
            elif p.status in ("resolving", "waiting"):
                w.write(f"{p.ref}:\t{p.status}\t{bar(0.0, color=self.tty)}\t\n")
            else:
                w.write(f"{p.ref}:\t{p.status}\t{bar(1.0, color=self.tty)}\t\n")
        elapsed = max(self.clock() - self.start_time, 1e-9)
        rate = _bytes(int(total / elapsed))
        w.write(f"elapsed: {elapsed:<4.1f}s\ttotal: {_bytes(total)[:6]:>7}\t({rate}/s)\t\n")
        return w.getvalue()

    def tick(self) -> None:
        """Draw once: in a terminal over the previous drawing; otherwise nothing (see finish)."""
        if not self.tty:
            return
        text = self.render()
        self.out.write("\x1b[1A\x1b[2K\r" * self._drawn_lines + text)
        self.out.flush()
        width = shutil.get_terminal_size((0, 0)).columns
        plain = text.replace(GREEN, "").replace(RESET, "")
        self._drawn_lines = sum((len(line) - 1) // width + 1 if width else 1 for line in plain.split("\n")[:-1])

    def start(self) -> Self:
        """In a terminal, redraw every ``interval`` seconds until :meth:`finish`."""
        if self.tty and self._ticker is None:
            def run() -> None:
                while not self._stop.wait(self.interval):
                    self.tick()

            self._ticker = threading.Thread(target=run, name="pyctr-progress", daemon=True)
            self._ticker.start()
        return self

    def finish(self) -> None:
        """Stop the ticker and draw the final table (the only drawing when not a terminal).
        Finishing again does nothing."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        if self.tty:
            self.tick()
        else:
            self.out.write(self.render())
            self.out.flush()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.finish()
