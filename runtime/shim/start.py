"""``start``: the handshake that launches a shim and tells containerd where it listens.

containerd runs ``containerd-shim-pyrunc-v1 ... -id ID start`` in the bundle directory and
waits for it to *exit*, reading everything it prints. So ``start`` is short-lived: it
prepares, launches the long-running shim and gets out of the way::

    1. address  = unix://<state>/s/<sha256 of "<daemon address>/<ns>/<id>">
    2. listen on it (already taken? if a live shim answers there, reuse it: print its address)
    3. write <bundle>/address (containerd reads it back after a restart)
    4. spawn the serving shim: same binary without an action, in a new session (signals
       for containerd's process group never reach it), the listening socket as fd 3,
       stdin/stdout/stderr on /dev/null (the shim moves its output to the bundle's ``log``);
       normally the daemon's fork server (:mod:`.forkserver`) forks it, ready, from a warm copy
    5. write <bundle>/shim.pid; apply the runtime options' ShimCgroup; OOM score = daemon's + 1
    6. print the address on stdout, exit 0

Why stdout/stderr must not be inherited: containerd collects the output of ``start`` until
end-of-file. A serving shim that kept those pipes open would hold containerd there forever.

Why the socket is made here and not in the serving process: once ``start`` prints the
address, containerd connects at once. The socket is already listening, so the connection
waits in the kernel's backlog until the new process accepts it; there is no race.

containerd pays for this module on every container start, so it imports builtin modules
only: ``_socket`` rather than ``socket`` (which imports ``enum``), the builtin SHA-256 rather
than ``hashlib`` (OpenSSL), ``json`` only when config.json may hold a group annotation, and
:mod:`pyctrd.errdefs` only when something failed; protobuf only if options arrive on stdin.
"""
from __future__ import annotations

import _socket
import errno
import os
import sys

from .flags import Flags

TYPE_CHECKING = False  # not typing's: importing typing costs a start ~3 ms (mypy knows the name)
if TYPE_CHECKING:
    from typing import Any, Self

    from ..errdefs import PyctrdError

__all__ = ["GROUP_LABELS", "Socket", "can_connect", "new_socket", "socket_address", "start", "write_file_atomic"]

#: Annotations that make several containers share one shim (as runc.v2's, under our name).
GROUP_LABELS = ("io.containerd.pyrunc.v1.group", "io.kubernetes.cri.sandbox-id")


def socket_address(daemon_address: str, namespace: str, id: str, state_dir: str) -> str:
    """Where the shim for ``id`` listens: ``unix://<state_dir>/s/<sha256 hex>``.

    The hash input is containerd's (``filepath.Join(address, ns, id)``), so the name is
    stable: a second ``start`` for the same id finds the same socket.

    >>> socket_address("/run/containerd/containerd.sock", "default", "c1", "/run/containerd")
    'unix:///run/containerd/s/d25aa4ef11a84e954e74a5bcff06557d0b6ea8d0c00243896f29826694bbd888'
    """
    digest = _sha256(os.path.join(daemon_address, namespace, id).encode()).hexdigest()
    return f"unix://{os.path.join(state_dir, 's', digest)}"


def _sha256(data: bytes) -> Any:
    """Python's own SHA-256 (a builtin module, ~0.1 ms) rather than hashlib's OpenSSL (~2 ms)."""
    if not _SHA256:
        try:
            from _sha2 import sha256  # Python 3.12+
        except ImportError:
            try:
                from _sha256 import sha256  # Python 3.11
            except ImportError:
                from hashlib import sha256
        _SHA256.append(sha256)
    return _SHA256[0](data)


_SHA256: list[Any] = []


def _os_error(what: str, exc: OSError) -> PyctrdError:
    """``exc`` as the pyctrd kind ``map_exceptions`` gives (imported now, on failure only)."""
    from ..errdefs import PyctrdError, Unknown, map_exceptions

    try:
        with map_exceptions(what):
            raise exc
    except PyctrdError as mapped:
        return mapped
    return Unknown(what)


def _path(address: str) -> str:
    return address.removeprefix("unix://")


class Socket(_socket.socket):
    """A ``_socket.socket`` usable in ``with`` (what ``socket.socket`` adds, minus its ~2 ms import)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def can_connect(address: str) -> bool:
    """Does something accept connections at ``address`` (a live shim)?"""
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        s.settimeout(0.1)
        s.connect(_path(address))
    except OSError:
        return False
    finally:
        s.close()
    return True


def new_socket(address: str) -> Socket:
    """A listening socket at ``address``, mode 0600, its directory made if needed.

    Raises:
        AlreadyExists: the address is in use (``EADDRINUSE``).
        Unknown, NotFound, InvalidArgument: other OS errors.
    """
    path = _path(address)
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    except OSError as exc:
        raise _os_error(f"shim socket directory {os.path.dirname(path)}", exc) from exc
    sock = Socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    old_umask = os.umask(0o177)  # the file appears as 0600: no window for other users
    try:
        sock.bind(path)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            from ..errdefs import AlreadyExists

            raise AlreadyExists(f"shim socket {path}") from exc
        raise _os_error(f"shim socket {path}", exc) from exc
    finally:
        os.umask(old_umask)
    return sock


def write_file_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (readers never see half)."""
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}.{os.getpid()}")
    try:
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, path)
    except OSError as exc:
        raise _os_error(f"write {path}", exc) from exc


def _group(bundle: str, id: str) -> str:
    """The shim grouping key: a group annotation in config.json, else the container id."""
    try:
        with open(os.path.join(bundle, "config.json"), "rb") as f:
            data = f.read()
    except OSError:
        return id
    if not any(label.encode() in data for label in GROUP_LABELS):
        return id  # the usual case, decided without importing json
    import json

    try:
        annotations = json.loads(data).get("annotations") or {}
    except ValueError:
        return id
    return next((annotations[k] for k in GROUP_LABELS if annotations.get(k)), id)


