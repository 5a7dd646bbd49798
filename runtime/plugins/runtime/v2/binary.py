"""Finding a shim binary and running it: ``start`` for a new task, ``delete`` after a dead one.

The runtime name says which binary: ``io.containerd.runc.v2`` -> ``containerd-shim-runc-v2``,
``io.containerd.pyrunc.v1`` -> ``containerd-shim-pyrunc-v1`` (the last two dot-separated parts).
An absolute path names a binary directly. Any program that speaks this protocol works:

``start``  run in the bundle directory as ::

    <shim> -namespace <ns> -address <daemon grpc socket> -publish-binary <pyctrd> -id <id> start

with ``TTRPC_ADDRESS=<daemon ttrpc socket>`` in its environment and the runtime options
(a serialized ``Any``) on stdin. It starts the long-running shim, which must not keep our
stdout open, and prints the shim's ttrpc address (``unix:///run/containerd/s/<hash>``).

``delete`` run the same way with ``-bundle <path> delete`` when a shim is gone: it cleans up
what the shim left (``runc delete --force``, the rootfs mount) and prints a serialized
``containerd.task.v2.DeleteResponse``.

Output goes to memory files rather than pipes: a daemonised shim that inherited a pipe would
keep it open and make a reader wait forever.
"""
from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sys
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

from google.protobuf import any_pb2
from google.protobuf.message import DecodeError

from ...._api.containerd.runtime.v2.task import shim_pb2
from ....core import typeurl
from ....core.runtime import Exit
from ....errdefs import InvalidArgument, NotFound, Unknown
from .bundle import Bundle

__all__ = ["ShimBinary", "binary_name", "check_options", "publish_binary", "resolve_runtime"]

log = logging.getLogger("pyctrd.runtime")

START_TIMEOUT = 30.0


def binary_name(runtime: str) -> str:
    """The shim binary for a runtime name ("" if the name is not ``<prefix>.<name>.<version>``).

    >>> binary_name("io.containerd.runc.v2")
    'containerd-shim-runc-v2'
    >>> binary_name("runc")
    ''
    """
    parts = runtime.split(".")
    if len(parts) < 2 or not all(parts[-2:]):
        return ""
    return f"containerd-shim-{parts[-2]}-{parts[-1]}"


def _beside_us() -> list[str]:
    """Directories next to this program: the Python's bin (a venv) and the command's own."""
    dirs = [os.path.dirname(sys.executable)]
    if sys.argv and sys.argv[0] and os.path.sep in sys.argv[0]:
        dirs.append(os.path.dirname(os.path.abspath(sys.argv[0])))
    return dirs


def resolve_runtime(runtime: str) -> str:
    """The absolute path of the shim binary for ``runtime``: ``$PATH`` first, then beside us.

    Raises:
        InvalidArgument: an empty or malformed runtime name.
        NotFound: no such binary is installed.
    """
    if not runtime:
        raise InvalidArgument("no runtime name")
    if os.path.isabs(runtime):
        if not os.path.exists(runtime):
            raise NotFound(f"invalid custom binary path {runtime}")
        return runtime
    name = binary_name(runtime)
    if not name:
        raise InvalidArgument(f"invalid runtime name {runtime}, correct runtime name should be either format "
                              "like `io.containerd.runc.v1` or a full path to the binary")
    found = shutil.which(name)
    for d in _beside_us():
        if found:
            break
        candidate = os.path.join(d, name)
        if os.access(candidate, os.X_OK):
            found = candidate
    if not found:
        raise NotFound(f'runtime "{runtime}" binary not installed "{name}"')
    return os.path.abspath(found)


def publish_binary() -> str:
    """The program shims may run to publish events (``pyctrd publish``), as containerd passes
    its own executable."""
    for d in _beside_us():
        candidate = os.path.join(d, "pyctrd")
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("pyctrd") or sys.executable


def _memfile(name: str, data: bytes = b"") -> int:
    fd = os.memfd_create(name, 0)  # close-on-exec is not set: the child inherits it as stdio
    if data:
        os.write(fd, data)
        os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _read_all(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)



