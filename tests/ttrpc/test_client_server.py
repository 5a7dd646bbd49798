"""Our client against our server over a real unix socket, with the real shim API messages."""
from __future__ import annotations

import asyncio
import os
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2

from pyctrd import errdefs, ttrpc
from pyctrd._api.containerd.runtime.v2.task import shim_pb2
from pyctrd.ttrpc import framing, messages

TASK_SERVICE = "containerd.task.v2.Task"


async def test_connect_state_and_reprs(socket_path: str, serve: Any) -> None:
    async with serve(socket_path) as (server, client, task):
        reply = await task.Connect(shim_pb2.ConnectRequest(id="c1"), timeout=5)
        assert (reply.shim_pid, reply.task_pid, reply.version) == (os.getpid(), 4242, "test")
        state = await task.State(shim_pb2.StateRequest(id="c1"))
        assert isinstance(state, shim_pb2.StateResponse)
        assert (state.id, state.bundle, state.pid) == ("c1", "/bundles/c1", 7)
        assert isinstance(await task.Shutdown(), empty_pb2.Empty)  # no request: an empty one
        assert repr(task) == "<ttrpc.Stub containerd.task.v2.Task (17 methods)>"
        assert repr(client) == f"<ttrpc.Client unix://{socket_path} open pending=0>"
        assert repr(server) == f"<ttrpc.Server services=['{TASK_SERVICE}'] listeners=1 connections=1>"
    assert repr(client) == f"<ttrpc.Client unix://{socket_path} closed pending=0>"
    assert not os.path.exists(socket_path)  # close() removed the socket it made


async def test_many_calls_in_flight_answered_out_of_order(socket_path: str, serve: Any, impl: Any) -> None:
    ids = [f"gate-{i}" for i in range(40)]
    impl.gates = {i: asyncio.Event() for i in ids}
    impl.expect = len(ids)
    async with serve(socket_path, impl) as (_, client, task):
        calls = {i: asyncio.create_task(task.State(shim_pb2.StateRequest(id=i))) for i in ids}
        await impl.all_entered.wait()  # every call reached the server before any answer
        assert repr(client).endswith("pending=40>")
        for i in reversed(ids):  # release newest first: replies come back in reverse order
            impl.gates[i].set()
            assert (await calls[i]).id == i
        assert set(impl.entered) == set(ids)


async def test_metadata_and_deadline_reach_the_handler(socket_path: str, serve: Any, impl: Any) -> None:
    async with serve(socket_path, impl) as (_, _client, task):
        await task.Create(shim_pb2.CreateTaskRequest(id="c1"), timeout=30,
                          metadata={"Containerd-Namespace-TTRPC": "lab", "x": ["1", "2"]})
        await task.Create(shim_pb2.CreateTaskRequest(id="c2"))
    with_deadline, without = impl.calls
    assert with_deadline.metadata == {"containerd-namespace-ttrpc": ["lab"], "x": ["1", "2"]}
    assert with_deadline.service == TASK_SERVICE and with_deadline.method == "Create"
    assert with_deadline.deadline is not None and with_deadline.peer.uid == os.geteuid()
    assert without.metadata == {} and without.deadline is None
    assert repr(without) == "<CallInfo containerd.task.v2.Task/Create metadata=[]>"
    with pytest.raises(errdefs.FailedPrecondition, match="not inside a ttrpc call"):
        ttrpc.current_metadata()


@pytest.mark.parametrize("kind", sorted(errdefs.GRPC_CODES, key=lambda k: k.__name__))
async def test_error_kinds_survive_the_round_trip(socket_path: str, serve: Any,
                                                   kind: type[errdefs.PyctrdError]) -> None:
    async with serve(socket_path) as (_, _client, task):
        with pytest.raises(kind) as info:
            await task.State(shim_pb2.StateRequest(id=kind.__name__))
        assert type(info.value) is kind
        assert str(info.value) == str(kind(f"container {kind.__name__}"))


async def test_handler_failures_become_statuses(socket_path: str, serve: Any) -> None:
    async with serve(socket_path) as (_, _client, task):
        with pytest.raises(errdefs.Unknown, match="^boom: unknown$"):
            await task.State(shim_pb2.StateRequest(id="boom"))
        with pytest.raises(errdefs.Unknown, match="handler returned StateResponse, not PidsResponse"):
            await task.Pids()
        assert (await task.State(shim_pb2.StateRequest(id="ok"))).id == "ok"  # still serving


async def test_unknown_service_method_and_missing_handler(socket_path: str, serve: Any) -> None:
    async with serve(socket_path) as (_, client, task):
        empty = empty_pb2.Empty()
        with pytest.raises(errdefs.NotImplemented, match="^service nope.Svc: not implemented$"):
            await client.call("nope.Svc", "State", empty, empty_pb2.Empty)
        with pytest.raises(errdefs.NotImplemented, match="^method Nope: not implemented$"):
            await client.call(TASK_SERVICE, "Nope", empty, empty_pb2.Empty)
        with pytest.raises(errdefs.NotImplemented, match="method Checkpoint"):
            await task.Checkpoint(shim_pb2.CheckpointTaskRequest(id="c1"))


async def test_client_deadline_cancels_and_server_stops_the_handler(socket_path: str, serve: Any,
                                                                    impl: Any) -> None:
    async with serve(socket_path, impl) as (_, client, task):
        with pytest.raises(errdefs.Unknown, match="Task/Wait: deadline exceeded.*DEADLINE_EXCEEDED"):
            await task.Wait(shim_pb2.WaitRequest(id="c1"), timeout=0.05)
        await impl.cancelled.wait()  # the server gave up on the handler too (timeout_nano)
        assert repr(client).endswith("open pending=0>")
        assert (await task.State(shim_pb2.StateRequest(id="c1"))).id == "c1"


