"""Client side of tasks: run a container, talk to its processes, read its metrics.

    task = client.tasks.create("c1", io=cio.capture())   # shim started, process created
    task.start()
    status = task.wait()                                  # blocks until it exits
    task.io.stdout.getvalue()                             # what it printed
    task.delete()                                         # frees the shim; FIFOs removed

:class:`Task` and :class:`Process` are handles: every method is one gRPC call (containerd's
``Task`` and ``Process`` in its Go client).
"""
from __future__ import annotations

import builtins
import signal as signals
from datetime import UTC, datetime
from typing import Any

from google.protobuf import any_pb2, timestamp_pb2
from google.protobuf.message import Message

from .._api.cgroups.stats.v1 import metrics_pb2 as _cgroups_v1  # noqa: F401 - so unpack knows it
from .._api.cgroups.v2.stats import metrics_pb2 as _cgroups_v2  # noqa: F401
from .._api.containerd.api.services.tasks.v1 import tasks_pb2 as pb
from .._api.containerd.api.services.tasks.v1 import tasks_pb2_grpc as pb_grpc
from .._api.containerd.api.types import mount_pb2
from ..core import mount, typeurl
from ..core.runtime import IO as IOConfig
from ..core.runtime import STATUSES, Exit, ProcessInfo, State
from ..errdefs import FailedPrecondition, InvalidArgument, NotFound, PyctrdError
from . import cio
from .connection import Connection

__all__ = ["Process", "Task", "TasksClient"]

FOREVER = 365 * 86400.0  # a wait has no deadline (the connection's default timeout would cut it)


def _when(ts: timestamp_pb2.Timestamp) -> datetime:
    when: datetime = ts.ToDatetime(tzinfo=UTC)
    return when


def _state(p: Any) -> State:
    status = STATUSES[p.status] if 0 <= p.status < len(STATUSES) else "unknown"
    return State(p.id, p.pid, status, IOConfig(p.stdin, p.stdout, p.stderr, p.terminal), p.exit_status,
                 _when(p.exited_at) if p.HasField("exited_at") else None)


def _io(creator: cio.Creator | cio.IO | None, id: str) -> cio.IO:
    if creator is None:
        return cio.null_io()
    return creator if isinstance(creator, cio.IO) else creator(id)


class Process:
    """One process of a task: the init process (``exec_id`` "") or an exec process."""

    def __init__(self, tasks: TasksClient, container_id: str, exec_id: str = "", io: cio.IO | None = None,
                 pid: int = 0) -> None:
        self._tasks, self.container_id, self.exec_id, self.io, self.pid = tasks, container_id, exec_id, io, pid

    @property
    def id(self) -> str:
        return self.exec_id or self.container_id

    def __repr__(self) -> str:
        where = f"{self.container_id}/{self.exec_id}" if self.exec_id else self.container_id
        return f"<{type(self).__name__} {where} pid={self.pid or '?'}>"

    def start(self) -> int:
        """Start it; returns the pid."""
        try:
            self.pid = self._tasks._stub.Start(pb.StartRequest(container_id=self.container_id,
                                                               exec_id=self.exec_id)).pid
        except PyctrdError:
            if self.io is not None:
                self.io.close()
            raise
        return self.pid

    def status(self) -> State:
        """Raises NotFound."""
        return _state(self._tasks._stub.Get(pb.GetRequest(container_id=self.container_id,
                                                          exec_id=self.exec_id)).process)

    def kill(self, sig: int | str = signals.SIGTERM, *, all: bool = False) -> None:
        """Send a signal (number or name like ``"SIGKILL"``). Raises NotFound, FailedPrecondition."""
        number = int(signals.Signals[sig] if isinstance(sig, str) else sig)
        self._tasks._stub.Kill(pb.KillRequest(container_id=self.container_id, exec_id=self.exec_id,
                                              signal=number, all=all))

    def wait(self, timeout: float | None = None) -> Exit:
        """Block until it exits; then its output is complete too. Returns pid, status, time."""
        r = self._tasks._stub.Wait(pb.WaitRequest(container_id=self.container_id, exec_id=self.exec_id),
                                   timeout=timeout or FOREVER)
        if self.io is not None:
            self.io.wait(timeout=5)
        return Exit(self.pid, r.exit_status, _when(r.exited_at))

    def resize(self, width: int, height: int) -> None:
        self._tasks._stub.ResizePty(pb.ResizePtyRequest(container_id=self.container_id, exec_id=self.exec_id,
                                                        width=width, height=height))

    def close_io(self) -> None:
        """Close the process's stdin (it sees EOF)."""
        self._tasks._stub.CloseIO(pb.CloseIORequest(container_id=self.container_id, exec_id=self.exec_id,
                                                    stdin=True))

    def delete(self) -> Exit:
        """Delete the stopped process; its FIFOs are removed. Raises FailedPrecondition (running)."""
        r = self._tasks._stub.DeleteProcess(pb.DeleteProcessRequest(container_id=self.container_id,
                                                                    exec_id=self.exec_id))
        self._close_io()
        return Exit(r.pid, r.exit_status, _when(r.exited_at))

    def _close_io(self) -> None:
        if self.io is not None:
            self.io.close()
            self.io = None


