"""Registers the tasks service and its gRPC servicer (``containerd.services.tasks.v1.Tasks``)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.protobuf import empty_pb2, timestamp_pb2

from ..._api.containerd.api.services.tasks.v1 import tasks_pb2 as pb
from ..._api.containerd.api.services.tasks.v1 import tasks_pb2_grpc as pb_grpc
from ..._api.containerd.api.types import metrics_pb2
from ..._api.containerd.api.types.task import task_pb2
from ...config import setting
from ...core import mount
from ...core.runtime import IO, STATUSES, Exit, State
from ...errdefs import PyctrdError
from ...plugin import InitContext, Registration, register, types
from ..base import servicer, to_timestamp
from .local import Tasks

__all__ = ["TasksService", "TasksServiceConfig"]

log = logging.getLogger("pyctrd.tasks")


def _ts(dt: datetime | None) -> timestamp_pb2.Timestamp:
    return to_timestamp(dt) if dt is not None else timestamp_pb2.Timestamp()


def _process(s: State) -> task_pb2.Process:
    status: Any = STATUSES.index(s.status)  # the enum's number
    return task_pb2.Process(id=s.id, pid=s.pid, status=status, stdin=s.io.stdin,
                            stdout=s.io.stdout, stderr=s.io.stderr, terminal=s.io.terminal,
                            exit_status=s.exit_status, exited_at=_ts(s.exited_at))


def _deleted(e: Exit, id: str = "") -> pb.DeleteResponse:
    return pb.DeleteResponse(id=id, pid=e.pid, exit_status=e.status, exited_at=_ts(e.timestamp))


@servicer
class TasksService(pb_grpc.TasksServicer):
    def __init__(self, local: Tasks) -> None:
        self.local = local

    async def Create(self, request: pb.CreateTaskRequest, context: Any) -> pb.CreateTaskResponse:
        rootfs = [mount.Mount(m.type, m.source, tuple(m.options)) for m in request.rootfs]
        pid = await self.local.create(
            request.container_id, IO(request.stdin, request.stdout, request.stderr, request.terminal),
            rootfs=rootfs, options=request.options if request.HasField("options") else None,
            runtime_path=request.runtime_path, checkpoint=request.checkpoint.digest)
        return pb.CreateTaskResponse(container_id=request.container_id, pid=pid)

    async def Start(self, request: pb.StartRequest, context: Any) -> pb.StartResponse:
        return pb.StartResponse(pid=await self.local.start(request.container_id, request.exec_id))

    async def Delete(self, request: pb.DeleteTaskRequest, context: Any) -> pb.DeleteResponse:
        return _deleted(await self.local.delete(request.container_id))

    async def DeleteProcess(self, request: pb.DeleteProcessRequest, context: Any) -> pb.DeleteResponse:
        return _deleted(await self.local.delete_process(request.container_id, request.exec_id), request.exec_id)

    async def Get(self, request: pb.GetRequest, context: Any) -> pb.GetResponse:
        return pb.GetResponse(process=_process(await self.local.get(request.container_id, request.exec_id)))

    async def List(self, request: pb.ListTasksRequest, context: Any) -> pb.ListTasksResponse:
        return pb.ListTasksResponse(tasks=[_process(s) for s in await self.local.list()])

    async def Kill(self, request: pb.KillRequest, context: Any) -> empty_pb2.Empty:
        await self.local.kill(request.container_id, request.signal, exec_id=request.exec_id, all=request.all)
        return empty_pb2.Empty()

    async def Exec(self, request: pb.ExecProcessRequest, context: Any) -> empty_pb2.Empty:
        await self.local.exec(request.container_id, request.exec_id, request.spec,
                              IO(request.stdin, request.stdout, request.stderr, request.terminal))
        return empty_pb2.Empty()

    async def ResizePty(self, request: pb.ResizePtyRequest, context: Any) -> empty_pb2.Empty:
        await self.local.resize_pty(request.container_id, request.width, request.height, request.exec_id)
        return empty_pb2.Empty()

    async def CloseIO(self, request: pb.CloseIORequest, context: Any) -> empty_pb2.Empty:
        await self.local.close_io(request.container_id, request.exec_id, request.stdin)
        return empty_pb2.Empty()

    async def Pause(self, request: pb.PauseTaskRequest, context: Any) -> empty_pb2.Empty:
        await self.local.pause(request.container_id)
        return empty_pb2.Empty()

    async def Resume(self, request: pb.ResumeTaskRequest, context: Any) -> empty_pb2.Empty:
        await self.local.resume(request.container_id)
        return empty_pb2.Empty()

    async def ListPids(self, request: pb.ListPidsRequest, context: Any) -> pb.ListPidsResponse:
        infos = await self.local.pids(request.container_id)
        out = pb.ListPidsResponse()
        for p in infos:
            item = out.processes.add(pid=p.pid)
            if p.info is not None:
                item.info.CopyFrom(p.info)
        return out

    async def Checkpoint(self, request: pb.CheckpointTaskRequest, context: Any) -> pb.CheckpointTaskResponse:
        await self.local.checkpoint(request.container_id)
        return pb.CheckpointTaskResponse()

    async def Update(self, request: pb.UpdateTaskRequest, context: Any) -> empty_pb2.Empty:
        await self.local.update(request.container_id, request.resources if request.HasField("resources") else None,
                                dict(request.annotations))
        return empty_pb2.Empty()

    async def Metrics(self, request: pb.MetricsRequest, context: Any) -> pb.MetricsResponse:
        found = await self.local.metrics(*request.filters)
        return pb.MetricsResponse(metrics=[metrics_pb2.Metric(timestamp=_ts(ts), id=id, data=data)
                                           for ts, id, data in found])

    async def Wait(self, request: pb.WaitRequest, context: Any) -> pb.WaitResponse:
        e = await self.local.wait(request.container_id, request.exec_id)
        return pb.WaitResponse(exit_status=e.status, exited_at=_ts(e.timestamp))

    def register(self, server: Any) -> None:
        pb_grpc.add_TasksServicer_to_server(self, server)


@dataclass
class TasksServiceConfig:
    rdt_config_file: str = setting("", "Intel RDT config file (not supported: must be empty)")


def _local(ic: InitContext) -> Tasks:
    if ic.config.rdt_config_file:
        log.warning("rdt_config_file is set but pyctrd does not support Intel RDT: ignored")
    runtime = ic.get_by_id(types.RUNTIME_V2, "task")
    try:
        monitor = ic.get(types.MONITOR)
    except PyctrdError:
        monitor = None  # as containerd: no monitor plugin means a no-op monitor
    metadata = ic.get(types.METADATA)
    return Tasks(runtime, metadata.containers, monitor, metadata.snapshotters)


local_registration = register(Registration(
    type=types.SERVICE, id="tasks-service",
    requires=(types.EVENT, types.RUNTIME, types.RUNTIME_V2, types.METADATA, types.MONITOR),
    config=TasksServiceConfig(), init=_local, doc="Tasks of containers, through the runtime v2 shims"))
registration = register(Registration(
    type=types.GRPC, id="tasks", requires=(types.SERVICE,),
    init=lambda ic: TasksService(ic.get_by_id(types.SERVICE, "tasks-service")),
    doc="gRPC: containerd.services.tasks.v1.Tasks"))
