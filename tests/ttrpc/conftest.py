"""Fixtures for the ttrpc tests: ``async def`` tests run under ``asyncio.run``.

No asyncio plugin is a dependency of pyctrd, so this directory runs its coroutine tests
itself (each in a fresh event loop, bounded so that a hang fails instead of stalling CI).
"""
from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import empty_pb2

from pyctrd import errdefs, ttrpc
from pyctrd._api.containerd.runtime.v2.task import shim_pb2
from pyctrd.ttrpc.call_context import current_call

TEST_TIMEOUT = 20.0
TASK = shim_pb2.DESCRIPTOR.services_by_name["Task"]


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    asyncio.run(asyncio.wait_for(pyfuncitem.obj(**args), TEST_TIMEOUT))
    return True


class TaskImpl:
    """A small ``containerd.task.v2.Task`` implementation: just enough to exercise ttrpc.

    - ``State(id)``: answers at once; ids starting ``gate-`` wait for ``gates[id]`` first;
      an id naming an errdefs kind (``NotFound``) raises it; ``boom`` raises ValueError.
    - ``Wait``: never answers (records cancellation); ``Stats``: a response over 4 MiB.
    - ``Create``: records :func:`current_call`. ``Checkpoint`` is deliberately missing.
    """

    def __init__(self) -> None:
        self.gates: dict[str, asyncio.Event] = {}
        self.entered: list[str] = []
        self.all_entered = asyncio.Event()
        self.expect = 0
        self.calls: list[ttrpc.CallInfo] = []
        self.cancelled = asyncio.Event()

    async def Connect(self, request: shim_pb2.ConnectRequest) -> shim_pb2.ConnectResponse:
        return shim_pb2.ConnectResponse(shim_pid=os.getpid(), task_pid=4242, version="test")

    async def State(self, request: shim_pb2.StateRequest) -> shim_pb2.StateResponse:
        if request.id in self.gates:
            self.entered.append(request.id)
            if len(self.entered) == self.expect:
                self.all_entered.set()
            await self.gates[request.id].wait()
        kind = getattr(errdefs, request.id, None)
        if isinstance(kind, type) and issubclass(kind, errdefs.PyctrdError):
            raise kind(f"container {request.id}")
        if request.id == "boom":
            raise ValueError("boom")
        return shim_pb2.StateResponse(id=request.id, bundle=f"/bundles/{request.id}", pid=7)

    async def Create(self, request: shim_pb2.CreateTaskRequest) -> shim_pb2.CreateTaskResponse:
        self.calls.append(current_call())
        return shim_pb2.CreateTaskResponse(pid=99)

    async def Wait(self, request: shim_pb2.WaitRequest) -> shim_pb2.WaitResponse:
        try:
            await asyncio.Event().wait()
        finally:
            self.cancelled.set()
        raise AssertionError("unreachable")

    async def Stats(self, request: shim_pb2.StatsRequest) -> shim_pb2.StatsResponse:
        response = shim_pb2.StatsResponse()
        response.stats.value = b"x" * (ttrpc.MAX_MESSAGE_LENGTH + 1)
        return response

    async def Shutdown(self, request: shim_pb2.ShutdownRequest) -> empty_pb2.Empty:
        return empty_pb2.Empty()

    async def Pids(self, request: shim_pb2.PidsRequest) -> Any:
        return shim_pb2.StateResponse()  # the wrong type, on purpose


@pytest.fixture
def socket_path(short_tmp: Path) -> str:
    return str(short_tmp / "t.sock")


@asynccontextmanager
async def serving(path: str, impl: object | None = None, **server_args: Any
                  ) -> AsyncIterator[tuple[ttrpc.Server, ttrpc.Client, Any]]:
    """A server with ``impl`` (default: a fresh TaskImpl) at ``path`` and a client for it."""
    server = ttrpc.Server(**server_args)
    server.register(TASK, impl if impl is not None else TaskImpl())
    await server.serve_unix(path)
    try:
        async with await ttrpc.connect(path) as client:
            yield server, client, ttrpc.Stub(client, TASK)
    finally:
        await server.close()


@pytest.fixture
def impl() -> TaskImpl:
    return TaskImpl()


@pytest.fixture
def serve() -> Callable[..., Any]:
    """``async with serve(path, impl) as (server, client, task_stub)``."""
    return serving