class Task(Process):
    """A container's task (its init process plus task-wide calls)."""

    def pause(self) -> None:
        self._tasks._stub.Pause(pb.PauseTaskRequest(container_id=self.container_id))

    def resume(self) -> None:
        self._tasks._stub.Resume(pb.ResumeTaskRequest(container_id=self.container_id))

    def pids(self) -> list[ProcessInfo]:
        r = self._tasks._stub.ListPids(pb.ListPidsRequest(container_id=self.container_id))
        return [ProcessInfo(p.pid, p.info if p.HasField("info") else None) for p in r.processes]

    def exec(self, exec_id: str, process: dict[str, Any] | Message, *,
             io: cio.Creator | cio.IO | None = None) -> Process:
        """Add a process (created, not started) from an OCI ``process`` dict (or ``args``, a list).

        Raises:
            InvalidArgument: empty or bad exec ID.
            AlreadyExists: the exec ID is taken.
        """
        if not exec_id:
            raise InvalidArgument("exec id cannot be empty")
        spec = typeurl.pack_json(typeurl.OCI_PROCESS_URL, process) if isinstance(process, dict) \
            else typeurl.pack(process)
        pio = _io(io, exec_id)
        c = pio.config
        pio.start()  # the shim opens the FIFOs while creating the process: our ends must be waiting
        try:
            self._tasks._stub.Exec(pb.ExecProcessRequest(container_id=self.container_id, exec_id=exec_id,
                                                         stdin=c.stdin, stdout=c.stdout, stderr=c.stderr,
                                                         terminal=c.terminal, spec=spec))
        except PyctrdError:
            pio.close()
            raise
        p = Process(self._tasks, self.container_id, exec_id, pio)
        if pio.stdin is not None:
            pio.set_stdin_closer(p.close_io)
        return p

    def metrics(self) -> Message:
        """The cgroup metrics (``io.containerd.cgroups.v1.Metrics`` or v2), decoded.

        Raises:
            NotFound: the task reported none.
        """
        r = self._tasks._stub.Metrics(pb.MetricsRequest(filters=[f"id=={self.container_id}"]))
        for m in r.metrics:
            if m.id == self.container_id:
                return typeurl.unpack(m.data)
        raise NotFound(f"metrics of task {self.container_id}")

    def update(self, resources: dict[str, Any] | None = None, annotations: dict[str, str] | None = None) -> None:
        """Change resource limits (an OCI ``LinuxResources`` dict)."""
        req = pb.UpdateTaskRequest(container_id=self.container_id, annotations=annotations or {})
        if resources is not None:
            req.resources.CopyFrom(typeurl.pack_json(typeurl.OCI_RESOURCES_URL, resources))
        self._tasks._stub.Update(req)

    def delete(self, *, force: bool = False) -> Exit:
        """Delete the task (and its shim). ``force`` kills it first and waits for the exit.

        Raises:
            FailedPrecondition: it is still running (without ``force``).
        """
        status = self.status().status
        if force and status not in ("stopped", "created"):
            self.kill(signals.SIGKILL, all=True)
            self._tasks._stub.Wait(pb.WaitRequest(container_id=self.container_id), timeout=30)
        elif status not in ("stopped", "created", "unknown"):
            # as containerd's client: the shim's own answer would be an opaque Unknown
            raise FailedPrecondition(f"task must be stopped before deletion: {status}")
        r = self._tasks._stub.Delete(pb.DeleteTaskRequest(container_id=self.container_id))
        if self.io is not None:
            self.io.wait(timeout=2)
        self._close_io()
        return Exit(r.pid, r.exit_status, _when(r.exited_at))


