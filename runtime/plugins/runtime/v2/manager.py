"""The runtime v2 task manager: one shim per task, and what happens when shims or the daemon die.

Creating a task (containerd's ``TaskManager.Create``)::

    new_bundle()            <state>/…/<ns>/<id>/{config.json,rootfs/,work}
    open the log FIFO       the shim refuses to start without a reader
    <shim> … start          prints the shim's ttrpc address
    ttrpc connect, Connect  learn the shim's pid (watched with a pidfd from now on)
    Task.Create             the shim mounts the rootfs and runs ``runc create``

Any failure undoes what was done, so a failed create leaves no bundle, mount or shim.

**Daemon restart** (:meth:`TaskManager.load_existing`, run once at boot): every bundle in every
namespace is either reconnected (its ``address`` answers ``Connect``) or cleaned up - the shim
binary's ``delete`` (``runc delete --force``, unmount), then the bundle is removed. Work
directories with no live task are removed too.

**A shim that dies** while the daemon runs is noticed through its pidfd: the same cleanup runs
and, since its task vanished without a trace, ``/tasks/exit`` and ``/tasks/delete`` are published
on its behalf (status 255 unless ``delete`` says otherwise). Events of live tasks come from their
shims (ttrpc ``Events/Forward``); the manager publishes nothing else.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from google.protobuf import timestamp_pb2

from .... import ttrpc
from ...._api.containerd.api.events import task_pb2 as task_events
from ...._api.containerd.runtime.v2.task import shim_pb2
from ....core import namespaces
from ....core.containers import ContainerStore
from ....core.events import Publisher
from ....core.oci.check import check_spec
from ....core.runtime import CreateOpts, Exit
from ....errdefs import AlreadyExists, NotFound, PyctrdError, Unavailable
from ....ttrpc import sockets as ttrpc_sockets
from .binary import ShimBinary, check_options, resolve_runtime
from .bundle import Bundle, load_bundle, new_bundle
from .orphans import (
    OrphanReaper,
    alive,
    remove_empty_cgroup,
    remove_hidden_bundle,
    remove_stray_shims,
    task_cgroup,
)
from .shim import ShimTask
from .shimlog import ShimLog

__all__ = ["ManagerConfig", "TaskManager"]

log = logging.getLogger("pyctrd.runtime")


@dataclass
class ManagerConfig:
    """Where bundles live and how shims reach the daemon; timeouts in seconds."""

    root: Path
    state: Path
    address: str
    ttrpc_address: str
    containers: ContainerStore
    publisher: Publisher
    sched_core: bool = False
    load_timeout: float = 5.0
    cleanup_timeout: float = 5.0
    shutdown_timeout: float = 3.0
    resolve: Callable[[str], str] = field(default=resolve_runtime)


class TaskManager:
    """Implements :class:`pyctrd.core.runtime.PlatformRuntime` with runtime v2 shims."""

    def __init__(self, config: ManagerConfig) -> None:
        self.config = config
        for d in (config.root, config.state):
            d.mkdir(mode=0o711, parents=True, exist_ok=True)
        self._tasks: dict[tuple[str, str], ShimTask] = {}
        self._reserved: set[tuple[str, str]] = set()
        self._logs: dict[tuple[str, str], ShimLog] = {}
        self._pidfds: dict[int, int] = {}  # shim pid -> pidfd
        self._cleanups: set[asyncio.Task[None]] = set()
        self.orphans = OrphanReaper()
        #: called with a task that went away (deleted, or its shim died): monitors unhook here
        self.on_removed: list[Callable[[ShimTask], None]] = []

    def __repr__(self) -> str:
        return f"<TaskManager {self.config.state} tasks={len(self._tasks)}>"

    # -- the PlatformRuntime interface ----------------------------------------------------
    def get(self, id: str) -> ShimTask:
        task = self._tasks.get((namespaces.get(), id))
        if task is None:
            raise NotFound(f"task {id}")
        return task

    def tasks(self, all_namespaces: bool = False) -> list[ShimTask]:
        ns = namespaces.get()
        return [t for (n, _), t in sorted(self._tasks.items()) if all_namespaces or n == ns]

    async def create(self, id: str, opts: CreateOpts) -> ShimTask:
        key = (namespaces.get(), id)
        if key in self._tasks or key in self._reserved:
            raise AlreadyExists(f"task {id}")
        self._reserved.add(key)
        try:
            return await self._create(key, opts)
        finally:
            self._reserved.discard(key)

    async def _create(self, key: tuple[str, str], opts: CreateOpts) -> ShimTask:
        ns, id = key
        binary_path = self.config.resolve(opts.runtime)
        check_spec(opts.spec.value)  # what runc would reject late and vaguely: refused here, clearly
        options = opts.task_options if opts.task_options is not None else opts.runtime_options
        check_options(options)
        bundle = new_bundle(self.config.root, self.config.state, ns, id, opts.spec.value)
        task: ShimTask | None = None
        try:
            self._logs[key] = ShimLog(bundle)
            binary = self._binary(bundle, binary_path)
            address = await binary.start(options)
            client = await ttrpc.connect(address, timeout=self.config.load_timeout)
            task = ShimTask(bundle, client, binary)
            await task.connect(timeout=self.config.load_timeout)
            self._watch(key, task)
            await task.create(opts)
        except BaseException:
            # shielded: a cancelled request (client gone) must still leave nothing behind
            await asyncio.shield(self._abandon(key, bundle, task))
            raise
        self._tasks[key] = task
        return task

    async def _abandon(self, key: tuple[str, str], bundle: Bundle, task: ShimTask | None) -> None:
        """Undo a failed create: ask the shim to clean up; if it cannot, kill it and run the
        binary's ``delete`` (``runc delete --force``, unmount) as for a dead shim."""
        if task is not None:
            task.deleting = True
            try:
                await asyncio.wait_for(task.delete(), self.config.cleanup_timeout)
                clean = True
            except (PyctrdError, TimeoutError):
                clean = False
            with contextlib.suppress(PyctrdError, TimeoutError):
                await task.shutdown(self.config.shutdown_timeout)
            await task.close()
            if not clean or alive(task.shim_pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(task.shim_pid, signal.SIGKILL)
                await self._cleanup_dead_shim(key, None, task.binary, "failed create")
        self._forget(key)
        try:
            bundle.delete()
        except PyctrdError as exc:
            log.error("failed to delete bundle %s: %s", bundle.path, exc)

    async def delete(self, id: str) -> Exit:
        key = (namespaces.get(), id)
        task = self.get(id)
        try:
            exit = await task.delete()
        except Unavailable:
            # the shim is gone: its watcher will clean up (and publish the exit) as for any dead shim
            raise NotFound(f"task {id}: shim gone") from None
        task.deleting = True
        self._remove(key)
        with contextlib.suppress(PyctrdError, TimeoutError):
            await task.shutdown(self.config.shutdown_timeout)
        await task.close()
        self._forget(key)
        try:
            task.bundle_dir.delete()
        except PyctrdError as exc:
            log.error("failed to delete bundle %s: %s", task.bundle, exc)
        return exit

    # -- shims: binaries, logs, watching -------------------------------------------------------
    def _binary(self, bundle: Bundle, path: str) -> ShimBinary:
        return ShimBinary(bundle, path, self.config.address, self.config.ttrpc_address, self.config.sched_core,
                          debug=logging.getLogger("pyctrd").isEnabledFor(logging.DEBUG))

    def _watch(self, key: tuple[str, str], task: ShimTask) -> None:
        """Notice the shim's exit (a pidfd turns readable when its process ends). The watch
        stays until then, also for deleted tasks: a shim we started is our child to reap."""
        try:
            pidfd = os.pidfd_open(task.shim_pid)
        except OSError:  # already gone: handled as a dead shim right away
            self._spawn_cleanup(key, task)
            return
        self._pidfds[task.shim_pid] = pidfd
        asyncio.get_running_loop().add_reader(pidfd, self._shim_exited, key, task)

    def _shim_exited(self, key: tuple[str, str], task: ShimTask) -> None:
        pidfd = self._pidfds.pop(task.shim_pid, None)
        if pidfd is not None:
            asyncio.get_running_loop().remove_reader(pidfd)
            os.close(pidfd)
        with contextlib.suppress(ChildProcessError):  # reparented to us (we are a subreaper)
            os.waitpid(task.shim_pid, os.WNOHANG)
        if not task.deleting:
            log.info("shim disconnected", extra={"fields": {"id": task.id, "namespace": task.namespace}})
            self._spawn_cleanup(key, task)

    def _spawn_cleanup(self, key: tuple[str, str], task: ShimTask) -> None:
        t = asyncio.get_running_loop().create_task(self._cleanup_dead_shim(key, task))
        self._cleanups.add(t)
        t.add_done_callback(self._cleanups.discard)

    def _remove(self, key: tuple[str, str]) -> ShimTask | None:
        task = self._tasks.pop(key, None)
        if task is not None:
            for fn in self.on_removed:
                try:
                    fn(task)
                except Exception:
                    log.exception("on_removed callback for %s", task.id)
        return task

    def _forget(self, key: tuple[str, str]) -> None:
        shim_log = self._logs.pop(key, None)
        if shim_log is not None:
            shim_log.close()

    async def _cleanup_dead_shim(self, key: tuple[str, str], task: ShimTask | None,
                                 binary: ShimBinary | None = None, why: str = "shim disconnected") -> None:
        """containerd's ``cleanupAfterDeadShim``: shim delete, bundle removal, events if the
        task was still known."""
        ns, id = key
        binary = binary or (task.binary if task else None)
        if task is not None:
            task.deleting = True
            await task.close()
        self._forget(key)
        exit: Exit | None = None
        if binary is not None:
            log.warning("cleaning up after %s", why, extra={"fields": {"id": id, "namespace": ns}})
            if task is None:  # never reached: a shim may still run without the bundle knowing it
                await remove_stray_shims(self.config.address, ns, id)
            address = binary.bundle.read("address")
            cgroup = task_cgroup(binary.bundle)
            try:
                exit = await asyncio.wait_for(binary.delete(), self.config.cleanup_timeout)
            except (PyctrdError, TimeoutError) as exc:
                log.warning("failed to clean up after %s: %s", why, exc,
                            extra={"fields": {"id": id, "namespace": ns}})
                with contextlib.suppress(PyctrdError):
                    binary.bundle.delete()
            if cgroup is not None:
                remove_empty_cgroup(cgroup)
            if address:  # a killed shim cannot remove its own socket
                with contextlib.suppress(PyctrdError):
                    await ttrpc_sockets.remove_stale_socket(ttrpc_sockets.socket_path(address.strip()))
        if self._remove(key) is None:
            return  # never started, or deleted already: nothing to announce
        ts = timestamp_pb2.Timestamp()
        ts.FromDatetime((exit.timestamp if exit and exit.timestamp else datetime.now(UTC)).replace(tzinfo=None))
        pid, status = (exit.pid, exit.status) if exit else (0, 255)
        with namespaces.namespace(ns):
            self.config.publisher.publish("/tasks/exit", task_events.TaskExit(
                container_id=id, id=id, pid=pid, exit_status=status, exited_at=ts))
            self.config.publisher.publish("/tasks/delete", task_events.TaskDelete(
                container_id=id, pid=pid, exit_status=status, exited_at=ts))

    # -- daemon restart -------------------------------------------------------------------
    async def load_existing(self) -> None:
        """Reconnect to every live shim in every namespace; clean up after the dead ones."""
        for ns_dir in sorted(self.config.state.iterdir()):
            if not ns_dir.is_dir() or ns_dir.name.startswith("."):
                continue
            with namespaces.namespace(ns_dir.name):
                await self._load_namespace(ns_dir)
                self._cleanup_work_dirs(ns_dir.name)

    async def _load_namespace(self, ns_dir: Path) -> None:
        ns = ns_dir.name
        for d in sorted(ns_dir.iterdir()):
            if d.is_dir() and d.name.startswith("."):
                remove_hidden_bundle(d)  # a delete cut off between its rename and its rmtree
                continue
            if not d.is_dir():
                continue
            bundle, key = load_bundle(self.config.state, ns, d.name), (ns, d.name)
            if not any(d.iterdir()):
                bundle.delete()
                continue
            runtime = bundle.read("shim-binary-path") or self._runtime_name(d.name)
            try:
                binary = self._binary(bundle, self.config.resolve(runtime or ""))
            except PyctrdError as exc:
                log.error("loading task %s/%s: %s", ns, d.name, exc)
                with contextlib.suppress(PyctrdError):
                    bundle.delete()
                continue
            try:
                task = await self._reconnect(key, bundle, binary)
            except (PyctrdError, OSError, TimeoutError) as exc:
                log.warning("shim of task %s/%s is gone (%s): cleaning up", ns, d.name, exc)
                await self._cleanup_dead_shim(key, None, binary, "shim gone while the daemon was down")
                continue
            if not await self._has_task(task):
                # a live shim without its task: the daemon died between starting the shim and
                # Create, or between Delete and Shutdown. Nobody can see or delete that task:
                # finish what the dead daemon was doing, or the shim and bundle stay forever.
                log.warning("shim of task %s/%s has no task: removing it", ns, d.name)
                await self._abandon(key, bundle, task)
                continue
            self._tasks[key] = task
            log.info("reconnected to shim of task %s/%s (pid %d)", ns, d.name, task.shim_pid)

    async def _has_task(self, task: ShimTask) -> bool:
        """Does the shim still hold its task? Only the shim's own NotFound says no: an error
        talking to it (the shim dying right now) is left to the shim watch."""
        try:
            await task.api.State(shim_pb2.StateRequest(id=task.id), timeout=self.config.load_timeout)
        except NotFound:
            return False
        except (PyctrdError, TimeoutError):
            return True
        return True

    def _runtime_name(self, id: str) -> str | None:
        try:
            return self.config.containers.get(id).runtime.name
        except PyctrdError:
            return None

    async def _reconnect(self, key: tuple[str, str], bundle: Bundle, binary: ShimBinary) -> ShimTask:
        address = bundle.read("address")
        if not address:
            raise NotFound(f"{bundle.path}/address")
        client = await ttrpc.connect(address.strip(), timeout=self.config.load_timeout)
        task = ShimTask(bundle, client, binary)
        try:
            await task.connect(timeout=self.config.load_timeout)
        except BaseException:
            await task.close()
            raise
        self._logs[key] = ShimLog(bundle)
        self._watch(key, task)
        return task

    def _cleanup_work_dirs(self, ns: str) -> None:
        """Work directories whose task did not come back (a reboot emptied the state dir)."""
        work_root = self.config.root / ns
        if not work_root.is_dir():
            return
        for d in work_root.iterdir():
            if (ns, d.name) not in self._tasks:
                log.info("removing work directory %s of a task that is gone", d)
                with contextlib.suppress(OSError):
                    shutil.rmtree(d)

    async def astart(self) -> None:
        """Run by the daemon once every plugin is initialised: reload what a previous daemon left."""
        self.orphans.start()
        await self.load_existing()

    async def aclose(self) -> None:
        """Let go of every shim (they keep running: a restarted daemon reconnects)."""
        self.orphans.stop()
        for t in list(self._cleanups):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        for key, task in list(self._tasks.items()):
            self._forget(key)
            await task.close()
        loop = asyncio.get_running_loop()
        for pidfd in self._pidfds.values():
            loop.remove_reader(pidfd)
            os.close(pidfd)
        self._pidfds.clear()
