"""Running a process attached to this terminal: stdio, signals, terminal size, exit code.

Shared by ``run``, ``tasks start``, ``tasks exec`` and ``tasks attach``. As ctr does: without
a terminal, signals this program receives (Ctrl-C's SIGINT, SIGTERM, ...) are forwarded to the
process; with ``-t`` the local terminal goes raw (Ctrl-C travels as a byte to the container's
pty) and window size changes (SIGWINCH) are passed on with ``ResizePty``.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import termios
import threading
import tty
from collections.abc import Iterator

from ... import errdefs
from ...client import Process, cio
from ...core.runtime import Exit

__all__ = ["FORWARDED", "io_creator", "raw_terminal", "wait_attached"]

#: Signals forwarded to a process run without a terminal.
FORWARDED: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


def io_creator(tty_: bool, fifo_dir: str, log_uri: str = "") -> cio.Creator:
    """Our stdio (just stdin and stdout with a terminal), or a log URI."""
    if log_uri:
        return cio.log_uri(log_uri)
    if tty_:
        return cio.with_streams(sys.stdin, sys.stdout, None, terminal=True, fifo_dir=fifo_dir)
    return cio.with_streams(sys.stdin, sys.stdout, sys.stderr, fifo_dir=fifo_dir)


@contextlib.contextmanager
def raw_terminal(enabled: bool) -> Iterator[None]:
    """Put stdin's terminal in raw mode for the block (no-op without a terminal)."""
    if not enabled or not os.isatty(sys.stdin.fileno()):
        yield
        return
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _resize(process: Process) -> None:
    try:
        size = os.get_terminal_size(sys.stdout.fileno())
    except OSError:
        return
    with contextlib.suppress(errdefs.PyctrdError):
        process.resize(size.columns, size.lines)


def wait_attached(process: Process, *, terminal: bool, start: bool = True) -> Exit:
    """Start ``process`` (unless started), pass signals or resizes on, return its exit.

    The wait is set up before the start, so a process that exits at once is not missed.
    """
    outcome: dict[str, object] = {}

    def waiter() -> None:
        try:
            outcome["exit"] = process.wait()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=waiter, daemon=True, name="wait")
    thread.start()
    previous: dict[int, object] = {}

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(errdefs.PyctrdError):
            process.kill(signum)

    try:
        # handlers first: a signal that comes while the process starts is passed on too
        if terminal:
            previous[signal.SIGWINCH] = signal.signal(signal.SIGWINCH, lambda *_: _resize(process))
        else:
            for sig in FORWARDED:
                previous[sig] = signal.signal(sig, forward)
        if start:
            process.start()
        if terminal:
            _resize(process)
        while thread.is_alive():
            thread.join(0.2)  # wake up regularly: signal handlers run in this thread
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["exit"]  # type: ignore[return-value]
