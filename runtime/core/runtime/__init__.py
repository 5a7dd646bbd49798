"""Runtimes and tasks: how a container record becomes running processes.

A **runtime** (containerd's ``PlatformRuntime``; pyctrd's is plugin ``io.containerd.runtime.v2``
``task``) turns a container into a **task**. Runtime v2 does it with one **shim** per task: a
small daemon of its own (``containerd-shim-runc-v2``, or pyctrd's ``containerd-shim-pyrunc-v1``)
that owns the container's processes and answers ``containerd.task.v2.Task`` over ttrpc. The
daemon only keeps a connection to it, which is why containers survive a daemon restart::

    pyctrd ──ttrpc──▶ shim ──runs──▶ runc create/start/exec/kill ──▶ container processes
       ▲                │
       └──events (ttrpc Events/Forward: /tasks/create, /tasks/exit, …)

A task has one **init process** (the container's, ``exec_id`` "") and any number of **exec
processes** added later (``tasks exec --exec-id e1``). Each process goes
``created -> running -> stopped`` (and ``paused`` while frozen), and is deleted to free its
resources and collect its exit status.

Everything here is an interface or a plain record; :mod:`pyctrd.plugins.runtime.v2` implements
it, :mod:`pyctrd.services.tasks` serves it over gRPC.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from google.protobuf import any_pb2

from ..mount import Mount

__all__ = [
    "CREATED",
    "IO",
    "PAUSED",
    "PAUSING",
    "RUNNING",
    "STATUSES",
    "STOPPED",
    "UNKNOWN",
    "ConsoleSize",
    "CreateOpts",
    "ExecOpts",
    "Exit",
    "PlatformRuntime",
    "Process",
    "ProcessInfo",
    "State",
    "Task",
    "TaskMonitor",
]

UNKNOWN, CREATED, RUNNING, STOPPED, PAUSED, PAUSING = "unknown", "created", "running", "stopped", "paused", \
    "pausing"
#: Status names in the order of ``containerd.v1.types.Status`` (index = enum value).
STATUSES = (UNKNOWN, CREATED, RUNNING, STOPPED, PAUSED, PAUSING)


@dataclass(frozen=True)
class IO:
    """Where a process's stdio goes: FIFO paths (or ``file://``/``binary://`` URIs) the shim opens.

    >>> IO(stdout="/run/x/c1-stdout")
    <IO stdin=- stdout=/run/x/c1-stdout stderr=- terminal=False>
    """

    stdin: str = ""
    stdout: str = ""
    stderr: str = ""
    terminal: bool = False

    def __repr__(self) -> str:
        return (f"<IO stdin={self.stdin or '-'} stdout={self.stdout or '-'} stderr={self.stderr or '-'} "
                f"terminal={self.terminal}>")


@dataclass
class CreateOpts:
    """What a runtime needs to create a task (containerd's ``runtime.CreateOpts``).

    Attributes:
        spec: the OCI runtime spec (``Any``; its JSON becomes the bundle's config.json).
        io: the init process's stdio.
        rootfs: mounts that make the root filesystem (empty: the spec's ``root.path`` is used).
        runtime: runtime name (``io.containerd.runc.v2``) or an absolute path to a shim binary.
        runtime_options: the container's runtime options (``Any``), given to the shim on start.
        task_options: this task's options (``Any``), preferred over ``runtime_options``.
        checkpoint: a checkpoint directory to restore from ("" for none).
    """

    spec: any_pb2.Any
    io: IO = field(default_factory=IO)
    rootfs: Sequence[Mount] = ()
    runtime: str = ""
    runtime_options: any_pb2.Any | None = None
    task_options: any_pb2.Any | None = None
    checkpoint: str = ""


@dataclass(frozen=True)
class ExecOpts:
    """An exec process: its OCI ``Process`` spec (``Any``, JSON) and stdio."""

    spec: any_pb2.Any
    io: IO = field(default_factory=IO)


@dataclass(frozen=True)
class Exit:
    """How a process ended: pid, status (exit code, or 128 + signal) and when."""

    pid: int
    status: int
    timestamp: datetime | None = None

    def __repr__(self) -> str:
        return f"<Exit pid={self.pid} status={self.status}>"


@dataclass(frozen=True)
class State:
    """A process's state as its shim reports it."""

    id: str
    pid: int
    status: str
    io: IO = field(default_factory=IO)
    exit_status: int = 0
    exited_at: datetime | None = None

    def __repr__(self) -> str:
        return f"<State {self.id or 'init'} pid={self.pid} {self.status}>"


@dataclass(frozen=True)
class ProcessInfo:
    """One pid in a task, with the shim's detail about it (an ``Any``, e.g. its exec ID)."""

    pid: int
    info: any_pb2.Any | None = None


@dataclass(frozen=True)
class ConsoleSize:
    width: int
    height: int


@runtime_checkable
class Process(Protocol):
    """One process of a task: the init process (``id`` = task ID) or an exec process."""

    @property
    def id(self) -> str: ...

    async def state(self, timeout: float | None = None) -> State:
        """Raises NotFound (no such process, or its shim is gone), Unknown (no answer in time)."""

    async def start(self) -> int:
        """Start a created process; returns its pid. Raises NotFound, FailedPrecondition."""

    async def kill(self, signal: int, all: bool = False) -> None:
        """Signal the process (``all``: every process of the task). Raises NotFound,
        FailedPrecondition (not running)."""

    async def wait(self) -> Exit:
        """Block until the process has exited. Raises NotFound, Unavailable (shim lost)."""

    async def resize_pty(self, size: ConsoleSize) -> None:
        """Raises NotFound, FailedPrecondition (no terminal)."""

    async def close_io(self) -> None:
        """Close the process's stdin. Raises NotFound."""

    async def delete(self) -> Exit:
        """Free a stopped process and return its exit. Raises NotFound, FailedPrecondition."""


@runtime_checkable
class Task(Process, Protocol):
    """A running container: its init process plus what only a whole task can do.

    Attributes:
        namespace: the task's namespace.
        bundle: the bundle directory (``config.json`` there says the task's cgroup).
    """

    namespace: str
    bundle: str

    async def pid(self) -> int:
        """The init process's pid. Raises Unavailable (shim lost)."""

    async def pause(self) -> None:
        """Freeze every process. Raises NotFound, FailedPrecondition."""

    async def resume(self) -> None:
        """Thaw a paused task. Raises NotFound, FailedPrecondition."""

    async def exec(self, exec_id: str, opts: ExecOpts) -> Process:
        """Add an exec process (created, not started). Raises AlreadyExists, InvalidArgument."""

    async def process(self, exec_id: str) -> Process:
        """The exec process ``exec_id``. Raises NotFound."""

    async def pids(self) -> list[ProcessInfo]:
        """Every process in the task's cgroup. Raises NotFound."""

    async def update(self, resources: any_pb2.Any | None, annotations: dict[str, str]) -> None:
        """Change resource limits (``LinuxResources`` JSON in an ``Any``). Raises NotFound."""

    async def stats(self) -> any_pb2.Any:
        """cgroup metrics (``io.containerd.cgroups.v1.Metrics`` or v2). Raises NotFound."""

    async def checkpoint(self, path: str, options: any_pb2.Any | None) -> None:
        """Raises NotImplemented (pyctrd does not checkpoint)."""


@runtime_checkable
class PlatformRuntime(Protocol):
    """Creates, finds and deletes tasks (runtime v2: one shim per task)."""

    async def create(self, id: str, opts: CreateOpts) -> Task:
        """Make the bundle, start a shim, create the task in it (not started).

        Raises:
            AlreadyExists: a task with this ID exists in the namespace.
            InvalidArgument: bad ID or runtime name.
            NotFound: the runtime's shim binary is not installed.
            Unknown: the shim failed to start or to create the task (its message kept).
        """

    def get(self, id: str) -> Task:
        """Raises NotFound."""

    def tasks(self, all_namespaces: bool = False) -> list[Task]:
        """Tasks of the current namespace (or of all)."""

    async def delete(self, id: str) -> Exit:
        """Delete the task, stop its shim, remove its bundle. Raises NotFound,
        FailedPrecondition (still running)."""


@runtime_checkable
class TaskMonitor(Protocol):
    """Told about every task as it is created and deleted (metrics, OOM watching)."""

    def monitor(self, task: Task, labels: dict[str, str] | None = None) -> None:
        """Start watching ``task``. Raises nothing a task's creation should fail for."""

    def stop(self, task: Task) -> None:
        """Stop watching ``task``."""