def _program() -> list[str]:
    """This same program: the console script when we were started by it (``ps`` then shows
    ``containerd-shim-pyrunc-v1 -namespace …``), else ``python -m pyctrd.shim``."""
    program = sys.argv[0]
    if os.access(program, os.X_OK) and not program.endswith(".py"):
        return [os.path.abspath(program)]
    return [sys.executable, "-m", "pyctrd.shim"]


def _shown_command(argv: list[str]) -> list[str]:
    """What ``ps`` shows for ``argv`` once exec'd: the kernel puts a script's interpreter (its
    ``#!`` line, which ran us too) in front. A forked shim shows the same."""
    if argv[0] != os.path.abspath(sys.argv[0]):
        return argv  # python -m pyctrd.shim …: shown as given
    return [*sys.orig_argv[:len(sys.orig_argv) - len(sys.argv)], *argv]


def _serve_command(flags: Flags) -> list[str]:
    """This same program without an action (= serve)."""
    return [*_program(), "-namespace", flags.namespace, "-id", flags.id, "-address", flags.address,
            "-publish-binary", flags.publish_binary, *(["-debug"] if flags.debug else [])]


def _spawn_server(flags: Flags, sock: _socket.socket) -> int:
    """Start the serving shim: forked by the daemon's fork server (:mod:`.forkserver`: ~3 ms),
    or exec'd when that is turned off or fails (~90 ms of imports before it can answer)."""
    from . import forkclient

    if forkclient.enabled():
        argv = _serve_command(flags)
        pid = forkclient.request_fork(_program(), argv, _shown_command(argv), flags.state_dir, flags.address,
                                      flags.publish_binary, sock)
        if pid:
            return pid
    argv = _serve_command(flags)
    null = os.open(os.devnull, os.O_RDWR)
    try:  # posix_spawn: fds 0-2 <- /dev/null, fd 3 <- the socket; setsid = a new session
        actions = [(os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, null, 1),
                   (os.POSIX_SPAWN_DUP2, null, 2), (os.POSIX_SPAWN_DUP2, sock.fileno(), 3)]
        try:
            return os.posix_spawn(argv[0], argv, dict(os.environ), file_actions=actions, setsid=True)
        except OSError as exc:
            raise _os_error(f"spawn {argv[0]}", exc) from exc
    finally:
        os.close(null)


def _options_from_stdin() -> bytes:
    """containerd writes the runtime options (an ``Any``) on our stdin, or nothing."""
    if os.isatty(0):
        return b""
    try:
        return sys.stdin.buffer.read()
    except (OSError, ValueError):
        return b""


def _apply_options(data: bytes, pid: int) -> None:
    """Move the shim into ``Options.shim_cgroup`` if the options name one."""
    from google.protobuf import any_pb2

    from .._api.containerd.runtime.v2.runc.options import oci_pb2
    from ..errdefs import InvalidArgument

    try:
        wrapped = any_pb2.Any.FromString(data)
        if not wrapped.type_url.endswith("containerd.runc.v1.Options"):
            return
        cgroup = oci_pb2.Options.FromString(wrapped.value).shim_cgroup
    except Exception as exc:
        raise InvalidArgument(f"runtime options on stdin do not decode: {exc}") from None
    if cgroup:
        from ..cgroups import Cgroup

        cg = Cgroup.from_path(cgroup)
        for directory in {*cg.v1.values(), *([cg.unified] if cg.version == 2 and cg.unified else [])}:
            try:
                with open(os.path.join(directory, "cgroup.procs"), "w") as f:
                    f.write(str(pid))
            except OSError as exc:
                raise _os_error(f"join shim cgroup {directory}", exc) from exc


def _adjust_oom_score(pid: int) -> None:
    """The shim should die before the daemon under memory pressure: daemon's score + 1."""
    try:
        with open(f"/proc/{os.getppid()}/oom_score_adj") as f:
            score = int(f.read())
        with open(f"/proc/{pid}/oom_score_adj", "w") as f:
            f.write(str(min(score + 1, 1000)))
    except (OSError, ValueError):
        pass  # not worth failing a container start for


def start(flags: Flags) -> str:
    """Launch (or find) the shim for ``flags.id`` and return its address (the ``start`` action).

    Raises:
        InvalidArgument: no namespace or id.
        Unknown: the socket or the process could not be made.
    """
    if not flags.namespace or not flags.id:
        from ..errdefs import InvalidArgument

        raise InvalidArgument("shim start needs -namespace and -id")
    bundle = flags.bundle_dir
    address = socket_address(flags.address, flags.namespace, _group(bundle, flags.id), flags.state_dir)
    try:
        sock = new_socket(address)
    except Exception as exc:
        from ..errdefs import AlreadyExists

        if not isinstance(exc, AlreadyExists):
            raise
        if can_connect(address):  # a live shim (same group): share it
            write_file_atomic(os.path.join(bundle, "address"), address)
            return address
        os.unlink(_path(address))  # a dead shim's leftover
        sock = new_socket(address)
    try:
        write_file_atomic(os.path.join(bundle, "address"), address)
        pid = _spawn_server(flags, sock)
    except BaseException:
        sock.close()
        os.unlink(_path(address))
        raise
    sock.close()  # the shim has its own copy (fd 3)
    try:
        write_file_atomic(os.path.join(bundle, "shim.pid"), str(pid))
        options = _options_from_stdin()
        if options:
            _apply_options(options, pid)
        _adjust_oom_score(pid)
    except BaseException:
        os.kill(pid, 9)  # containerd will not know this shim: it must not outlive the failure
        os.unlink(_path(address))
        raise
    return address
