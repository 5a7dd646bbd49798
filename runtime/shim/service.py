"""The ``containerd.task.v2.Task`` service: what containerd calls on the shim, over ttrpc.

Every method takes the request message and returns the response message (the ttrpc server
does the framing). The calls of one ``ctr run --rm … echo hi``, in order::

    Create  -> mount rootfs, runc create              event /tasks/create
    Start   -> runc start                             event /tasks/start
    Wait    -> (blocks until the reaper sees the exit) event /tasks/exit
    Delete  -> runc delete, unmount rootfs            event /tasks/delete
    Shutdown-> no containers left: the shim exits

**Exits and their order.** A single task reads every exit from the :class:`~pyctrd.runc.Reaper`
and matches it to a process by pid (:meth:`TaskService._handle_exit`). A process can end
*while* its Start is still in flight (``echo hi`` is done in a millisecond), and containerd
expects ``/tasks/start`` before ``/tasks/exit``. So Create and Start hold ``_lifecycle`` (Go's
``eventSendMu``) from running runc until their event is queued, and the exit task takes the
same lock before it looks a pid up: an early exit simply waits its turn.

When init exits, the exec'd processes must not outlive it: with a PID namespace of its own
the kernel kills them; without one the shim does (``runc kill --all SIGKILL``).
"""
from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
from collections.abc import Callable, Coroutine
from typing import Any

from google.protobuf import empty_pb2, timestamp_pb2

from .. import errdefs
from .._api.containerd.api.events import task_pb2 as events
from .._api.containerd.api.types.task import task_pb2 as types
from .._api.containerd.runtime.v2.runc.options import oci_pb2
from .._api.containerd.runtime.v2.task import shim_pb2 as api
from ..core import typeurl
from ..errdefs import AlreadyExists, FailedPrecondition, NotFound, PyctrdError
from ..runc import Exit, Reaper
from .container import Container, create_container
from .exec_process import ExecProcess
from .process import Process
from .publisher import Publisher
from .stdio import Stdio

__all__ = ["TaskService", "timestamp"]

log = logging.getLogger("pyctrd.shim")
EMPTY = empty_pb2.Empty()
_GO_ZERO_TIME = -62135596800  # Go's time.Time{} (0001-01-01): "not exited" on the wire


