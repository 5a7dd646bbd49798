"""Container IO on the client side: FIFOs the shim writes into, and threads that copy them.

A task's stdio never passes through the daemon. The client makes a **FIFO set** in a
directory of its own (``<fifo dir>/<random>/<id>-stdin|stdout|stderr``), names the paths in
``Tasks.Create``, and the shim connects the container's stdio to them. The client then copies
between the FIFOs and its own streams - containerd's ``cio`` package::

    your stdin  ──thread──▶ c1-stdin  ──shim──▶ container stdin
    your stdout ◀──thread── c1-stdout ◀──shim── container stdout   (EOF when the process ends)

With a terminal there is no stderr: the container's pty carries both.

An :class:`IO` is made by a **creator** (``creator(id) -> IO``) when the task is created:
:func:`with_streams`, :func:`capture` (into memory: handy in notebooks and tests), :func:`null_io`
(nothing attached), :func:`log_uri` (the shim writes to ``file://`` or ``binary://``).
"""
from __future__ import annotations

import contextlib
import io
import os
import secrets
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ..core.runtime import IO as IOConfig
from ..errdefs import map_exceptions

__all__ = ["DEFAULT_FIFO_DIR", "IO", "Creator", "FIFOSet", "capture", "log_uri", "new_fifo_set", "null_io",
           "with_streams"]

#: Where pyctr makes FIFO sets (containerd's ctr: ``/run/containerd/fifo``).
DEFAULT_FIFO_DIR = "/run/pyctrd/fifo"


@dataclass(frozen=True)
class FIFOSet:
    """The FIFO paths of one process ("" where a stream is not attached), in ``dir``."""

    dir: str
    stdin: str = ""
    stdout: str = ""
    stderr: str = ""
    terminal: bool = False

    def __repr__(self) -> str:
        names = [os.path.basename(p) for p in (self.stdin, self.stdout, self.stderr) if p]
        return f"<FIFOSet {self.dir} {','.join(names) or '-'}{' tty' if self.terminal else ''}>"

    @property
    def config(self) -> IOConfig:
        return IOConfig(self.stdin, self.stdout, self.stderr, self.terminal)

    def remove(self) -> None:
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)


