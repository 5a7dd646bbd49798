"""The fork server: one warm shim per daemon that forks the serving shims, instead of an exec each.

**Why.** A serving shim is a Python process that imports asyncio, protobuf, ttrpc and the
Task service: ~90 ms of CPU before it can answer Connect, paid for every container (the
Go shim is ready in ~10 ms). Python's ``multiprocessing`` "forkserver" answers the same
problem: import once, then ``fork`` a ready copy per request (~3 ms, memory shared
copy-on-write).

**How** (``start`` runs this, see :mod:`.start`)::

    start ──connect──▶ <state>/pyrunc-fork/<hash of daemon address>   (absent: launch it, wait)
          ──send────▶ {argv, env, cwd} + the listening shim socket (SCM_RIGHTS)
                      fork server: fork ─▶ child: setsid, fork ─▶ grandchild = the shim; child exits
          ◀──reply─── the shim's pid

The grandchild is orphaned at once, so, exactly like a shim that ``start`` spawned, it is
re-parented to the nearest child subreaper: the daemon (the fork server itself was
re-parented to the daemon when the ``start`` that launched it exited). The shim then takes
the environment and working directory ``start`` was given, the socket as fd 3, /dev/null
as stdio, and rewrites its command line (``prctl(PR_SET_MM)``) to
``containerd-shim-pyrunc-v1 -namespace … -id … -address …``, so ``ps`` shows what an exec'd
shim shows; a fork server that cannot do that does not start.

**Lifetime.** It holds ``<socket>.lock`` (flock) while it serves: one per daemon, however
many ``start``\\ s race to launch it. It exits when the daemon that ran the first ``start``
exits (a pidfd turns readable), after ``IDLE_SECONDS`` without a request, or on SIGTERM.
Shims it forked live on without it. Only our own uid may ask (``SO_PEERCRED``).

``PYRUNC_FORKSERVER=0`` in the daemon's environment turns it off: every shim is exec'd.
Whatever goes wrong with the fork server, ``start`` falls back to exec.

The client half, which ``start`` imports, is :mod:`.forkclient` (standard library only).
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import gc
import json
import os
import select
import signal
import socket
import struct
import sys
from typing import Any

from .forkclient import recv_exactly, socket_path

__all__ = ["IDLE_SECONDS", "run_forkserver", "set_cmdline"]

IDLE_SECONDS = 600.0
MAX_REQUEST = 1 << 20
PR_SET_MM, PR_SET_MM_MAP = 35, 14

_cmdline_buffer: Any = None  # the new command line must outlive the prctl that points at it


def set_cmdline(argv: list[str]) -> bool:
    """Make ``/proc/self/cmdline`` (what ``ps`` shows) read ``argv``; False if not allowed.

    ``prctl(PR_SET_MM, PR_SET_MM_MAP)`` with the memory map as it is (from ``/proc/self/stat``)
    except for the argument area, which moves to a buffer of our own. Unlike the single-field
    ``PR_SET_MM_ARG_START``, this needs no CAP_SYS_RESOURCE (only a kernel built with
    checkpoint/restore, as distribution kernels are).
    """
    global _cmdline_buffer
    data = b"\0".join(a.encode() for a in argv) + b"\0"
    buf = ctypes.create_string_buffer(data, len(data))
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return False
    field = lambda n: int(fields[n - 3])  # stat(5) numbers fields from 1; we split after comm
    libc = ctypes.CDLL(None, use_errno=True)
    libc.sbrk.restype = ctypes.c_void_p
    mm_map = struct.pack("11QQII", field(26), field(27), field(45), field(46), field(47), libc.sbrk(0) or 0,
                         field(28), ctypes.addressof(buf), ctypes.addressof(buf) + len(data), field(50), field(51),
                         0, 0, 0xFFFFFFFF)
    raw = ctypes.create_string_buffer(mm_map, len(mm_map))
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    if libc.prctl(PR_SET_MM, PR_SET_MM_MAP, ctypes.addressof(raw), len(mm_map), 0) != 0:
        return False
    _cmdline_buffer = buf
    return True


class _ForkServer:
    """The serving half: lock, socket, the accept loop and the double fork."""

    def __init__(self, path: str, daemon_pid: int) -> None:
        self.path = path
        self.daemon_pid = daemon_pid
        self.lock_fd = -1
        self.listener: socket.socket | None = None
        self.pidfd = -1

    def acquire(self) -> bool:
        """Take the lock and the socket; False if another fork server holds them."""
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        self.lock_fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)  # a dead fork server's (we hold the lock: nobody serves it)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            listener.bind(self.path)
        finally:
            os.umask(old_umask)
        listener.listen(64)
        self.listener = listener
        with contextlib.suppress(OSError):
            self.pidfd = os.pidfd_open(self.daemon_pid)
        return True

    def close(self) -> None:
        if self.listener is not None:
            with contextlib.suppress(OSError):
                if os.stat(self.path).st_ino == os.fstat(self.listener.fileno()).st_ino:
                    os.unlink(self.path)
            self.listener.close()
        with contextlib.suppress(OSError):
            os.unlink(f"{self.path}.lock")
        for fd in (self.pidfd, self.lock_fd):
            if fd >= 0:
                os.close(fd)

    def serve(self) -> None:
        assert self.listener is not None
        watched = [self.listener, *([self.pidfd] if self.pidfd >= 0 else [])]
        while True:
            ready, _, _ = select.select(watched, [], [], IDLE_SECONDS)
            if not ready or self.pidfd in ready:
                return  # idle for too long, or the daemon is gone
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            with conn:
                self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        if struct.unpack("3i", creds)[1] != os.getuid():
            return
        conn.settimeout(5)
        fds: list[int] = []
        try:
            head, fds, _, _ = socket.recv_fds(conn, 4, 1)
            size = struct.unpack(">I", head + recv_exactly(conn, 4 - len(head)))[0]
            if size > MAX_REQUEST or len(fds) != 1:
                return
            request = json.loads(recv_exactly(conn, size))
            pid = self._fork(request, fds[0], conn)
            body = json.dumps({"pid": pid}).encode()
            conn.sendall(struct.pack(">I", len(body)) + body)
        except (OSError, ValueError, ConnectionError):
            return
        finally:
            for fd in fds:
                os.close(fd)

    def _fork(self, request: dict[str, Any], listener_fd: int, conn: socket.socket) -> int:
        """Fork twice; the grandchild becomes the shim and reports its pid once it is ready
        (renamed, environment set): only then may ``start`` print the address."""
        r, w = os.pipe()
        child = os.fork()
        if child == 0:
            code = 0
            try:
                os.close(r)
                if os.fork() == 0:
                    self._become_shim(request, listener_fd, conn, w)  # never returns
            except BaseException:  # noqa: BLE001 - whatever it was, this child only exits
                code = 1
            finally:
                os._exit(code)
        os.close(w)
        try:
            os.waitpid(child, 0)
            with os.fdopen(r, "rb") as f:
                return int(f.read() or b"0")
        except (OSError, ValueError):
            return 0

    def _become_shim(self, request: dict[str, Any], listener_fd: int, conn: socket.socket, ready: int) -> None:
        code = 1
        try:
            conn.close()
            if self.listener is not None:
                self.listener.close()
            for fd in (self.pidfd, self.lock_fd):
                if fd >= 0:
                    os.close(fd)  # the lock must die with the fork server, not live on in shims
            os.setsid()
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
                signal.signal(sig, signal.SIG_DFL)
            if listener_fd != 3:
                os.dup2(listener_fd, 3, inheritable=False)
                os.close(listener_fd)
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            os.close(null)
            os.chdir(request["cwd"])
            os.environ.clear()
            os.environ.update({str(k): str(v) for k, v in request["env"].items()})
            argv = [str(a) for a in request["argv"]]
            set_cmdline(argv)
            sys.argv = argv
            os.write(ready, str(os.getpid()).encode())
            os.close(ready)
            from .flags import parse
            from .serve import run

            code = run(parse(argv[1:]))
        finally:
            os._exit(code)


def _warm() -> None:
    """Import everything a serving shim imports, also lazily (cgroups, mounts, logging)."""
    from .. import cgroups, log  # noqa: F401
    from ..core import mount  # noqa: F401
    from . import serve  # noqa: F401


def run_forkserver(state_dir: str, address: str, daemon_pid: int) -> int:
    """The fork server's main (the ``forkserver`` action); returns the exit code."""
    if not set_cmdline(sys.argv):  # proves we may rename the shims we fork
        return 1
    os.chdir("/")  # never pin the directory we were started in (a bundle)
    server = _ForkServer(socket_path(state_dir, address), daemon_pid)
    try:
        if not server.acquire():
            return 0  # another one serves this daemon
        _warm()
        gc.freeze()  # what is imported now stays shared with every shim forked (no GC writes to it)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        server.serve()
    except OSError as exc:
        if exc.errno != errno.EINTR:
            return 1
    finally:
        server.close()
    return 0