class TasksClient:
    """``containerd.services.tasks.v1.Tasks`` in the client's namespace."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._stub = conn.stub(pb_grpc.TasksStub)

    def _snapshot_mounts(self, container_id: str) -> list[mount.Mount]:
        """The mounts of the container's snapshot, as containerd's client sends them.

        Sending them (rather than leaving the lookup to the daemon) is what a real
        containerd needs: it mounts exactly what ``Tasks.Create`` carries.
        """
        from .containers import ContainersClient
        from .snapshots import SnapshotsClient

        c = ContainersClient(self._conn).get(container_id)
        if not (c.snapshotter and c.snapshot_key):
            return []
        return list(SnapshotsClient(self._conn, c.snapshotter).mounts(c.snapshot_key))

    def create(self, container_id: str, *, io: cio.Creator | cio.IO | None = None,
               rootfs: list[mount.Mount] | None = None, options: Message | any_pb2.Any | None = None) -> Task:
        """Create the container's task: the shim starts and the process is created, not started.

        The root filesystem comes from ``rootfs`` if given, else from the mounts of the
        container's snapshot (looked up here, as containerd's client does), else the spec's
        ``root.path``.

        Raises:
            NotFound: no such container (or its runtime is not installed).
            AlreadyExists: it has a task already.
        """
        if rootfs is None:
            rootfs = self._snapshot_mounts(container_id)
        tio = _io(io, container_id)
        c = tio.config
        tio.start()  # the shim opens the FIFOs while creating the process: our ends must be waiting
        req = pb.CreateTaskRequest(container_id=container_id, stdin=c.stdin, stdout=c.stdout, stderr=c.stderr,
                                   terminal=c.terminal,
                                   rootfs=[mount_pb2.Mount(type=m.type, source=m.source, options=list(m.options))
                                           for m in rootfs or []])
        if options is not None:
            req.options.CopyFrom(options if isinstance(options, any_pb2.Any) else typeurl.pack(options))
        try:
            pid = self._stub.Create(req).pid
        except PyctrdError:
            tio.close()
            raise
        task = Task(self, container_id, "", tio, pid)
        if tio.stdin is not None:
            tio.set_stdin_closer(task.close_io)
        return task

    def get(self, container_id: str, *, io: cio.IO | None = None) -> Task:
        """A handle on an existing task (``io``: attach to FIFOs you made earlier).

        Raises:
            NotFound: the container has no task.
        """
        p = self._stub.Get(pb.GetRequest(container_id=container_id)).process
        return Task(self, container_id, "", io, p.pid)

    def list(self) -> list[State]:
        """Every task of the namespace with its status."""
        return [_state(p) for p in self._stub.List(pb.ListTasksRequest()).tasks]

    def metrics(self, *filters: str) -> builtins.list[tuple[datetime, str, Message]]:
        """``(timestamp, task id, decoded metrics)`` for tasks matching the filters."""
        r = self._stub.Metrics(pb.MetricsRequest(filters=list(filters)))
        return [(_when(m.timestamp), m.id, typeurl.unpack(m.data)) for m in r.metrics]
