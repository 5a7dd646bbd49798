"""The client half of the fork server (:mod:`.forkserver`), which ``start`` runs for every container.

Builtin modules only (``_socket``, ``marshal``): this is on the path of every container start.
The request is a marshalled dict behind a 4-byte length, with the shim's listening
socket attached (``SCM_RIGHTS``); the reply the same with ``{"pid": N}``. Both ends are the
same installation, so the marshal format always matches.
"""
from __future__ import annotations

import _socket
import marshal
import os
import sys
import time

__all__ = ["ENV_SWITCH", "enabled", "frame", "recv_exactly", "request_fork", "socket_path"]

ENV_SWITCH = "PYRUNC_FORKSERVER"
LAUNCH_TIMEOUT = 10.0


def enabled() -> bool:
    """Is the fork server wanted (``$PYRUNC_FORKSERVER`` is not "0")?"""
    return os.environ.get(ENV_SWITCH, "1") != "0"


def socket_path(state_dir: str, daemon_address: str) -> str:
    """``<state_dir>/pyrunc-fork/<16 hex of sha256(daemon address)>``: one per daemon, in a
    directory of its own (mode 0700; ``s/`` holds only the shims' sockets).

    A filesystem socket, never an abstract one: those are open to anything in the host's
    network namespace, containers included (containerd's CVE-2020-15257).

    >>> socket_path("/run/containerd", "/run/containerd/containerd.sock")
    '/run/containerd/pyrunc-fork/1935db59889b41fb'
    """
    from .start import _sha256

    digest = _sha256(daemon_address.encode()).hexdigest()[:16]
    return os.path.join(state_dir, "pyrunc-fork", digest)


def _connect(path: str) -> _socket.socket | None:
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError:
        s.close()
        return None
    return s


def _launch(program: list[str], address: str, publish_binary: str) -> None:
    """Start a fork server in a session of its own, cwd /, stdio on /dev/null (not waited for:
    it is re-parented to the daemon when we exit)."""
    argv = [*program, "-address", address, "-publish-binary", publish_binary, "forkserver", str(os.getppid())]
    null = os.open(os.devnull, os.O_RDWR)
    try:
        actions = [(os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, null, 1), (os.POSIX_SPAWN_DUP2, null, 2)]
        os.posix_spawn(argv[0], argv, dict(os.environ), file_actions=actions, setsid=True)
    finally:
        os.close(null)


def recv_exactly(conn: _socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("fork server closed the connection")
        data += chunk
    return data


def frame(message: dict[str, object]) -> bytes:
    """A message on the wire: 4-byte big-endian length, then the marshalled dict."""
    body = marshal.dumps(message)
    return len(body).to_bytes(4, "big") + body


def request_fork(program: list[str], serve_argv: list[str], cmdline: list[str], state_dir: str, address: str,
                 publish_binary: str, listener: _socket.socket, timeout: float = LAUNCH_TIMEOUT) -> int | None:
    """Have the daemon's fork server start the serving shim; its pid, or None (then exec one).

    ``program`` runs the shim binary (to launch a fork server if none answers); ``serve_argv``
    is the serving shim's command line, ``cmdline`` what ``ps`` should show for it (with the
    interpreter, as for an exec'd script); ``listener`` its listening socket.
    """
    path = socket_path(state_dir, address)
    conn = _connect(path)
    if conn is None:
        try:
            _launch(program, address, publish_binary)
        except OSError:
            return None
        deadline = time.monotonic() + timeout
        while conn is None and time.monotonic() < deadline:
            time.sleep(0.002)
            conn = _connect(path)
        if conn is None:
            return None
    try:
        conn.settimeout(timeout)
        request = frame({"argv": serve_argv, "cmdline": cmdline, "env": dict(os.environ), "cwd": os.getcwd()})
        fd = listener.fileno().to_bytes(4, sys.byteorder)  # an int array, as the kernel reads it
        conn.sendmsg([request], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fd)])
        reply = marshal.loads(recv_exactly(conn, int.from_bytes(recv_exactly(conn, 4), "big")))
    except (OSError, ValueError, EOFError, TypeError, ConnectionError):
        return None
    finally:
        conn.close()
    pid = reply.get("pid") if isinstance(reply, dict) else None
    return pid if isinstance(pid, int) and pid > 0 else None
