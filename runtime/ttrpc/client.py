"""The ttrpc client: many concurrent calls multiplexed on one unix-socket connection.

How a call travels (containerd's ``ttrpc/client.go``, in asyncio terms)::

    call("containerd.task.v2.Task", "Connect", ConnectRequest())
      1. serialize the request into a Request envelope, pick the next odd stream id
      2. park a Future in ``pending[stream_id]`` and write the frame (one write per frame)
      3. await the Future, bounded by the caller's deadline
                                        receive loop (one task per connection):
                                          read frame -> pending.pop(stream_id).set_result(...)
      4. OK status: parse the payload as ConnectResponse; else raise the errdefs kind

Replies are matched by stream id, so they may arrive in any order. When the connection
drops, the receive loop fails every parked call with :class:`~pyctrd.errdefs.Unavailable`.

A deadline (``timeout=`` seconds) is sent to the server as ``timeout_nano`` so that it can
stop working on our behalf, *and* enforced here, so a server that never answers cannot hang
us. Either way the caller sees the same error: ``from_status(DEADLINE_EXCEEDED, ...)``.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
from types import TracebackType
from typing import Any, Self, TypeVar

from google.protobuf.message import DecodeError, Message

from .. import errdefs
from . import framing, messages, sockets

__all__ = ["Client", "connect"]

log = logging.getLogger("pyctrd.ttrpc")
M = TypeVar("M", bound=Message)
_MAX_STREAM_ID = 0xFFFFFFFF


async def connect(address: str | os.PathLike[str] | socket.socket, *, timeout: float | None = None
                  ) -> Client:
    """Open a connection to a ttrpc server.

    Args:
        address: ``unix:///path``, a plain socket path, or an already-connected socket.
        timeout: seconds to wait for the connection.

    Raises:
        InvalidArgument: not a unix socket address.
        Unavailable: nothing accepts connections there (missing file, refused, timed out).
    """
    if isinstance(address, socket.socket):
        reader, writer = await asyncio.open_unix_connection(sock=address)
        return Client(reader, writer, address="<socket>")
    path = sockets.socket_path(address)
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_unix_connection(path)
    except TimeoutError as exc:
        raise errdefs.Unavailable(f"ttrpc: dial {path}: timed out") from exc
    except OSError as exc:
        raise errdefs.Unavailable(f"ttrpc: dial {path}: {exc.strerror or exc}") from exc
    return Client(reader, writer, address=f"unix://{path}")


class Client:
    """One ttrpc connection. Make it with :func:`connect`; use it as ``async with``.

    Args:
        reader, writer: the two halves of a connected stream (from asyncio).
        address: shown in the repr only.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *,
                 address: str = "") -> None:
        self.address = address
        self._reader = reader
        self._writer = writer
        self._next_stream_id = 1
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._error: errdefs.PyctrdError | None = None  # set once the connection is unusable
        self._receiver = asyncio.get_running_loop().create_task(self._receive_loop())

    def __repr__(self) -> str:
        state = "closed" if self._error is not None else "open"
        return f"<ttrpc.Client {self.address} {state} pending={len(self._pending)}>"

    @property
    def closed(self) -> bool:
        """Whether the connection is gone (closed by us, by the server, or broken)."""
        return self._error is not None

    async def call(self, service: str, method: str, request: Message, response_type: type[M], *,
                   timeout: float | None = None,
                   metadata: messages.Metadata | None = None) -> M:
        """Call ``service/method`` with ``request`` and wait for its ``response_type`` answer.

        Args:
            service: full protobuf service name, e.g. ``containerd.task.v2.Task``.
            method: method name, e.g. ``Connect``.
            timeout: seconds until the deadline (sent to the server and enforced locally).
            metadata: ``{key: value or [values]}``; keys are sent lower-cased.

        Raises:
            NotFound, AlreadyExists, InvalidArgument, FailedPrecondition, NotImplemented,
                Unavailable, Unknown: the kind the server's status code maps to
                (``errdefs.from_status``); codes without a kind, such as DEADLINE_EXCEEDED,
                are Unknown with the code's name in the message.
            MessageTooLarge: the request is over 4 MiB (an InvalidArgument).
            Unavailable: the connection is closed or was lost during the call.
        """
        envelope = messages.Request(
            service=service, method=method, payload=request.SerializeToString(),
            timeout_nano=0 if timeout is None else max(1, int(timeout * 1e9)),
            metadata=messages.encode_metadata(metadata))
        body = envelope.SerializeToString()
        if len(body) > framing.MAX_MESSAGE_LENGTH:
            raise framing.MessageTooLarge(len(body), self._next_stream_id)
        try:
            async with asyncio.timeout(timeout) as scope:
                reply = await self._round_trip(body)
        except TimeoutError as exc:
            if not scope.expired():
                raise
            raise errdefs.from_status(errdefs.Code.DEADLINE_EXCEEDED,
                                    f"ttrpc: {service}/{method}: deadline exceeded") from exc
        if reply.status.code != errdefs.Code.OK:
            raise messages.error_for_status(reply.status)
        answer: M = response_type()
        try:
            answer.ParseFromString(reply.payload)
        except DecodeError as exc:
            raise errdefs.Unknown(f"ttrpc: {service}/{method}: bad response payload: {exc}") from exc
        return answer

    async def _round_trip(self, body: bytes) -> Any:
        """Send one request frame and wait for the Response envelope with the same stream id."""
        if self._error is not None:
            raise type(self._error)(self._error.what)
        stream_id = self._next_stream_id
        # Odd ids only; wrap around before 2**32 like Go's uint32 counter does.
        self._next_stream_id = (stream_id + 2) & _MAX_STREAM_ID
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[stream_id] = waiter
        try:
            self._writer.write(framing.encode_frame(stream_id, framing.MessageType.REQUEST, body))
            await self._writer.drain()
            return await waiter
        except OSError as exc:
            self._fail(errdefs.Unavailable(f"ttrpc: connection lost: {exc}"))
            raise errdefs.Unavailable(f"ttrpc: connection lost: {exc}") from exc
        finally:
            # A cancelled or timed-out call forgets its stream; a late reply is then dropped.
            self._pending.pop(stream_id, None)

    async def _receive_loop(self) -> None:
        """Read responses until the connection ends; hand each to the call waiting for it."""
        error = errdefs.Unavailable("ttrpc: connection closed by the server")
        try:
            while True:
                try:
                    frame = await framing.read_frame(self._reader)
                except framing.MessageTooLarge as exc:
                    self._deliver(exc.stream_id, exc)
                    continue
                if frame is None:
                    break
                if frame.header.type != framing.MessageType.RESPONSE:
                    log.warning("ttrpc: ignoring %r from %s", frame.header, self.address)
                    continue
                try:
                    reply = messages.Response.FromString(frame.body)
                except DecodeError as exc:
                    self._deliver(frame.header.stream_id,
                                  errdefs.Unknown(f"ttrpc: undecodable response: {exc}"))
                    continue
                self._deliver(frame.header.stream_id, reply)
        except errdefs.PyctrdError as exc:
            error = errdefs.Unavailable(str(exc))
        except OSError as exc:
            error = errdefs.Unavailable(f"ttrpc: connection lost: {exc}")
        except asyncio.CancelledError:
            error = errdefs.Unavailable("ttrpc: client closed")
            raise
        finally:
            self._fail(error)

    def _deliver(self, stream_id: int, outcome: Any) -> None:
        waiter = self._pending.pop(stream_id, None)
        if waiter is None or waiter.done():
            log.debug("ttrpc: response for stream %d nobody waits for (late or unknown)", stream_id)
        elif isinstance(outcome, BaseException):
            waiter.set_exception(outcome)
        else:
            waiter.set_result(outcome)

    def _fail(self, error: errdefs.PyctrdError) -> None:
        """Mark the connection dead and fail every call still waiting (each gets its own copy)."""
        if self._error is None:
            self._error = error
        for waiter in self._pending.values():
            if not waiter.done():
                waiter.set_exception(type(error)(error.what))
        self._pending.clear()
        self._writer.close()

    async def close(self) -> None:
        """Close the connection; calls still waiting fail with Unavailable. Idempotent.

        Raises:
            Nothing: errors while tearing down a dead connection are ignored.
        """
        self._fail(errdefs.Unavailable("ttrpc: client closed"))
        self._receiver.cancel()
        await asyncio.wait([self._receiver])  # (wait, unlike await, does not re-raise its cancel)
        try:
            await self._writer.wait_closed()
        except OSError:
            pass

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()
