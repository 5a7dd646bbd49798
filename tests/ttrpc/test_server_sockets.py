"""How the server gets its sockets: creation, stale/live sockets, inherited fds, registration."""
from __future__ import annotations

import os
import socket
import stat
from pathlib import Path
from typing import Any

import pytest

from pyctrd import errdefs, ttrpc
from pyctrd._api.containerd.api.services.content.v1 import content_pb2
from pyctrd._api.containerd.api.services.ttrpc.events.v1 import events_pb2
from pyctrd._api.containerd.runtime.v2.task import shim_pb2
from pyctrd.ttrpc import sockets

TASK = shim_pb2.DESCRIPTOR.services_by_name["Task"]


async def test_serve_unix_sets_mode_and_leaves_no_temp_files(short_tmp: Path, impl: Any) -> None:
    path = short_tmp / "s.sock"
    server = ttrpc.Server()
    server.register(TASK, impl)
    await server.serve_unix(f"unix://{path}", mode=0o600, gid=os.getegid())
    info = os.stat(path)
    assert stat.S_ISSOCK(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600
    assert info.st_gid == os.getegid()
    assert os.listdir(short_tmp) == ["s.sock"]
    async with await ttrpc.connect(path) as client:
        assert (await ttrpc.Stub(client, TASK).Connect()).task_pid == 4242
    await server.close()
    assert os.listdir(short_tmp) == []
    with pytest.raises(errdefs.FailedPrecondition, match="closed"):
        await server.serve_unix(path)


async def test_stale_socket_is_replaced_and_live_one_refused(short_tmp: Path, impl: Any) -> None:
    path = str(short_tmp / "s.sock")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)  # a socket file nobody listens on (a crashed server's leftover)
    stale.close()
    async with ttrpc.Server() as first:
        first.register(TASK, impl)
        await first.serve_unix(path)
        async with ttrpc.Server() as second:
            with pytest.raises(errdefs.AlreadyExists, match=f"already listening on {path}"):
                await second.serve_unix(path)
        async with await ttrpc.connect(path) as client:  # the first server still owns it
            assert (await ttrpc.Stub(client, TASK).Connect()).task_pid == 4242


async def test_close_removes_only_its_own_socket(short_tmp: Path) -> None:
    path = str(short_tmp / "s.sock")
    server = ttrpc.Server()
    await server.serve_unix(path)
    os.unlink(path)
    newer = socket.socket(socket.AF_UNIX)
    newer.bind(path)  # someone else's socket now lives at that path
    await server.close()
    assert os.path.exists(path)
    newer.close()


async def test_refuses_to_replace_a_non_socket(short_tmp: Path) -> None:
    path = short_tmp / "precious"
    path.write_text("keep me")
    async with ttrpc.Server() as server:
        with pytest.raises(errdefs.FailedPrecondition, match="exists and is not a socket"):
            await server.serve_unix(path)
    assert path.read_text() == "keep me"
    with pytest.raises(errdefs.NotFound):
        await ttrpc.Server().serve_unix(short_tmp / "missing-dir" / "s.sock")
    with pytest.raises(errdefs.InvalidArgument, match="longer than 107 bytes"):
        await ttrpc.Server().serve_unix(short_tmp / ("x" * 120))


async def test_serve_inherited_listening_fd(short_tmp: Path, impl: Any) -> None:
    """runtime v2 style: the parent binds the socket and the shim serves it as an fd."""
    path = str(short_tmp / "s.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen()
    async with ttrpc.Server() as server:
        server.register(TASK, impl)
        await server.serve_socket(listener.detach())
        async with await ttrpc.connect(path) as client:
            assert (await ttrpc.Stub(client, TASK).State(shim_pb2.StateRequest(id="a"))).id == "a"


async def test_serve_connected_socket(impl: Any) -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX)
    async with ttrpc.Server() as server:
        server.register(TASK, impl)
        await server.serve_socket(ours)
        async with await ttrpc.connect(theirs) as client:
            assert repr(client) == "<ttrpc.Client <socket> open pending=0>"
            assert (await ttrpc.Stub(client, TASK).Connect()).task_pid == 4242
    not_a_socket = os.open("/dev/null", os.O_RDONLY)
    try:
        with pytest.raises(errdefs.Unknown, match="fd"):
            await ttrpc.Server().serve_socket(not_a_socket)
    finally:
        os.close(not_a_socket)


async def test_stream_ids_stay_odd_across_the_wrap(short_tmp: Path, impl: Any, serve: Any) -> None:
    async with serve(str(short_tmp / "s.sock"), impl) as (_, client, task):
        client._next_stream_id = 0xFFFFFFFD
        for expected in ("a", "b", "c"):  # ids 0xFFFFFFFD, 0xFFFFFFFF, then 1
            assert (await task.State(shim_pb2.StateRequest(id=expected))).id == expected
        assert client._next_stream_id == 3


def test_register_rules(impl: Any) -> None:
    server = ttrpc.Server(allowed_uids=None)
    server.register(TASK, impl)
    with pytest.raises(errdefs.AlreadyExists, match="containerd.task.v2.Task"):
        server.register(TASK, impl)
    with pytest.raises(errdefs.InvalidArgument, match="streaming methods are not supported"):
        server.register(content_pb2.DESCRIPTOR.services_by_name["Content"], object())

    class SyncEvents:
        def Forward(self, request: Any) -> Any:
            return None

    with pytest.raises(errdefs.InvalidArgument, match="SyncEvents.Forward must be async def"):
        server.register(events_pb2.DESCRIPTOR.services_by_name["Events"], SyncEvents())
    assert server.allowed_uids is None
    assert ttrpc.Server().allowed_uids == {os.geteuid()}


def test_socket_addresses() -> None:
    assert sockets.socket_path(Path("/run/x.sock")) == "/run/x.sock"
    with pytest.raises(errdefs.InvalidArgument):
        sockets.socket_path("unix://")