def timestamp(ns: int) -> timestamp_pb2.Timestamp:
    """A protobuf timestamp for ``ns`` (0 means never, sent as Go's zero time, as Go does)."""
    if not ns:
        return timestamp_pb2.Timestamp(seconds=_GO_ZERO_TIME)
    return timestamp_pb2.Timestamp(seconds=ns // 10**9, nanos=ns % 10**9)


def _completes(method: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Coroutine[Any, Any, Any]]:
    """A call that changes state runs to its end even when the caller hangs up (a daemon
    killed mid-call): cancelled half-way, runc may have started, killed or deleted the
    container while the shim never recorded it - a "created" task that runc runs, which
    no delete can remove. The answer is simply dropped."""

    @functools.wraps(method)
    async def call(self: TaskService, r: Any) -> Any:
        task = self._spawn(method(self, r))
        return await asyncio.shield(task)

    return call


class TaskService:
    """The shim's Task service for any number of containers (one, unless grouped).

    Args:
        namespace: the containerd namespace this shim serves.
        runc_root_base: runc state roots live in ``<runc_root_base>/<namespace>``.
        publisher: where events go.
        reaper: the process's only reaper; runc runs through it and exits come from it.
        shutdown: called when Shutdown finds nothing left to serve; it must not stop the
            server before the reply is sent (schedule that).
    """

    def __init__(self, namespace: str, runc_root_base: str, publisher: Publisher, reaper: Reaper,
                 shutdown: Callable[[], None]) -> None:
        self.namespace, self.runc_root_base = namespace, runc_root_base
        self.publisher, self.reaper, self._shutdown = publisher, reaper, shutdown
        self.containers: dict[str, Container] = {}
        self._lifecycle = asyncio.Lock()
        self._background: set[asyncio.Task[Any]] = set()
        self._exits = reaper.subscribe()
        self._spawn(self._exit_loop())

    def __repr__(self) -> str:
        return f"<TaskService {self.namespace} containers={sorted(self.containers)}>"

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            pass  # retrieved here: a call whose caller hung up has nobody else to hear it

    def _container(self, id: str) -> Container:
        try:
            return self.containers[id]
        except KeyError:
            raise NotFound("container not created") from None

    # --- exits -----------------------------------------------------------------------------

    async def _exit_loop(self) -> None:
        while True:
            e = await self._exits.get()
            async with self._lifecycle:
                await self._handle_exit(e)

    async def _handle_exit(self, e: Exit) -> None:
        """Match one reaped exit to a process; record it and publish ``/tasks/exit``."""
        for container in self.containers.values():
            p = container.by_pid(e.pid)
            if p is None:
                continue
            if p is container.init and container.should_kill_all_on_exit():
                await container.init.kill_all()
            p.set_exited(e.status)
            self.publisher.publish(events.TaskExit(
                container_id=container.id, id=p.id, pid=e.pid, exit_status=e.status,
                exited_at=timestamp(p.exited_at_ns)))
            return
        # not a container process: runc itself, a logging binary, the publish binary

    async def _watch_oom(self, container: Container) -> None:
        from ..cgroups import oom_events

        try:
            async for _ in oom_events(container.cgroup):
                self.publisher.publish(events.TaskOOM(container_id=container.id))
        except PyctrdError as exc:
            log.error("add cg to OOM monitor: %s", exc)

    # --- lifecycle -------------------------------------------------------------------------

    @_completes
    async def Create(self, r: api.CreateTaskRequest) -> api.CreateTaskResponse:
        if r.id in self.containers:
            raise AlreadyExists(f"container {r.id}")
        if r.checkpoint:
            raise errdefs.NotImplemented("restore from a checkpoint (pyrunc has no criu support)")
        async with self._lifecycle:
            c = await create_container(r, namespace=self.namespace, runc_root_base=self.runc_root_base,
                                       monitor=self.reaper)
            self.containers[r.id] = c
            self.publisher.publish(events.TaskCreate(
                container_id=r.id, bundle=r.bundle, rootfs=r.rootfs, checkpoint=r.checkpoint,
                io=events.TaskIO(stdin=r.stdin, stdout=r.stdout, stderr=r.stderr, terminal=r.terminal),
                pid=c.init.pid))
        return api.CreateTaskResponse(pid=c.init.pid)

    @_completes
    async def Start(self, r: api.StartRequest) -> api.StartResponse:
        c = self._container(r.id)
        p = c.process(r.exec_id)
        async with self._lifecycle:
            await p.start()
            if isinstance(p, ExecProcess):
                self.publisher.publish(events.TaskExecStarted(container_id=c.id, exec_id=p.id, pid=p.pid))
            else:
                if c.cgroup is not None:
                    c.oom_watch = self._spawn(self._watch_oom(c))
                self.publisher.publish(events.TaskStart(container_id=c.id, pid=p.pid))
        return api.StartResponse(pid=p.pid)

    @_completes
    async def Exec(self, r: api.ExecProcessRequest) -> empty_pb2.Empty:
        c = self._container(r.id)
        if r.exec_id in c.execs:
            raise AlreadyExists(f"id {r.exec_id}")
        if c.init.state not in ("created", "running"):
            raise FailedPrecondition(f"cannot exec in a {c.init.state} state")
        try:
            spec = json.loads(r.spec.value)
        except ValueError as exc:
            raise errdefs.InvalidArgument(f"exec process spec: {exc}") from exc
        stdio = Stdio(r.stdin, r.stdout, r.stderr, r.terminal)
        c.execs[r.exec_id] = ExecProcess(r.exec_id, c.init, spec, stdio)
        self.publisher.publish(events.TaskExecAdded(container_id=c.id, exec_id=r.exec_id))
        return EMPTY

    @_completes
    async def Delete(self, r: api.DeleteRequest) -> api.DeleteResponse:
        c = self._container(r.id)
        p = c.process(r.exec_id)
        await p.delete()
        if r.exec_id:
            c.execs.pop(r.exec_id, None)
        else:
            self.containers.pop(r.id, None)
            if c.oom_watch is not None:
                c.oom_watch.cancel()
            self.publisher.publish(events.TaskDelete(
                container_id=c.id, pid=p.pid, exit_status=p.exit_status,
                exited_at=timestamp(p.exited_at_ns)))
        return api.DeleteResponse(pid=p.pid, exit_status=p.exit_status,
                                  exited_at=timestamp(p.exited_at_ns))

    async def Wait(self, r: api.WaitRequest) -> api.WaitResponse:
        p = self._container(r.id).process(r.exec_id)
        await p.wait()
        return api.WaitResponse(exit_status=p.exit_status, exited_at=timestamp(p.exited_at_ns))

    async def Shutdown(self, r: api.ShutdownRequest) -> empty_pb2.Empty:
        if not self.containers:
            self._shutdown()  # the shim exits once this reply is on its way
        return EMPTY

    # --- control ---------------------------------------------------------------------------

    @_completes
    async def Kill(self, r: api.KillRequest) -> empty_pb2.Empty:
        p = self._container(r.id).process(r.exec_id)
        await p.kill(r.signal, r.all)
        return EMPTY

    @_completes
    async def Pause(self, r: api.PauseRequest) -> empty_pb2.Empty:
        c = self._container(r.id)
        await c.init.pause()
        self.publisher.publish(events.TaskPaused(container_id=c.id))
        return EMPTY

    @_completes
    async def Resume(self, r: api.ResumeRequest) -> empty_pb2.Empty:
        c = self._container(r.id)
        await c.init.resume()
        self.publisher.publish(events.TaskResumed(container_id=c.id))
        return EMPTY

    @_completes
    async def Update(self, r: api.UpdateTaskRequest) -> empty_pb2.Empty:
        c = self._container(r.id)
        await c.init.update(typeurl.unpack_json(r.resources) or {})
        return EMPTY

    async def ResizePty(self, r: api.ResizePtyRequest) -> empty_pb2.Empty:
        p = self._container(r.id).process(r.exec_id)
        if p.io is not None and p.io.console is not None:
            p.io.console.resize(r.width, r.height)
        return EMPTY

    async def CloseIO(self, r: api.CloseIORequest) -> empty_pb2.Empty:
        p = self._container(r.id).process(r.exec_id)
        if r.stdin and p.io is not None:
            p.io.close_stdin()
        return EMPTY

    async def Checkpoint(self, r: api.CheckpointTaskRequest) -> empty_pb2.Empty:
        self._container(r.id)
        raise errdefs.NotImplemented("checkpoint (pyrunc has no criu support)")

    # --- questions -------------------------------------------------------------------------

    async def State(self, r: api.StateRequest) -> api.StateResponse:
        c = self._container(r.id)
        p: Process = c.process(r.exec_id)
        return api.StateResponse(
            id=p.id, bundle=c.bundle, pid=p.pid, status=types.Status.Value(p.status().upper()),
            stdin=p.stdio.stdin, stdout=p.stdio.stdout, stderr=p.stdio.stderr,
            terminal=p.stdio.terminal, exit_status=p.exit_status, exited_at=timestamp(p.exited_at_ns))

    async def Pids(self, r: api.PidsRequest) -> api.PidsResponse:
        c = self._container(r.id)
        execs = {p.pid: p.id for p in c.execs.values() if p.pid}
        processes = []
        for pid in await c.init.runc.ps(c.id):
            info = types.ProcessInfo(pid=pid)
            if pid in execs:
                info.info.CopyFrom(typeurl.pack(oci_pb2.ProcessDetails(exec_id=execs[pid])))
            processes.append(info)
        return api.PidsResponse(processes=processes)

    async def Stats(self, r: api.StatsRequest) -> api.StatsResponse:
        c = self._container(r.id)
        if c.cgroup is None:
            raise NotFound("cgroup does not exist")
        from ..cgroups import metrics, to_any

        return api.StatsResponse(stats=to_any(metrics(c.cgroup)))

    async def Connect(self, r: api.ConnectRequest) -> api.ConnectResponse:
        c = self.containers.get(r.id)
        return api.ConnectResponse(shim_pid=os.getpid(), task_pid=c.init.pid if c else 0)

    async def close(self) -> None:
        """Stop the exit and OOM tasks (the shim is exiting)."""
        self.reaper.unsubscribe(self._exits)
        for task in list(self._background):
            task.cancel()
        if self._background:
            await asyncio.wait(self._background)
