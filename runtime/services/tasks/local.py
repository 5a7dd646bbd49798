"""The tasks service: from a container record to a task in the runtime, and every call after.

:meth:`Tasks.create` is where a container meets its runtime: the record's spec, runtime name
and options become :class:`~pyctrd.core.runtime.CreateOpts`; the root filesystem comes from
the request's mounts, or - when the client sent none and the container names a snapshot -
from that snapshot's mounts (pyctrd looks them up itself, so a client need not), or is
nothing at all when the spec's ``root.path`` already points at a directory.

Every other call finds the task by container ID (NotFound ``task <id> not found`` when the
container has none) and passes the call to it. Task events come from the shims; this service
publishes none, so no event is seen twice.
"""
from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from google.protobuf import any_pb2

from ... import errdefs
from ...core import filters, mount, namespaces
from ...core.containers import Container, ContainerStore
from ...core.runtime import (
    IO,
    ConsoleSize,
    CreateOpts,
    ExecOpts,
    Exit,
    PlatformRuntime,
    Process,
    ProcessInfo,
    State,
    Task,
    TaskMonitor,
)
from ...errdefs import AlreadyExists, InvalidArgument, NotFound, PyctrdError

__all__ = ["Tasks"]

log = logging.getLogger("pyctrd.tasks")

STATE_TIMEOUT = 2.0