def check_options(options: any_pb2.Any | None) -> None:
    """Runtime or task options of a type known here must decode, before a shim starts on them
    (a shim would fail later, as an UNKNOWN "start failed"). Types only a shim knows pass.

    Raises:
        InvalidArgument: the options' bytes are not their type's encoding.
    """
    if options is None or not options.type_url:
        return
    from ...._api.containerd.runtime.v2.runc.options import oci_pb2  # noqa: F401 - registers runc's Options
    try:
        typeurl.unpack(options)
    except NotFound:
        pass  # the shim decides what it takes
    except InvalidArgument as exc:
        raise InvalidArgument(f"runtime options: {exc.what}") from None

@dataclass
class ShimBinary:
    """How to run one task's shim binary (containerd's ``binary``)."""

    bundle: Bundle
    runtime: str  # absolute path of the binary
    address: str  # the daemon's gRPC socket
    ttrpc_address: str
    sched_core: bool = False
    debug: bool = False

    def __repr__(self) -> str:
        return f"<ShimBinary {os.path.basename(self.runtime)} {self.bundle.namespace}/{self.bundle.id}>"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ, GOMAXPROCS="2", TTRPC_ADDRESS=self.ttrpc_address)
        env.pop("NOTIFY_SOCKET", None)  # systemd's readiness socket is the daemon's, not a shim's
        if self.sched_core:
            env["SCHED_CORE"] = "1"
        return env

    async def _run(self, args: list[str], *, cwd: Path | None, stdin: bytes = b"",
                   timeout: float = START_TIMEOUT) -> tuple[int, bytes, bytes]:
        argv = [self.runtime, "-namespace", self.bundle.namespace, "-address", self.address,
                "-publish-binary", publish_binary(), *args]
        fds = [_memfile("shim-stdin", stdin), _memfile("shim-stdout"), _memfile("shim-stderr")]
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, cwd=cwd, env=self._env(), stdin=fds[0], stdout=fds[1], stderr=fds[2],
                start_new_session=False)
            try:
                rc = await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                proc.kill()
                await proc.wait()
                raise Unknown(f"{os.path.basename(self.runtime)} {args[-1]}: timed out after {timeout:g}s") \
                    from None
            return rc, _read_all(fds[1]), _read_all(fds[2])
        finally:
            for fd in fds:
                os.close(fd)

    async def start(self, options: any_pb2.Any | None) -> str:
        """Run ``start``; returns the shim's ttrpc address.

        Raises:
            Unknown: the binary failed (its output is in the message) or printed no address.
        """
        args = ["-id", self.bundle.id, *(["-debug"] if self.debug else []), "start"]
        data = options.SerializeToString() if options is not None else b""
        rc, out, err = await self._run(args, cwd=self.bundle.path, stdin=data)
        address = out.decode(errors="replace").strip()
        if rc != 0 or not address:
            detail = (out + err).decode(errors="replace").strip()
            raise Unknown(f"start failed: {detail}: exit status {rc}")
        # containerd records this so a restarted daemon knows which binary to ask for `delete`
        self.bundle.write("shim-binary-path", self.runtime)
        return address

    async def delete(self) -> Exit:
        """Run ``delete`` for a shim that is gone, then remove the bundle.

        Raises:
            Unknown: the binary failed or printed something that is not a DeleteResponse.
        """
        log.info("cleaning up dead shim", extra={"fields": {"id": self.bundle.id}})
        cwd = self.bundle.path if self.bundle.path.is_dir() else None
        rc, out, err = await self._run(["-id", self.bundle.id, "-bundle", str(self.bundle.path), "delete"],
                                       cwd=cwd)
        if rc != 0:
            raise Unknown(f"{err.decode(errors='replace').strip()}: exit status {rc}")
        if err.strip():
            log.warning("cleanup warnings %s", err.decode(errors="replace").strip())
        response = shim_pb2.DeleteResponse()
        try:
            response.ParseFromString(out)
        except DecodeError as exc:
            raise Unknown(f"shim delete printed no DeleteResponse: {exc}") from None
        self.bundle.delete()
        return Exit(response.pid, response.exit_status,
                    response.exited_at.ToDatetime(tzinfo=UTC) if response.HasField("exited_at") else None)
