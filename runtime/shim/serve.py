"""The serving shim: the long-running process that ``start`` launched for a container.

What it does, in order (containerd's ``shim.Run`` for runc.v2):

1. **stdout/stderr -> the bundle's ``log``.** containerd made ``log`` a FIFO and copies what
   we write there into its own log (so ``containerd --log-level debug`` shows the shim's
   lines). Writes are non-blocking: a log line is dropped rather than stalling the shim when
   nobody reads (containerd restarting).
2. **Child subreaper.** ``prctl(PR_SET_CHILD_SUBREAPER)``: container processes orphaned by
   ``runc create``/``runc exec`` become our children, so their exit status comes to us.
3. **One reaper** (:class:`~pyctrd.runc.Reaper`) collects every child on SIGCHLD: runc
   commands, containers, exec'd processes, loggers, the publish binary.
4. **Serve** ``containerd.task.v2.Task`` over ttrpc on the listening socket inherited as fd 3,
   to our own uid only (the kernel tells us the peer's uid).
5. **Exit** when Shutdown finds no container left, or on SIGTERM/SIGINT: remove the socket
   file, stop serving, deliver the queued events (5 s at most), and return.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import stat
import sys

from .. import ttrpc
from .._api.containerd.runtime.v2.task import shim_pb2
from ..runc import Reaper, set_subreaper
from .flags import Flags
from .publisher import Publisher
from .service import TaskService

__all__ = ["TASK_SERVICE", "redirect_output", "run", "serve"]

log = logging.getLogger("pyctrd.shim")
TASK_SERVICE = shim_pb2.DESCRIPTOR.services_by_name["Task"]


def redirect_output(bundle: str) -> None:
    """Point fds 1 and 2 at ``<bundle>/log``: a FIFO (if containerd reads it), a file, or
    /dev/null when there is none."""
    path = os.path.join(bundle, "log")
    try:
        if stat.S_ISFIFO(os.stat(path).st_mode):
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO: nobody reads it
        else:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    except OSError:
        fd = os.open(os.devnull, os.O_WRONLY)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _remove_socket(bundle: str) -> None:
    """Remove the socket file named in ``<bundle>/address`` (it outlives its listener)."""
    try:
        with open(os.path.join(bundle, "address")) as f:
            path = f.read().strip().removeprefix("unix://")
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)
    except OSError:
        pass


async def serve(flags: Flags) -> None:
    """Run the shim until Shutdown or a stop signal (steps 2 to 5 of the module docstring).

    Raises:
        PyctrdError: the socket could not be served.
    """
    set_subreaper()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with Reaper() as reaper:
        publisher = Publisher(flags.namespace, ttrpc_address=os.environ.get("TTRPC_ADDRESS", ""),
                              publish_binary=flags.publish_binary, daemon_address=flags.address,
                              monitor=reaper)
        def shutdown() -> None:
            # The socket file goes now, before Shutdown answers: containerd takes the reply
            # (and the closing connection) as "the shim is gone"; nothing of ours may be
            # left in its state dir by then. Serving stops once the reply is on its way.
            _remove_socket(flags.bundle_dir)
            loop.call_soon(stop.set)

        service = TaskService(flags.namespace, flags.runc_root_base, publisher, reaper, shutdown)
        server = ttrpc.Server()  # only our own uid may connect (containerd runs as us)
        server.register(TASK_SERVICE, service)
        try:
            if flags.socket:
                await server.serve_unix(flags.socket, mode=0o600)
            else:
                await server.serve_socket(3)
            log.info("serving containerd.task.v2.Task", extra={"fields": {
                "pid": os.getpid(), "namespace": flags.namespace, "path": flags.bundle_dir}})
            await stop.wait()
        finally:
            _remove_socket(flags.bundle_dir)
            await server.close()
            await service.close()
            await publisher.close()


def run(flags: Flags) -> int:
    """The serving process's main: redirect output, set up logging, serve; the exit code."""
    from .. import log as logsetup

    redirect_output(flags.bundle_dir)
    logsetup.setup("debug" if flags.debug else "info")
    logging.raiseExceptions = False  # a full log FIFO must not turn into tracebacks
    try:
        asyncio.run(serve(flags))
    except Exception as exc:  # the last word goes to the log
        log.exception("shim failed")
        print(f"containerd-shim-pyrunc-v1: {exc}", file=sys.stderr)
        return 1
    return 0