class Tasks:
    """Tasks of containers, in the current namespace.

    Args:
        runtime: the runtime v2 task manager.
        containers: container records.
        monitor: told about each task created and deleted (cgroups metrics).
        snapshotters: ``{name: snapshotter}`` to find a container's rootfs mounts.
    """

    def __init__(self, runtime: PlatformRuntime, containers: ContainerStore, monitor: TaskMonitor | None,
                 snapshotters: Mapping[str, Any] | None = None) -> None:
        self.runtime = runtime
        self.containers = containers
        self.monitor = monitor
        self.snapshotters = dict(snapshotters or {})
        removed = getattr(runtime, "on_removed", None)
        if monitor is not None and removed is not None:
            removed.append(monitor.stop)  # a task whose shim died leaves the monitor too

    def __repr__(self) -> str:
        return f"<Tasks runtime={self.runtime!r}>"

    async def astart(self) -> None:
        """Watch the tasks a restarted daemon found still running."""
        if self.monitor is not None:
            for t in self.runtime.tasks(all_namespaces=True):
                with namespaces.namespace(t.namespace):
                    try:
                        labels = {"runtime": (await self._container(t.id)).runtime.name}
                    except PyctrdError:
                        labels = {}
                self.monitor.monitor(t, labels)

    async def _container(self, id: str) -> Container:
        return await asyncio.to_thread(self.containers.get, id)

    async def task(self, id: str) -> Task:
        await self._container(id)
        try:
            return self.runtime.get(id)
        except NotFound:
            raise NotFound(f"task {id} not found") from None

    async def _process(self, id: str, exec_id: str) -> Process:
        t = await self.task(id)
        return await t.process(exec_id) if exec_id else t

    async def _rootfs(self, c: Container, given: list[mount.Mount]) -> list[mount.Mount]:
        if given or not c.snapshot_key:
            return given
        snapshotter = self.snapshotters.get(c.snapshotter)
        if snapshotter is None:
            raise NotFound(f'snapshotter "{c.snapshotter}" of container {c.id}')
        return list(await asyncio.to_thread(snapshotter.mounts, c.snapshot_key))

    async def create(self, container_id: str, io: IO, *, rootfs: list[mount.Mount] | None = None,
                     options: any_pb2.Any | None = None, runtime_path: str = "", checkpoint: str = "") -> int:
        """Create the container's task (not started); returns the init pid.

        Raises:
            NotFound: no such container, snapshotter or shim binary.
            AlreadyExists: the container has a task.
            NotImplemented: a checkpoint to restore.
            Unknown: the shim failed (its message kept).
        """
        c = await self._container(container_id)
        if checkpoint:
            raise errdefs.NotImplemented("restoring a task from a checkpoint: pyctrd does not checkpoint tasks")
        if c.spec is None:
            raise InvalidArgument(f"container {container_id} has no spec")
        try:
            self.runtime.get(container_id)
        except NotFound:
            pass
        else:
            raise AlreadyExists(f"task {container_id}")
        opts = CreateOpts(spec=c.spec, io=io, rootfs=await self._rootfs(c, list(rootfs or [])),
                          runtime=runtime_path or c.runtime.name, runtime_options=c.runtime.options,
                          task_options=options)
        task = await self.runtime.create(container_id, opts)
        if self.monitor is not None:
            self.monitor.monitor(task, {"runtime": c.runtime.name})
        return await task.pid()

    async def start(self, id: str, exec_id: str = "") -> int:
        return await (await self._process(id, exec_id)).start()

    async def delete(self, id: str) -> Exit:
        c = await self._container(id)
        t = await self.task(id)
        if self.monitor is not None:
            self.monitor.stop(t)
        try:
            return await self.runtime.delete(id)
        except PyctrdError:
            if self.monitor is not None:  # still there (e.g. running): keep watching it
                with contextlib.suppress(NotFound):
                    self.monitor.monitor(self.runtime.get(id), {"runtime": c.runtime.name})
            raise

    async def delete_process(self, id: str, exec_id: str) -> Exit:
        if not exec_id:
            raise InvalidArgument("exec id must be set to delete a process (use Delete for the task)")
        return await (await self._process(id, exec_id)).delete()

    async def get(self, id: str, exec_id: str = "") -> State:
        p = await self._process(id, exec_id)
        return await p.state(timeout=STATE_TIMEOUT)

    async def list(self) -> list[State]:
        states = []
        for t in self.runtime.tasks():
            try:
                states.append(await t.state(timeout=STATE_TIMEOUT))
            except NotFound:
                continue  # deleted meanwhile
            except PyctrdError as exc:
                log.error("state of task %s: %s", t.id, exc)
                states.append(State(t.id, 0, "unknown"))
        return states

    async def kill(self, id: str, signal: int, *, exec_id: str = "", all: bool = False) -> None:
        await (await self._process(id, exec_id)).kill(signal, all)

    async def exec(self, id: str, exec_id: str, spec: any_pb2.Any, io: IO) -> None:
        if not exec_id:
            raise InvalidArgument("exec id cannot be empty")
        await (await self.task(id)).exec(exec_id, ExecOpts(spec, io))

    async def resize_pty(self, id: str, width: int, height: int, exec_id: str = "") -> None:
        await (await self._process(id, exec_id)).resize_pty(ConsoleSize(width, height))

    async def close_io(self, id: str, exec_id: str = "", stdin: bool = True) -> None:
        p = await self._process(id, exec_id)  # as containerd: NotFound even when nothing is to close
        if stdin:
            await p.close_io()

    async def pause(self, id: str) -> None:
        await (await self.task(id)).pause()

    async def resume(self, id: str) -> None:
        await (await self.task(id)).resume()

    async def pids(self, id: str) -> builtins.list[ProcessInfo]:
        return await (await self.task(id)).pids()

    async def checkpoint(self, id: str) -> None:
        await (await self.task(id)).checkpoint("", None)

    async def update(self, id: str, resources: any_pb2.Any | None, annotations: dict[str, str]) -> None:
        await (await self.task(id)).update(resources, annotations)

    async def wait(self, id: str, exec_id: str = "") -> Exit:
        return await (await self._process(id, exec_id)).wait()

    async def metrics(self, *fs: str) -> builtins.list[tuple[datetime, str, any_pb2.Any]]:
        """``(collected at, task id, stats)`` for tasks matching the filters (``id``,
        ``namespace``, ``runtime``); tasks that cannot answer are left out."""
        flt = filters.parse_all(fs)
        out = []
        for t in self.runtime.tasks():
            if not flt.match(filters.adapt({"id": t.id, "namespace": t.namespace})):
                continue
            collected = datetime.now(UTC)
            try:
                out.append((collected, t.id, await t.stats()))
            except PyctrdError as exc:
                if not isinstance(exc, NotFound):
                    log.error("collecting metrics for %s: %s", t.id, exc)
        return out