def new_fifo_set(fifo_dir: str | os.PathLike[str], id: str, *, stdin: bool = True, stdout: bool = True,
                 stderr: bool = True, terminal: bool = False) -> FIFOSet:
    """Make ``<fifo_dir>/<random>/<id>-stdin|stdout|stderr`` (mode 0700; no stderr with a terminal).

    Raises:
        NotFound, Unknown: the directory cannot be made.
    """
    with map_exceptions(f"fifo dir {fifo_dir}"):
        Path(fifo_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
        d = Path(fifo_dir) / str(secrets.randbits(31))
        d.mkdir(mode=0o700)
        paths = {}
        for name, wanted in (("stdin", stdin), ("stdout", stdout), ("stderr", stderr and not terminal)):
            if wanted:
                paths[name] = str(d / f"{id}-{name}")
                os.mkfifo(paths[name], 0o700)
    return FIFOSet(str(d), terminal=terminal, **paths)


def _quietly(fn: Callable[[], None]) -> None:
    with contextlib.suppress(Exception):  # the process may be gone already
        fn()


def _reader(stream: BinaryIO) -> Callable[[int], bytes]:
    """Read what is there: a real file through its fd (a daemon thread blocked in a buffered
    read would hold the buffer's lock at interpreter exit), anything else through read1/read."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        read: Callable[[int], bytes] = getattr(stream, "read1", stream.read)
        return read
    return lambda n: os.read(fd, n)


def _binary(stream: Any) -> BinaryIO:
    binary: BinaryIO = getattr(stream, "buffer", stream)
    return binary


@dataclass
class IO:
    """Attached stdio of one process: the FIFO paths for the daemon, the copying threads here.

    Attributes:
        config: what ``Tasks.Create``/``Exec`` are told (FIFO paths or a log URI).
        fifos: the FIFO set (None for null or log-URI IO).
    """

    config: IOConfig = field(default_factory=IOConfig)
    fifos: FIFOSet | None = None
    stdin: BinaryIO | None = None
    stdout: BinaryIO | None = None
    stderr: BinaryIO | None = None
    _on_stdin_eof: Callable[[], None] | None = None
    _stdin_done: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _threads: list[threading.Thread] = field(default_factory=list, repr=False)
    _started: bool = False

    def __repr__(self) -> str:
        return f"<cio.IO {self.fifos!r}>" if self.fifos else f"<cio.IO {self.config!r}>"

    def start(self, *, attach: bool = False) -> None:
        """Begin copying.

        For a new task each FIFO is opened in its thread, which waits for the shim's side.
        With ``attach`` (the shim holds its ends already) the output FIFOs are opened here,
        *before* anything is written to stdin: output that answers our input must find a
        reader, or a write into a FIFO nobody reads is lost.
        """
        if self._started or self.fifos is None:
            return
        self._started = True
        f = self.fifos
        for path, stream in ((f.stdout, self.stdout), (f.stderr, self.stderr)):
            if path and stream is not None:
                target: str | int = path
                if attach:
                    try:
                        target = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
                        os.set_blocking(target, True)
                    except OSError:
                        continue
                self._spawn(self._copy_out, target, stream)
        if f.stdin and self.stdin is not None:
            self._spawn(self._copy_in, f.stdin, self.stdin)

    def _spawn(self, fn: Callable[[Any, BinaryIO], None], target: str | int, stream: BinaryIO) -> None:
        name = f"cio {os.path.basename(target) if isinstance(target, str) else target}"
        t = threading.Thread(target=fn, args=(target, stream), daemon=True, name=name)
        t.start()
        self._threads.append(t)

    @staticmethod
    def _copy_out(target: str | int, stream: BinaryIO) -> None:
        if isinstance(target, int):
            fd = target
        else:
            try:
                fd = os.open(target, os.O_RDONLY)  # blocks until the shim opens its end
            except OSError:
                return
        try:
            while data := os.read(fd, 32768):
                stream.write(data)
                stream.flush()
        except (OSError, ValueError):
            pass
        finally:
            os.close(fd)

    def _copy_in(self, path: str, stream: BinaryIO) -> None:
        try:
            fd = os.open(path, os.O_WRONLY)
        except OSError:
            return
        try:
            read = _reader(stream)
            while data := read(32768):
                os.write(fd, data)
        except (OSError, ValueError):
            pass
        finally:
            os.close(fd)
        with self._lock:
            self._stdin_done = True
            closer = self._on_stdin_eof
        if closer is not None:
            _quietly(closer)

    def set_stdin_closer(self, fn: Callable[[], None]) -> None:
        """What to call once our stdin is exhausted: the shim holds the FIFO open itself, so the
        container sees EOF only after ``CloseIO``. Called at once if stdin already ended."""
        with self._lock:
            self._on_stdin_eof = fn
            done = self._stdin_done
        if done:
            _quietly(fn)

    def wait(self, timeout: float | None = None) -> None:
        """Wait for stdout and stderr to reach EOF (stdin is not waited for)."""
        for t in self._threads:
            if "stdin" not in t.name:
                t.join(timeout)

    def cancel(self) -> None:
        """Unblock threads still waiting for the shim to open a FIFO (it never will)."""
        if self.fifos is None:
            return
        for path, flags in ((self.fifos.stdout, os.O_WRONLY), (self.fifos.stderr, os.O_WRONLY),
                            (self.fifos.stdin, os.O_RDONLY)):
            if path:
                try:  # a non-blocking open of the other end completes a blocked open, then EOF
                    os.close(os.open(path, flags | os.O_NONBLOCK))
                except OSError:
                    pass

    def close(self) -> None:
        """Stop copying and remove the FIFO set."""
        self.cancel()
        self.wait(timeout=2)
        if self.fifos is not None:
            self.fifos.remove()


#: Makes the IO of a process from its ID (called when the task or exec is created).
Creator = Callable[[str], IO]


def null_io(id: str = "") -> IO:
    """Nothing attached: the container's stdio goes to /dev/null."""
    return IO()


def log_uri(uri: str) -> Creator:
    """stdout and stderr go where ``uri`` says (``file:///path``, ``binary:///bin?k=v``), via the shim."""
    def create(id: str) -> IO:
        return IO(IOConfig(stdout=uri, stderr=uri))
    return create


def with_streams(stdin: object | None = None, stdout: object | None = None, stderr: object | None = None, *,
                 terminal: bool = False, fifo_dir: str | os.PathLike[str] = DEFAULT_FIFO_DIR) -> Creator:
    """Attach these streams (binary, or text with a ``.buffer``); None leaves one out."""
    def create(id: str) -> IO:
        fifos = new_fifo_set(fifo_dir, id, stdin=stdin is not None, stdout=stdout is not None,
                             stderr=stderr is not None, terminal=terminal)
        return IO(fifos.config, fifos, _binary(stdin) if stdin is not None else None,
                  _binary(stdout) if stdout is not None else None, _binary(stderr) if stderr is not None else None)
    return create


def capture(stdin: bytes | None = None, *, terminal: bool = False,
            fifo_dir: str | os.PathLike[str] = DEFAULT_FIFO_DIR) -> Creator:
    """Collect stdout and stderr in memory (``io.stdout.getvalue()``); optional ``stdin`` bytes."""
    return with_streams(io.BytesIO(stdin) if stdin is not None else None, io.BytesIO(), io.BytesIO(),
                        terminal=terminal, fifo_dir=fifo_dir)
