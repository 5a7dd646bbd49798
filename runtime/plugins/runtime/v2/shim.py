"""A task as seen through its shim: every method is one ``containerd.task.v2.Task`` ttrpc call.

:class:`ShimTask` implements :class:`pyctrd.core.runtime.Task` for the init process and
:class:`ShimProcess` implements :class:`~pyctrd.core.runtime.Process` for exec processes;
both only translate between pyctrd's records and the shim API's messages.
"""
from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any

from google.protobuf import any_pb2, timestamp_pb2

from .... import errdefs, identifiers, ttrpc
from ...._api.containerd.api.types import mount_pb2
from ...._api.containerd.runtime.v2.task import shim_pb2
from ....core.oci.check import check_process, check_resources
from ....core.runtime import (
    IO,
    STATUSES,
    UNKNOWN,
    ConsoleSize,
    CreateOpts,
    ExecOpts,
    Exit,
    ProcessInfo,
    State,
)
from ....errdefs import InvalidArgument, NotFound, Unavailable
from .binary import ShimBinary
from .bundle import Bundle

__all__ = ["ShimProcess", "ShimTask"]

log = logging.getLogger("pyctrd.runtime")

TASK_SERVICE = shim_pb2.DESCRIPTOR.services_by_name["Task"]


#: SIGRTMAX on Linux; 0 asks only whether the process exists.
MAX_SIGNAL = 64
#: How the Go shim's process state machine (containerd's pkg/process) says "not in this
#: state": plain errors, so they arrive as UNKNOWN. Ours sends FAILED_PRECONDITION itself.
_WRONG_STATE = re.compile(r"cannot (?:start|delete|kill|pause|resume|checkpoint|resize|update|exec) "
                          r"(?:an? |task )?(?:in )?(?:an? )?(?:created|running|paused|pausing|stopped|deleted) "
                          r"(?:process|container|state)")


class _ShimAPI:
    """The ``containerd.task.v2.Task`` stub, with the Go shim's wrong-state errors given their kind."""

    def __init__(self, stub: ttrpc.Stub) -> None:
        self._stub = stub

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._stub, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return await method(*args, **kwargs)
            except errdefs.Unknown as exc:
                if _WRONG_STATE.match(exc.what):
                    raise errdefs.FailedPrecondition(exc.what) from None
                raise
        return call


def _when(ts: timestamp_pb2.Timestamp) -> datetime:
    t: datetime = ts.ToDatetime(tzinfo=UTC)
    return t


def _state(r: shim_pb2.StateResponse, id: str) -> State:
    status = STATUSES[r.status] if 0 <= r.status < len(STATUSES) else UNKNOWN
    return State(id, r.pid, status, IO(r.stdin, r.stdout, r.stderr, r.terminal), r.exit_status,
                 _when(r.exited_at) if r.HasField("exited_at") else None)


class ShimProcess:
    """Process ``exec_id`` of a task ("" is the init process)."""

    id: str

    def __init__(self, shim: ShimTask, exec_id: str) -> None:
        self.shim = shim
        self.exec_id = exec_id
        self.id = exec_id or shim.id

    def __repr__(self) -> str:
        return f"<ShimProcess {self.shim.namespace}/{self.shim.id}/{self.exec_id}>"

    async def state(self, timeout: float | None = None) -> State:
        try:
            r = await self.shim.api.State(shim_pb2.StateRequest(id=self.shim.id, exec_id=self.exec_id),
                                          timeout=timeout)
        except Unavailable:  # the shim is gone: so is the process (containerd says the same)
            raise NotFound(f"process {self.exec_id or self.shim.id}: shim gone") from None
        return _state(r, self.id)

    async def start(self) -> int:
        r = await self.shim.api.Start(shim_pb2.StartRequest(id=self.shim.id, exec_id=self.exec_id))
        return int(r.pid)

    async def kill(self, signal: int, all: bool = False) -> None:
        if not 0 <= signal <= MAX_SIGNAL:  # runc would say "invalid argument", as UNKNOWN
            raise InvalidArgument(f"signal {signal}: not a signal number (0-{MAX_SIGNAL})")
        await self.shim.api.Kill(shim_pb2.KillRequest(id=self.shim.id, exec_id=self.exec_id, signal=signal,
                                                      all=all))

    async def wait(self) -> Exit:
        r = await self.shim.api.Wait(shim_pb2.WaitRequest(id=self.shim.id, exec_id=self.exec_id))
        return Exit(0, r.exit_status, _when(r.exited_at))

    async def resize_pty(self, size: ConsoleSize) -> None:
        await self.shim.api.ResizePty(shim_pb2.ResizePtyRequest(id=self.shim.id, exec_id=self.exec_id,
                                                                width=size.width, height=size.height))

    async def close_io(self) -> None:
        await self.shim.api.CloseIO(shim_pb2.CloseIORequest(id=self.shim.id, exec_id=self.exec_id, stdin=True))

    async def delete(self) -> Exit:
        r = await self.shim.api.Delete(shim_pb2.DeleteRequest(id=self.shim.id, exec_id=self.exec_id))
        return Exit(r.pid, r.exit_status, _when(r.exited_at))


