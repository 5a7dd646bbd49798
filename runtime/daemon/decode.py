"""Requests that do not decode are the client's mistake: INVALID_ARGUMENT, not UNKNOWN.

grpc decodes each request before any servicer sees it; when the bytes are not the method's
message, grpc.aio answers UNKNOWN ``Unexpected <class 'DecodeError'>`` and logs a traceback
(Go's grpc says INTERNAL). Neither tells the client what it did wrong. :class:`DecodeErrors`
is a server interceptor that swaps each method's deserializer for one that never raises: a
request that does not decode becomes an :class:`Undecodable` marker, and the method answers
it with INVALID_ARGUMENT naming the message type - before the servicer runs. In a client
stream, the first undecodable message ends the call the same way.
"""
from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc

__all__ = ["DecodeErrors", "Undecodable"]


@dataclass(frozen=True)
class Undecodable:
    """What the deserializer returns instead of raising."""

    method: str
    error: str

    @property
    def message(self) -> str:
        return f"{self.method}: request does not decode: {self.error}"


def _safe(method: str, deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserialize is None:
        return None

    def decode(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception as exc:
            return Undecodable(method, str(exc) or type(exc).__name__)

    return decode


async def _abort(context: grpc.aio.ServicerContext, bad: Undecodable) -> None:
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, bad.message)


def _unary_in(behavior: Callable[..., Any], streaming_out: bool) -> Callable[..., Any]:
    if streaming_out and inspect.isasyncgenfunction(behavior):
        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            if isinstance(request, Undecodable):
                await _abort(context, request)
            async for item in behavior(request, context):
                yield item
        return stream

    async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if isinstance(request, Undecodable):
            await _abort(context, request)
        result = behavior(request, context)
        return await result if inspect.isawaitable(result) else result
    return unary


def _stream_in(behavior: Callable[..., Any], streaming_out: bool) -> Callable[..., Any]:
    def checked(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async def gen() -> AsyncIterator[Any]:
            async for r in requests:
                if isinstance(r, Undecodable):
                    await _abort(context, r)
                yield r
        return gen()

    if streaming_out and inspect.isasyncgenfunction(behavior):
        async def stream(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            async for item in behavior(checked(requests, context), context):
                yield item
        return stream

    async def unary(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
        result = behavior(checked(requests, context), context)
        return await result if inspect.isawaitable(result) else result
    return unary


class DecodeErrors(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Answer requests that do not decode with INVALID_ARGUMENT (see the module docstring)."""

    async def intercept_service(self, continuation: Callable[[Any], Awaitable[Any]],
                                handler_call_details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler
        method = handler_call_details.method
        out = handler.response_streaming
        if handler.request_streaming:
            name = "stream_stream" if out else "stream_unary"
            wrap = _stream_in
        else:
            name = "unary_stream" if out else "unary_unary"
            wrap = _unary_in
        return handler._replace(request_deserializer=_safe(method, handler.request_deserializer),
                                **{name: wrap(getattr(handler, name), out)})
