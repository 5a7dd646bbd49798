"""The fork server: one warm shim per daemon that forks the serving shims, instead of an exec each.

**Why.** A serving shim is a Python process that imports asyncio, protobuf, ttrpc and the
Task service: ~90 ms of CPU before it can answer Connect, paid for every container (the
Go shim is ready in ~10 ms). Python's ``multiprocessing`` "forkserver" answers the same
problem: import once, then ``fork`` a ready copy per request (~3 ms, memory shared
copy-on-write).

**How** (``start`` runs this, see :mod:`.start`)::

    start ──connect──▶ <state>/pyrunc-fork/<hash of daemon address>   (absent: launch it, wait)
          ──send────▶ {argv, env, cwd} + the listening shim socket (SCM_RIGHTS)
                      fork server ──pair──▶ the spare: takes argv, env, cwd, the socket; "ok"
          ◀──reply─── the shim's pid          fork server: fork ─▶ child: fork ─▶ the next spare

The fork that makes a shim happens *before* it is asked for: the fork server keeps one
**spare**, forked twice (the middle process exits at once), waiting on a socketpair. A
request only hands it the work, and the next spare is forked once ``start`` has its answer.

The spare is orphaned at once, so, exactly like a shim that ``start`` spawned, it is
re-parented to the nearest child subreaper: the daemon (the fork server itself was
re-parented to the daemon when the ``start`` that launched it exited). The shim then takes
the environment and working directory ``start`` was given, the socket as fd 3, /dev/null
as stdio, and rewrites its command line and environment as the kernel shows them
(``prctl(PR_SET_MM)``: ``/proc/<pid>/cmdline``, ``environ``), so ``ps`` shows
``… containerd-shim-pyrunc-v1 -namespace … -id … -address …`` as for an exec'd shim; a fork
server that cannot do that does not start.

**Lifetime.** It holds ``<socket>.lock`` (flock) while it serves: one per daemon, however
many ``start``\\ s race to launch it. It exits when the daemon that ran the first ``start``
exits (a pidfd turns readable), when its socket is removed (with the daemon's state
directory), after ``IDLE_SECONDS`` without a request, or on SIGTERM.
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
import marshal
import os
import select
import signal
import socket
import struct
import sys
import time
from typing import Any

from .forkclient import frame, recv_exactly, socket_path

__all__ = ["IDLE_SECONDS", "run_forkserver", "set_cmdline"]

IDLE_SECONDS = 600.0
CHECK_SECONDS = 1.0  # how often the socket's presence is checked while idle
MAX_REQUEST = 1 << 20
PR_SET_MM, PR_SET_MM_MAP = 35, 14

_buffers: list[Any] = []  # what /proc/self/cmdline and environ point at must stay alive


def set_cmdline(argv: list[str], env: dict[str, str] | None = None) -> bool:
    """Make ``/proc/self/cmdline`` (what ``ps`` shows) read ``argv``, and ``/proc/self/environ``
    read ``env`` if given; False if the kernel does not allow it.

    ``prctl(PR_SET_MM, PR_SET_MM_MAP)`` with the memory map as it is (from ``/proc/self/stat``)
    except for the argument (and environment) area, moved to buffers of our own. Unlike the
    single-field ``PR_SET_MM_ARG_START``, this needs no CAP_SYS_RESOURCE (only a kernel built
    with checkpoint/restore, as distribution kernels are).
    """
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return False

    def field(n: int) -> int:
        return int(fields[n - 3])  # stat(5) numbers fields from 1; we split after the command name

    def area(strings: list[str]) -> tuple[Any, int, int]:
        data = b"".join(x.encode() + b"\0" for x in strings)
        buf = ctypes.create_string_buffer(data, len(data))
        return buf, ctypes.addressof(buf), ctypes.addressof(buf) + len(data)

    args, arg_start, arg_end = area(argv)
    envs, env_start, env_end = area([f"{k}={v}" for k, v in env.items()]) if env is not None \
        else (None, field(50), field(51))
    libc: Any = ctypes.CDLL(None, use_errno=True)
    libc.sbrk.restype = ctypes.c_void_p
    mm_map = struct.pack("11QQII", field(26), field(27), field(45), field(46), field(47), libc.sbrk(0) or 0,
                         field(28), arg_start, arg_end, env_start, env_end, 0, 0, 0xFFFFFFFF)
    raw = ctypes.create_string_buffer(mm_map, len(mm_map))
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    if libc.prctl(PR_SET_MM, PR_SET_MM_MAP, ctypes.addressof(raw), len(mm_map), 0) != 0:
        return False
    _buffers[:] = [args, envs]
    return True


class _ForkServer:
    """The serving half: lock, socket, the accept loop and the double fork."""

    def __init__(self, path: str, daemon_pid: int) -> None:
        self.path = path
        self.daemon_pid = daemon_pid
        self.lock_fd = -1
        self.listener: socket.socket | None = None
        self.inode = 0
        self.pidfd = -1
        self.spare: tuple[int, socket.socket] | None = None  # pid, and the pair to hand it work

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
        self.inode = os.stat(self.path).st_ino  # the socket file's (fstat would give the socket's own)
        with contextlib.suppress(OSError):
            self.pidfd = os.pidfd_open(self.daemon_pid)
        return True

    def close(self) -> None:
        if self.listener is not None:
            if self._still_ours():
                with contextlib.suppress(OSError):
                    os.unlink(self.path)
            self.listener.close()
        with contextlib.suppress(OSError):
            os.unlink(f"{self.path}.lock")
        for fd in (self.pidfd, self.lock_fd):
            if fd >= 0:
                os.close(fd)
        if self.spare is not None:
            self.spare[1].close()  # the spare sees the pair close and exits
            self.spare = None

    def _still_ours(self) -> bool:
        """Is our socket still at its path (not removed with its directory, nor replaced)?"""
        try:
            return os.stat(self.path).st_ino == self.inode
        except OSError:
            return False

    def serve(self) -> None:
        assert self.listener is not None
        watched: list[Any] = [self.listener, *([self.pidfd] if self.pidfd >= 0 else [])]
        idle_since = time.monotonic()
        while True:
            ready, _, _ = select.select(watched, [], [], CHECK_SECONDS)
            if self.pidfd in ready or not self._still_ours():
                return  # the daemon is gone, or our socket is
            if not ready:
                if time.monotonic() - idle_since > IDLE_SECONDS:
                    return
                continue
            idle_since = time.monotonic()
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            with conn:
                self._answer(conn)
            if self.spare is None:
                self.spawn_spare()  # the next one, after this start has its answer

    def _answer(self, conn: socket.socket) -> None:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        if struct.unpack("3i", creds)[1] != os.getuid():
            return
        conn.settimeout(5)
        fds: list[int] = []
        try:
            head, fds, _, _ = socket.recv_fds(conn, 4, 1)
            size = int.from_bytes(head + recv_exactly(conn, 4 - len(head)), "big")
            if size > MAX_REQUEST or len(fds) != 1:
                return
            request = marshal.loads(recv_exactly(conn, size))
            if not isinstance(request, dict):
                return
            conn.sendall(frame({"pid": self._fork(request, fds[0])}))
        except (OSError, ValueError, EOFError, TypeError, KeyError, ConnectionError):
            return
        finally:
            for fd in fds:
                os.close(fd)

    def spawn_spare(self) -> None:
        """Fork, ahead of time, the process the next shim will be (twice: it is orphaned and
        re-parented to the daemon like any shim). It waits on a socketpair for its request,
        and exits when the pair closes (the fork server is gone)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        r, w = os.pipe()
        child = os.fork()
        if child == 0:
            code = 0
            try:
                os.close(r)
                ours.close()
                if os.fork() == 0:
                    os.write(w, str(os.getpid()).encode())
                    os.close(w)
                    self._wait_as_spare(theirs)  # never returns
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(w)
        theirs.close()
        try:
            os.waitpid(child, 0)
            with os.fdopen(r, "rb") as f:
                pid = int(f.read() or b"0")
        except (OSError, ValueError):
            pid = 0
        if pid:
            self.spare = (pid, ours)
        else:
            ours.close()

    def _fork(self, request: dict[str, Any], listener_fd: int) -> int:
        """Hand the request to the spare (made now if there is none, or again if it died); its
        pid once it is ready (renamed, environment set): only then may ``start`` answer."""
        for _ in range(2):
            if self.spare is None:
                self.spawn_spare()
            if self.spare is None:
                return 0
            (pid, pair), self.spare = self.spare, None
            try:
                socket.send_fds(pair, [frame(request)], [listener_fd])
                pair.settimeout(5)
                if pair.recv(2) == b"ok":
                    return pid
            except OSError:
                pass
            finally:
                pair.close()
        return 0

    def _wait_as_spare(self, pair: socket.socket) -> None:
        code = 1
        try:
            if self.listener is not None:
                self.listener.close()
            for fd in (self.pidfd, self.lock_fd):
                if fd >= 0:
                    os.close(fd)  # the lock must die with the fork server, not live on in shims
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            set_cmdline([*sys.orig_argv, "spare"])
            head, fds, _, _ = socket.recv_fds(pair, 4, 1)  # blocks until the request (or EOF)
            if len(head) == 0 or len(fds) != 1:
                code = 0
                return
            size = int.from_bytes(head + recv_exactly(pair, 4 - len(head)), "big")
            request = marshal.loads(recv_exactly(pair, size))
            code = self._become_shim(request, fds[0], pair)
        finally:
            os._exit(code)

    @staticmethod
    def _become_shim(request: dict[str, Any], listener_fd: int, pair: socket.socket) -> int:
        """Take on the request's identity, say "ok" on ``pair``, serve; the exit code."""
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
        env = {str(k): str(v) for k, v in request["env"].items()}
        os.environ.clear()
        os.environ.update(env)
        argv = [str(a) for a in request["argv"]]
        set_cmdline([str(a) for a in request.get("cmdline") or argv], env)
        sys.argv = argv
        pair.sendall(b"ok")
        pair.close()
        from .flags import parse
        from .serve import run

        return run(parse(argv[1:]))


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
        server.spawn_spare()
        server.serve()
    except OSError as exc:
        if exc.errno != errno.EINTR:
            return 1
    finally:
        server.close()
    return 0