async def raw_call(path: str, *frames: bytes) -> list[tuple[int, Any]]:
    """Send hand-made frames; return (stream id, Response) for each answer."""
    reader, writer = await asyncio.open_unix_connection(path)
    try:
        writer.write(b"".join(frames))
        answers = []
        for _ in frames:
            frame = await framing.read_frame(reader)
            assert frame is not None and frame.header.type == framing.MessageType.RESPONSE
            answers.append((frame.header.stream_id, messages.Response.FromString(frame.body)))
        return answers
    finally:
        writer.close()


def request_frame(stream_id: int, method: str, payload: bytes = b"", timeout_nano: int = 0) -> bytes:
    body = messages.Request(service=TASK_SERVICE, method=method, payload=payload,
                            timeout_nano=timeout_nano).SerializeToString()
    return framing.encode_frame(stream_id, framing.MessageType.REQUEST, body)


async def test_server_enforces_the_sent_deadline(socket_path: str, serve: Any) -> None:
    async with serve(socket_path):
        [(stream, reply)] = await raw_call(socket_path, request_frame(1, "Wait", timeout_nano=10**6))
    assert stream == 1 and reply.status.code == grpc.StatusCode.DEADLINE_EXCEEDED.value[0]
    assert reply.status.message == "containerd.task.v2.Task/Wait: deadline exceeded"


async def test_bad_frames_are_answered_and_the_connection_survives(socket_path: str, serve: Any) -> None:
    oversize = framing.MAX_MESSAGE_LENGTH + 1
    big = framing.encode_header(framing.Header(oversize, 3, framing.MessageType.REQUEST)) + b"\0" * oversize
    unknown_type = framing.encode_frame(9, 7, b"future stuff")  # skipped silently: no answer
    state = shim_pb2.StateRequest(id="after").SerializeToString()
    async with serve(socket_path):
        answers = await raw_call(
            socket_path, big, framing.encode_frame(5, framing.MessageType.REQUEST, b"\xff\xff"),
            request_frame(2, "State", state), unknown_type + request_frame(11, "State", state))
    codes = {stream: messages.status_code(reply.status.code) for stream, reply in answers}
    assert codes == {3: grpc.StatusCode.RESOURCE_EXHAUSTED, 5: grpc.StatusCode.INVALID_ARGUMENT,
                     2: grpc.StatusCode.INVALID_ARGUMENT, 11: grpc.StatusCode.OK}
    messages_by_stream = {stream: reply.status.message for stream, reply in answers}
    assert "exceeds the ttrpc limit" in messages_by_stream[3]
    assert "stream id must be odd" in messages_by_stream[2]
    assert shim_pb2.StateResponse.FromString(dict(answers)[11].payload).id == "after"


async def test_oversize_request_and_response(socket_path: str, serve: Any) -> None:
    async with serve(socket_path) as (_, client, task):
        huge = shim_pb2.UpdateTaskRequest(id="c1")
        huge.resources.value = b"r" * framing.MAX_MESSAGE_LENGTH
        with pytest.raises(ttrpc.MessageTooLarge, match="exceeds the ttrpc limit"):
            await task.Update(huge)  # refused before sending
        with pytest.raises(errdefs.Unknown, match="response: .*exceeds the ttrpc limit.*RESOURCE_EXHAUSTED"):
            await task.Stats(shim_pb2.StatsRequest(id="c1"))
        assert (await task.Connect()).task_pid == 4242
        assert not client.closed


async def test_peer_credentials_reject_other_uids(socket_path: str, serve: Any) -> None:
    assert os.geteuid() != 12345
    async with serve(socket_path, allowed_uids={12345}) as (server, client, task):
        with pytest.raises(errdefs.Unavailable):  # EOF or reset, depending on timing
            await task.Connect(timeout=5)
        assert client.closed
        assert repr(server).endswith("connections=0>")
        with pytest.raises(errdefs.Unavailable):  # and it stays closed
            await task.Connect()


async def test_connection_loss_fails_pending_calls(socket_path: str, serve: Any, impl: Any) -> None:
    impl.gates = {f"gate-{i}": asyncio.Event() for i in range(3)}
    impl.expect = 3
    async with serve(socket_path, impl) as (server, client, task):
        waiting = [asyncio.create_task(task.State(shim_pb2.StateRequest(id=i))) for i in impl.gates]
        await impl.all_entered.wait()
        await server.close()  # drops the connection with three calls unanswered
        for call in waiting:
            with pytest.raises(errdefs.Unavailable, match="connection closed by the server"):
                await call
        assert client.closed
        with pytest.raises(errdefs.Unavailable):
            await task.Connect()


async def test_connect_errors() -> None:
    with pytest.raises(errdefs.Unavailable, match="dial /nonexistent/t.sock"):
        await ttrpc.connect("unix:///nonexistent/t.sock")
    with pytest.raises(errdefs.InvalidArgument, match="only unix sockets"):
        await ttrpc.connect("tcp://127.0.0.1:1")


async def test_stub_checks_request_type(socket_path: str, serve: Any) -> None:
    async with serve(socket_path) as (_, _client, task):
        with pytest.raises(errdefs.InvalidArgument, match="takes containerd.task.v2.StateRequest"):
            await task.State(shim_pb2.ConnectRequest())
        with pytest.raises(AttributeError, match="has no method 'Frobnicate'"):
            task.Frobnicate  # noqa: B018
