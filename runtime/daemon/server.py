"""The daemon: how containerd boots, step by step, in Python.

:meth:`Daemon.start` does what containerd's ``server.New`` + ``Serve`` do:

1. make ``root`` and ``state`` (0711), lock ``root`` so two daemons cannot share it, set
   ``oom_score_adj`` and become a child subreaper (orphaned shim children come to us);
2. compute the plugin graph (dependencies first; ``disabled_plugins`` left out);
3. for each registration: merge its config, give it an :class:`~pyctrd.plugin.InitContext`
   with ``<root>/<type>.<id>`` and ``<state>/<type>.<id>``, run init, record ok/skip/error;
   a failing plugin listed in ``required_plugins`` stops the boot;
4. serve the ttrpc socket (``<grpc address>.ttrpc``, mode 0660) with every ok plugin that
   has ``register_ttrpc(server)``: shims forward their events there;
5. give each ok plugin with an ``async astart()`` its turn, in init order - work that needs
   the event loop, such as reconnecting to the shims a previous daemon left running;
6. register every ok ``io.containerd.grpc.v1`` plugin on one grpc.aio server and bind the
   unix socket atomically (bind a temporary name, chmod/chown, rename into place);
7. log ``pyctrd successfully booted in N s``.

:meth:`Daemon.stop` closes both sockets and the plugins in reverse order. Containers are not
touched: shims run on their own (that is what lets a daemon restart under running tasks).
"""
from __future__ import annotations

import asyncio
import ctypes
import fcntl
import inspect
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc

from ..config import Config, Loaded
from ..errdefs import FailedPrecondition, InvalidArgument, Unavailable
from ..plugin import REGISTRY, InitContext, Plugin, PluginSet, Registry, types
from ..plugins.events.exchange import Exchange
from ..ttrpc import Server as TTRPCServer
from .decode import DecodeErrors
from .metrics import CallCounter, MetricsServer, render
from .plugin_config import is_disabled, plugin_configs
from .systemd import notify

__all__ = ["Daemon", "socket_in_use"]

log = logging.getLogger("pyctrd")
PR_SET_CHILD_SUBREAPER = 36


def socket_in_use(path: str) -> bool:
    """Is something accepting connections on unix socket ``path``?"""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(1)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


@contextmanager
def _host_path(what: str, path: str) -> Iterator[None]:
    """OSErrors while making the daemon's own directories: a clean failure naming the path."""
    try:
        yield
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename and str(exc.filename) != path else ""
        raise FailedPrecondition(f"{what} {path}: {exc.strerror or exc}{where}") from None


