"""The client half of the fork server (:mod:`.forkserver`), which ``start`` runs for every container.

Standard library only, and little of it: this is on the path of every container start.
"""
from __future__ import annotations

import json
import os
import socket
import struct
import time

__all__ = ["ENV_SWITCH", "enabled", "recv_exactly", "request_fork", "socket_path"]

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
    import hashlib

    digest = hashlib.sha256(daemon_address.encode()).hexdigest()[:16]
    return os.path.join(state_dir, "pyrunc-fork", digest)


def _connect(path: str) -> socket.socket | None:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
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


def recv_exactly(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("fork server closed the connection")
        data += chunk
    return data


def request_fork(program: list[str], serve_argv: list[str], cmdline: list[str], state_dir: str, address: str,
                 publish_binary: str, listener: socket.socket, timeout: float = LAUNCH_TIMEOUT) -> int | None:
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
        with conn:
            conn.settimeout(timeout)
            body = json.dumps({"argv": serve_argv, "cmdline": cmdline, "env": dict(os.environ),
                               "cwd": os.getcwd()}).encode()
            socket.send_fds(conn, [struct.pack(">I", len(body)) + body], [listener.fileno()])
            reply = json.loads(recv_exactly(conn, struct.unpack(">I", recv_exactly(conn, 4))[0]))
    except (OSError, ValueError, ConnectionError):
        return None
    pid = reply.get("pid")
    return int(pid) if isinstance(pid, int) and pid > 0 else None