class ShimTask(ShimProcess):
    """The task in one shim, over one ttrpc connection (containerd's ``shimTask``).

    Attributes:
        id, namespace: the task.
        bundle: its bundle directory (as a string, per the Task protocol).
        client: the ttrpc connection; ``api`` the ``containerd.task.v2.Task`` stub over it.
        binary: how to run the shim binary's ``delete`` if the shim dies.
        shim_pid: the shim's pid (from ``Connect``), watched to notice a dead shim.
    """

    def __init__(self, bundle: Bundle, client: ttrpc.Client, binary: ShimBinary) -> None:
        self.id = bundle.id
        self.namespace = bundle.namespace
        self.bundle_dir = bundle
        self.bundle = str(bundle.path)
        self.client = client
        self.api: Any = _ShimAPI(ttrpc.Stub(client, TASK_SERVICE))
        self.binary = binary
        self.shim_pid = 0
        self.deleting = False  # set once we take the shim down on purpose
        super().__init__(self, "")

    def __repr__(self) -> str:
        return f"<ShimTask {self.namespace}/{self.id} shim_pid={self.shim_pid or '?'}>"

    async def connect(self, timeout: float | None = None) -> shim_pb2.ConnectResponse:
        """Ask the shim who it is; also how a restarted daemon checks a shim is alive."""
        r: shim_pb2.ConnectResponse = await self.api.Connect(shim_pb2.ConnectRequest(id=self.id), timeout=timeout)
        self.shim_pid = int(r.shim_pid)
        return r

    async def pid(self) -> int:
        return int((await self.api.Connect(shim_pb2.ConnectRequest(id=self.id))).task_pid)

    async def create(self, opts: CreateOpts) -> int:
        options = opts.task_options if opts.task_options is not None else opts.runtime_options
        request = shim_pb2.CreateTaskRequest(
            id=self.id, bundle=self.bundle, stdin=opts.io.stdin, stdout=opts.io.stdout, stderr=opts.io.stderr,
            terminal=opts.io.terminal, checkpoint=opts.checkpoint,
            rootfs=[mount_pb2.Mount(type=m.type, source=m.source, options=list(m.options)) for m in opts.rootfs])
        if options is not None:
            request.options.CopyFrom(options)
        return int((await self.api.Create(request)).pid)

    async def wait(self) -> Exit:
        pid = await self.pid()
        exit = await super().wait()
        return Exit(pid, exit.status, exit.timestamp)

    async def pause(self) -> None:
        await self.api.Pause(shim_pb2.PauseRequest(id=self.id))

    async def resume(self) -> None:
        await self.api.Resume(shim_pb2.ResumeRequest(id=self.id))

    async def exec(self, exec_id: str, opts: ExecOpts) -> ShimProcess:
        try:
            identifiers.validate(exec_id)
        except InvalidArgument as exc:
            raise InvalidArgument(f"invalid exec id {exec_id}: {exc.what}") from None
        check_process(opts.spec.value)  # refused here, clearly, rather than by runc, vaguely
        await self.api.Exec(shim_pb2.ExecProcessRequest(
            id=self.id, exec_id=exec_id, stdin=opts.io.stdin, stdout=opts.io.stdout, stderr=opts.io.stderr,
            terminal=opts.io.terminal, spec=opts.spec))
        return ShimProcess(self, exec_id)

    async def process(self, exec_id: str) -> ShimProcess:
        p = ShimProcess(self, exec_id)
        await p.state()
        return p

    async def pids(self) -> list[ProcessInfo]:
        r = await self.api.Pids(shim_pb2.PidsRequest(id=self.id))
        return [ProcessInfo(p.pid, p.info if p.HasField("info") else None) for p in r.processes]

    async def update(self, resources: any_pb2.Any | None, annotations: dict[str, str]) -> None:
        request = shim_pb2.UpdateTaskRequest(id=self.id, annotations=annotations)
        if resources is not None and resources.value:
            check_resources(resources.value)
        if resources is not None:
            request.resources.CopyFrom(resources)
        await self.api.Update(request)

    async def stats(self) -> any_pb2.Any:
        return (await self.api.Stats(shim_pb2.StatsRequest(id=self.id))).stats

    async def checkpoint(self, path: str, options: any_pb2.Any | None) -> None:
        raise errdefs.NotImplemented(f"checkpoint of task {self.id}: pyctrd does not checkpoint tasks (no CRIU)")

    async def shutdown(self, timeout: float) -> None:
        """Ask the shim to exit (it refuses while it still has tasks); a closed connection is fine."""
        try:
            await self.api.Shutdown(shim_pb2.ShutdownRequest(id=self.id), timeout=timeout)
        except Unavailable:
            pass

    async def close(self) -> None:
        await self.client.close()
