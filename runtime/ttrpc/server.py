"""The ttrpc server: serve protobuf services to ttrpc clients over unix sockets.

A shim is a ttrpc *server* (containerd calls ``containerd.task.v2.Task`` on it), and the
daemon is one too (shims forward events to ``containerd.services.events.ttrpc.v1.Events``).
An implementation is any object with one ``async def Method(self, request) -> response``
per RPC of a protobuf service::

    class Events:
        async def Forward(self, request: events_pb2.ForwardRequest) -> empty_pb2.Empty:
            print(request.envelope.topic, current_metadata())
            return empty_pb2.Empty()

    server = Server()                          # only our own uid may connect
    server.register(events_pb2.DESCRIPTOR.services_by_name["Events"], Events())
    await server.serve_unix("/run/pyctrd/events.sock")   # returns once listening
    ...
    await server.close()

What happens to each connection (containerd's ``ttrpc/server.go``):

1. *Handshake.* The kernel tells us who connected (``SO_PEERCRED``); a uid not in
   ``allowed_uids`` is disconnected before a single byte is read.
2. *Read loop.* Frames are read one after the other. Each valid request becomes its own
   task, so a slow call does not hold up the others on the same connection.
3. *A call.* Look up service and method (UNIMPLEMENTED if absent), parse the payload as the
   method's input type, run the handler under the request's deadline, and answer on the same
   stream id with a ``google.rpc.Status``: OK, the errdefs kind the handler raised
   (``errdefs.to_status``), or DEADLINE_EXCEEDED.
4. *Bad frames* get an error on their stream id and the connection goes on: an oversize body
   (RESOURCE_EXHAUSTED), an undecodable request or an even stream id (INVALID_ARGUMENT).
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from google.protobuf import message_factory
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import DecodeError, Message

from .. import errdefs
from ..errdefs import Code
from . import framing, messages, sockets
from .call_context import CallInfo, enter_call
from .stub import unary_methods

__all__ = ["Server"]

log = logging.getLogger("pyctrd.ttrpc")


@dataclass(frozen=True)
class _Method:
    handler: Callable[[Any], Awaitable[Any]]
    request_type: type[Message]
    response_type: type[Message]


class Server:
    """Serves registered services on any number of unix sockets.

    Args:
        allowed_uids: effective uids allowed to connect (checked with ``SO_PEERCRED``);
            default: the server's own. ``None`` lets everyone in whom the socket's file mode
            lets in.
    """

    def __init__(self, allowed_uids: Collection[int] | None = frozenset({os.geteuid()})) -> None:
        self.allowed_uids = None if allowed_uids is None else frozenset(allowed_uids)
        self._services: dict[str, dict[str, _Method]] = {}
        self._listeners: list[asyncio.AbstractServer] = []
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self._owned_paths: list[tuple[str, int]] = []  # (socket path, inode) we created
        self._closing = False
        self._closed = asyncio.Event()

    def __repr__(self) -> str:
        return (f"<ttrpc.Server services={sorted(self._services)} listeners={len(self._listeners)} "
                f"connections={len(self._connections)}>")

    def register(self, service: ServiceDescriptor, impl: object) -> None:
        """Serve ``service`` with the ``async def`` methods of ``impl`` named like its RPCs.

        RPCs that ``impl`` lacks answer UNIMPLEMENTED, as if the service were not there.

        Raises:
            AlreadyExists: the service is registered already.
            InvalidArgument: a streaming RPC, or a handler that is not ``async def``.
        """
        if service.full_name in self._services:
            raise errdefs.AlreadyExists(f"ttrpc service {service.full_name}")
        table: dict[str, _Method] = {}
        for method in unary_methods(service):
            handler = getattr(impl, method.name, None)
            if handler is None:
                continue
            if not inspect.iscoroutinefunction(handler):
                raise errdefs.InvalidArgument(f"{type(impl).__name__}.{method.name} must be async def")
            table[method.name] = _Method(handler, message_factory.GetMessageClass(method.input_type),
                                         message_factory.GetMessageClass(method.output_type))
        self._services[service.full_name] = table

    async def serve_unix(self, path: str | os.PathLike[str], mode: int = 0o660,
                         uid: int | None = None, gid: int | None = None) -> None:
        """Listen on a new unix socket at ``path`` (``unix://`` allowed); return once listening.

        A stale socket file is replaced; the new one appears atomically with ``mode`` and
        owner already set (see :mod:`pyctrd.ttrpc.sockets`). :meth:`close` removes it.

        Raises:
            AlreadyExists: a server already listens on ``path``.
            FailedPrecondition: ``path`` is something other than a socket, or we are closed.
            InvalidArgument: bad address or too long a path.
            NotFound: the directory does not exist.
        """
        self._check_open()
        where = sockets.socket_path(path)
        await sockets.remove_stale_socket(where)
        sock, inode = sockets.bind_unix(where, mode, uid, gid)
        self._owned_paths.append((where, inode))
        await self._listen(sock)

    async def serve_socket(self, sock: socket.socket | int) -> None:
        """Serve an inherited socket or file descriptor; return at once.

        A *listening* socket (runtime v2 hands a shim its socket as fd 3) is accepted on; a
        *connected* one is served as a single connection. We take ownership of either.

        Raises:
            FailedPrecondition: the server is closed.
            Unknown: ``sock`` is not a socket.
        """
        self._check_open()
        if isinstance(sock, int):
            with errdefs.map_exceptions(f"fd {sock}"):
                sock = socket.socket(fileno=sock)
        if sockets.is_listening(sock):
            await self._listen(sock)
            return
        reader, writer = await asyncio.open_unix_connection(sock=sock)
        asyncio.get_running_loop().create_task(self._serve_connection(reader, writer))

    async def _listen(self, sock: socket.socket) -> None:
        self._listeners.append(await asyncio.start_unix_server(self._serve_connection, sock=sock))

    def _check_open(self) -> None:
        if self._closing:
            raise errdefs.FailedPrecondition("ttrpc server is closed")

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Steps 1 and 2 of the module docstring, for one connection."""
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        handlers: set[asyncio.Task[None]] = set()
        try:
            if self._closing:
                return
            peer = sockets.peer_credentials(writer.get_extra_info("socket"))
            if self.allowed_uids is not None and peer.uid not in self.allowed_uids:
                log.warning("ttrpc: refusing connection from pid %d uid %d", peer.pid, peer.uid)
                return
            async for stream_id, request in self._requests(reader, writer):
                handler = asyncio.create_task(self._handle(writer, peer, stream_id, request))
                handlers.add(handler)
                handler.add_done_callback(handlers.discard)
        except (OSError, errdefs.PyctrdError) as exc:
            log.debug("ttrpc: connection ended: %s", exc)
        finally:
            for handler in handlers:
                handler.cancel()  # the client is gone: nobody will read the answers
            if handlers:
                await asyncio.wait(handlers)
            writer.close()
            self._connections.pop(task, None)

    async def _requests(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                        ) -> AsyncIterator[tuple[int, Any]]:
        """Yield (stream id, Request) until EOF, answering bad frames on the spot (step 4)."""
        while True:
            try:
                frame = await framing.read_frame(reader)
            except framing.MessageTooLarge as exc:
                await self._reply(writer, exc.stream_id,
                                  messages.status(Code.RESOURCE_EXHAUSTED, str(exc)))
                continue
            if frame is None:
                return
            if frame.header.type != framing.MessageType.REQUEST:
                continue  # unknown types are skipped, so newer clients can still talk to us
            stream_id = frame.header.stream_id
            try:
                request = messages.Request.FromString(frame.body)
            except DecodeError as exc:
                await self._reply(writer, stream_id, messages.status_for_exception(
                    errdefs.InvalidArgument(f"ttrpc: unmarshal request: {exc}")))
                continue
            if stream_id % 2 != 1:
                await self._reply(writer, stream_id, messages.status_for_exception(
                    errdefs.InvalidArgument("ttrpc: stream id must be odd for client-initiated streams")))
                continue
            yield stream_id, request

    async def _handle(self, writer: asyncio.StreamWriter, peer: sockets.PeerCredentials,
                      stream_id: int, request: Any) -> None:
        """Step 3: run one call under its deadline and send back status and payload."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + request.timeout_nano / 1e9 if request.timeout_nano else None
        enter_call(CallInfo(request.service, request.method,
                            messages.decode_metadata(request.metadata), deadline, peer))
        payload = b""
        try:
            async with asyncio.timeout_at(deadline) as scope:
                payload = await self._dispatch(request)
            status = messages.status(Code.OK)
        except TimeoutError as exc:
            status = (messages.status(Code.DEADLINE_EXCEEDED,
                                      f"{request.service}/{request.method}: deadline exceeded")
                      if scope.expired() else messages.status_for_exception(exc))
        except Exception as exc:
            if not isinstance(exc, errdefs.PyctrdError):
                log.exception("ttrpc: %s/%s failed", request.service, request.method)
            status = messages.status_for_exception(exc)
        await self._reply(writer, stream_id, status, payload)

    async def _dispatch(self, request: Any) -> bytes:
        methods = self._services.get(request.service)
        if methods is None:
            raise errdefs.NotImplemented(f"service {request.service}")
        method = methods.get(request.method)
        if method is None:
            raise errdefs.NotImplemented(f"method {request.method}")
        argument = method.request_type()
        try:
            argument.ParseFromString(request.payload)
        except DecodeError as exc:
            raise errdefs.InvalidArgument(f"ttrpc: unmarshal {request.method} payload: {exc}") from exc
        result = await method.handler(argument)
        if not isinstance(result, method.response_type):
            raise errdefs.Unknown(f"{request.service}/{request.method} handler returned "
                                  f"{type(result).__name__}, not {method.response_type.DESCRIPTOR.name}")
        serialized: bytes = result.SerializeToString()
        return serialized

    async def _reply(self, writer: asyncio.StreamWriter, stream_id: int, status: Any,
                     payload: bytes = b"") -> None:
        body = messages.Response(status=status, payload=payload).SerializeToString()
        try:
            frame = framing.encode_frame(stream_id, framing.MessageType.RESPONSE, body)
        except framing.MessageTooLarge as exc:
            too_big = messages.status(Code.RESOURCE_EXHAUSTED, f"response: {exc}")
            frame = framing.encode_frame(stream_id, framing.MessageType.RESPONSE,
                                         messages.Response(status=too_big).SerializeToString())
        if writer.is_closing():
            return
        writer.write(frame)
        try:
            await writer.drain()
        except OSError as exc:
            log.debug("ttrpc: reply to stream %d lost: %s", stream_id, exc)

    async def close(self) -> None:
        """Stop listening, drop every connection (cancelling its calls), remove our sockets.

        Raises:
            Nothing: it is idempotent and safe on a half-started server.
        """
        self._closing = True
        for listener in self._listeners:
            listener.close()
        for writer in self._connections.values():
            writer.close()  # each connection's read loop sees EOF and cancels its calls
        if self._connections:
            await asyncio.wait(set(self._connections))
        for listener in self._listeners:
            await listener.wait_closed()
        self._listeners.clear()
        for path, inode in self._owned_paths:
            try:
                if os.stat(path).st_ino == inode:  # never remove a newer server's socket
                    os.unlink(path)
            except FileNotFoundError:
                pass
        self._owned_paths.clear()
        self._closed.set()

    async def wait_closed(self) -> None:
        """Return once :meth:`close` has finished (a shim's main awaits this)."""
        await self._closed.wait()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()