class Daemon:
    """One pyctrd: config, plugins, gRPC server. Use ``await start()`` / ``await stop()``."""

    def __init__(self, loaded: Loaded | Config, registry: Registry = REGISTRY) -> None:
        self.loaded = loaded if isinstance(loaded, Loaded) else Loaded(loaded)
        self.config = self.loaded.config
        self.registry = registry
        self.plugins = PluginSet()
        self.calls = CallCounter()
        self.server: grpc.aio.Server | None = None
        self.ttrpc_server: TTRPCServer | None = None
        self.exchange: Exchange | None = None
        self.metrics: MetricsServer | None = None
        self.boot_seconds = 0.0
        self._lock_fd: int | None = None
        self._bound = False  # only remove the socket if this daemon made it
        self.address = self.config.grpc.address

    def __repr__(self) -> str:
        ok = sum(p.status == "ok" for p in self.plugins)
        return f"<Daemon {self.address} plugins={ok}/{len(self.plugins)} ok>"

    # -- boot ---------------------------------------------------------------------------
    def _check_paths(self) -> None:
        # containerd's CreateTopLevelDirectories rules, before anything is made
        cfg = self.config
        if not cfg.root:
            raise InvalidArgument("root must be specified")
        if not cfg.state:
            raise InvalidArgument("state must be specified")
        if not cfg.grpc.address:
            raise InvalidArgument("grpc address must be specified")
        if os.path.abspath(cfg.root) == os.path.abspath(cfg.state):
            raise InvalidArgument("root and state must be different paths")

    def _prepare_host(self) -> None:
        cfg = self.config
        for what, d in (("root", cfg.root), ("state", cfg.state)):
            with _host_path(what, d):
                Path(d).mkdir(parents=True, exist_ok=True)
                os.chmod(d, 0o711)
        lock = os.path.join(cfg.root, "pyctrd.lock")
        with _host_path("lock file", lock):
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise Unavailable(f"root {cfg.root} is in use by another pyctrd") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd
        if cfg.oom_score:
            # As containerd: a failure (e.g. lowering it without CAP_SYS_RESOURCE) is logged, not fatal.
            try:
                with open("/proc/self/oom_score_adj", "w") as f:
                    f.write(str(cfg.oom_score))
                log.debug("changed OOM score to %d", cfg.oom_score)
            except OSError as exc:
                log.error("failed to change OOM score to %d: %s", cfg.oom_score, exc.strerror)
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        except OSError:
            log.warning("could not become a child subreaper")

    def _init_plugins(self) -> None:
        cfg = self.config
        graph = self.registry.graph(lambda r: is_disabled(cfg, r))
        configs = plugin_configs(self.loaded, self.registry)
        for line in self.loaded.unknown:
            log.warning("config: %s", line)
        for line in self.loaded.notes:
            log.info("config: %s", line)
        missing = set(cfg.required_plugins) - {r.uri for r in graph}
        if missing:
            raise FailedPrecondition(f"required plugins not included: {', '.join(sorted(missing))}")
        for reg in graph:
            log.info('loading plugin "%s"...', reg.uri, extra={"fields": {"type": reg.type}})
            ic = InitContext(reg, root=Path(cfg.root) / reg.uri, state=Path(cfg.state) / reg.uri,
                             config=configs.get(reg.uri), address=cfg.grpc.address,
                             ttrpc_address=cfg.ttrpc_address, events=self.exchange, plugins=self.plugins,
                             server=self)
            p = Plugin.run(reg, ic)
            self.plugins.add(p)
            if p.status == "skip":
                log.info("skip loading plugin %s: %s", reg.uri, p.error,
                         extra={"fields": {"id": reg.uri, "type": reg.type}})
            elif p.status == "error":
                log.warning("failed to load plugin %s: %s", reg.uri, p.error_message,
                            extra={"fields": {"id": reg.uri, "type": reg.type}})
                if reg.uri in cfg.required_plugins:
                    raise FailedPrecondition(f"load required plugin {reg.uri}: {p.error_message}")

    def _check_address(self) -> None:
        addr = self.address
        if os.path.exists(addr) or os.path.islink(addr):
            if socket_in_use(addr):
                raise Unavailable(f"another daemon is already serving on {addr}")
            log.info("removing stale socket %s", addr)
            with _host_path("stale socket", addr):
                os.unlink(addr)
        with _host_path("socket directory", str(Path(addr).parent)):
            Path(addr).parent.mkdir(parents=True, exist_ok=True)

    async def _serve_ttrpc(self) -> None:
        cfg = self.config
        self.ttrpc_server = TTRPCServer()  # as containerd: only our own uid may connect
        for p in self.plugins:
            if p.status == "ok" and hasattr(p.instance, "register_ttrpc"):
                p.instance.register_ttrpc(self.ttrpc_server)
        with _host_path("ttrpc socket", cfg.ttrpc_address):
            await self.ttrpc_server.serve_unix(cfg.ttrpc_address, 0o660, cfg.ttrpc.uid, cfg.ttrpc.gid)

    async def _start_plugins(self) -> None:
        for p in self.plugins:
            astart = getattr(p.instance, "astart", None) if p.status == "ok" else None
            if astart is None:
                continue
            try:
                await astart()
            except Exception as exc:
                log.exception("starting plugin %s", p.registration.uri)
                if p.registration.uri in self.config.required_plugins:
                    raise FailedPrecondition(f"start required plugin {p.registration.uri}: {exc}") from exc

    async def _serve_grpc(self) -> None:
        g = self.config.grpc
        self.server = grpc.aio.server(
            interceptors=[self.calls, DecodeErrors()],
            options=[("grpc.max_receive_message_length", g.max_recv_message_size),
                     ("grpc.max_send_message_length", g.max_send_message_size),
                     ("grpc.so_reuseport", 0)])
        for p in self.plugins.of_type(types.GRPC):
            if p.status == "ok" and hasattr(p.instance, "register"):
                p.instance.register(self.server)
        tmp = f"{self.address}.{os.getpid()}.tmp"
        if os.path.exists(tmp):
            os.unlink(tmp)
        self.server.add_insecure_port(f"unix:{tmp}")
        await self.server.start()
        with _host_path("grpc socket", self.address):
            os.chmod(tmp, 0o660)
            os.chown(tmp, g.uid, g.gid)
            os.replace(tmp, self.address)  # clients never see a half-made socket
        self._bound = True
        health = self.plugins.find(types.GRPC, "healthcheck")
        if health and health.status == "ok":
            await health.instance.set_serving()

    async def start(self) -> None:
        t0 = time.perf_counter()
        self._check_paths()
        self._check_address()
        self._prepare_host()
        self.exchange = Exchange(asyncio.get_running_loop())
        self._init_plugins()
        await self._serve_ttrpc()
        await self._start_plugins()
        await self._serve_grpc()
        if self.config.metrics.address:
            self.metrics = MetricsServer(self.config.metrics.address, self.metrics_text)
            await self.metrics.start()
        self.boot_seconds = time.perf_counter() - t0
        log.info("serving...", extra={"fields": {"address": self.address}})
        log.info("pyctrd successfully booted in %.6fs", self.boot_seconds)
        notify("READY=1")

    def metrics_text(self) -> str:
        subs = float(self.exchange.subscriber_count()) if self.exchange else 0.0
        text = render(self.calls.started, self.plugins, {"pyctrd_event_subscribers": subs,
                                                         "pyctrd_boot_seconds": self.boot_seconds})
        for p in self.plugins:  # plugins with metrics of their own (the cgroups task monitor)
            more = getattr(p.instance, "prometheus_text", None) if p.status == "ok" else None
            if more is not None:
                text += more()
        return text

    # -- shutdown -------------------------------------------------------------------------
    async def stop(self, grace: float = 1.0) -> None:
        log.info("stopping pyctrd")
        notify("STOPPING=1")
        if self.server is not None:
            await self.server.stop(grace)
        if self.ttrpc_server is not None:
            await self.ttrpc_server.close()
        if self.metrics is not None:
            await self.metrics.close()
        for p in reversed(list(self.plugins)):
            if p.status != "ok":
                continue
            for name in ("aclose", "close"):
                fn: Any = getattr(p.instance, name, None)
                if callable(fn):
                    try:
                        r = fn()
                        if inspect.isawaitable(r):
                            await r
                    except Exception:
                        log.exception("closing plugin %s", p.registration.uri)
                    break
        if self._bound:
            try:
                os.unlink(self.address)
            except FileNotFoundError:
                pass
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        log.info("pyctrd stopped")
