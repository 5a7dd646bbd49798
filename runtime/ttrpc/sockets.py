"""Unix sockets for ttrpc: addresses, peer credentials, and creating a listening socket safely.

containerd writes shim addresses as ``unix:///run/containerd/s/<hash>``; a bare path means the
same. The kernel limits a socket path to 107 bytes (``sun_path`` is 108 with its NUL).

>>> socket_path("unix:///run/containerd/s/0123abcd")
'/run/containerd/s/0123abcd'
>>> socket_path("/tmp/t.sock")
'/tmp/t.sock'
>>> socket_path("tcp://127.0.0.1:80")
Traceback (most recent call last):
...
pyctrd.errdefs.InvalidArgument: ttrpc address 'tcp://127.0.0.1:80': only unix sockets are supported: invalid argument

Why :func:`bind_unix` binds to a temporary name and renames: ``bind()`` creates the socket
file with the process umask, and a client could connect in the moment before ``chmod`` and
``chown`` fix it. Under a temporary name nobody knows the file yet; when ``rename()`` puts it
in place (atomically, in the same directory) it already has its final mode and owner and is
already listening, so the first client that can see it can also connect.
"""
from __future__ import annotations

import asyncio
import os
import secrets
import socket
import stat
import struct
from dataclasses import dataclass

from .. import errdefs

__all__ = ["PeerCredentials", "bind_unix", "is_listening", "peer_credentials", "remove_stale_socket",
           "socket_path"]

_MAX_PATH = 107
_UCRED = struct.Struct("3i")  # struct ucred { pid_t pid; uid_t uid; gid_t gid; }


def socket_path(address: str | os.PathLike[str]) -> str:
    """The filesystem path of a ttrpc address (``unix://`` prefix optional).

    Raises:
        InvalidArgument: not a unix address, empty, or longer than the kernel allows.
    """
    text = os.fspath(address)
    path = text.removeprefix("unix://")
    if "://" in path or not path:
        raise errdefs.InvalidArgument(f"ttrpc address {text!r}: only unix sockets are supported")
    if len(os.fsencode(path)) > _MAX_PATH:
        raise errdefs.InvalidArgument(f"socket path {path!r} is longer than {_MAX_PATH} bytes")
    return path


@dataclass(frozen=True)
class PeerCredentials:
    """Who is at the other end of a unix socket, as the kernel saw it at ``connect()`` time."""

    pid: int
    uid: int
    gid: int


def peer_credentials(sock: socket.socket) -> PeerCredentials:
    """Read ``SO_PEERCRED``: the pid, effective uid and gid of the connecting process.

    Raises:
        Unknown: the socket is not a connected unix socket.
    """
    with errdefs.map_exceptions("SO_PEERCRED"):
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    return PeerCredentials(*_UCRED.unpack(raw))


def is_listening(sock: socket.socket) -> bool:
    """Whether ``sock`` is a listening socket (``SO_ACCEPTCONN``) rather than a connection.

    Raises:
        Unknown: ``sock`` is not a socket.
    """
    with errdefs.map_exceptions("SO_ACCEPTCONN"):
        return bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))


async def remove_stale_socket(path: str) -> None:
    """Make room for a new socket at ``path``: remove a dead one, refuse a live one.

    A socket file outlives the process that made it (a crashed shim leaves one behind). If
    nothing answers a ``connect()`` it is stale and goes; if something does, we must not steal
    its address.

    Raises:
        AlreadyExists: a server is listening at ``path``.
        FailedPrecondition: ``path`` exists and is not a socket (it is left alone).
    """
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise errdefs.FailedPrecondition(f"{path} exists and is not a socket")
    try:
        _, writer = await asyncio.open_unix_connection(path)
    except (ConnectionRefusedError, FileNotFoundError):
        with errdefs.map_exceptions(f"remove stale socket {path}"):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        return
    writer.close()
    raise errdefs.AlreadyExists(f"ttrpc: a server is already listening on {path}")


def bind_unix(path: str, mode: int = 0o660, uid: int | None = None, gid: int | None = None
              ) -> tuple[socket.socket, int]:
    """A listening unix socket at ``path`` with the given mode and owner, and its inode number.

    ``path`` must be free (see :func:`remove_stale_socket`). The inode lets the owner remove
    exactly this file later, and not a newer socket someone else put at the same path.

    Raises:
        InvalidArgument: the temporary name would be too long for a socket path.
        NotFound: the directory does not exist.
        Unknown: another OS error (permissions, ...).
    """
    directory = os.path.dirname(path)
    tmp = os.path.join(directory, f".{secrets.token_hex(3)}~")
    socket_path(tmp)  # the temporary name must fit too
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with errdefs.map_exceptions(f"listen on {path}"):
            sock.bind(tmp)
            os.chmod(tmp, mode)
            if uid is not None or gid is not None:
                os.chown(tmp, -1 if uid is None else uid, -1 if gid is None else gid)
            sock.listen(128)
            os.rename(tmp, path)
            inode = os.stat(path).st_ino
    except BaseException:
        sock.close()
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return sock, inode
