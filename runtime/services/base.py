"""What every gRPC servicer shares: the call's namespace and lease, and error mapping.

:func:`servicer` is the class decorator for servicers. For each RPC it reads the
``containerd-namespace`` and ``containerd-lease`` headers into :mod:`pyctrd.core.namespaces`
and :mod:`pyctrd.core.leases` (so everything below sees them without parameters), and maps
raised errors to gRPC statuses through :func:`pyctrd.errdefs.grpc_errors` - the one place
that happens on the server side.
"""
from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from google.protobuf import timestamp_pb2

from .. import errdefs
from ..core import leases, namespaces

__all__ = ["from_timestamp", "header", "run", "servicer", "to_timestamp"]

C = TypeVar("C", bound=type)
T = TypeVar("T")


def header(context: Any, key: str) -> str | None:
    for k, v in context.invocation_metadata() or ():
        if k == key:
            return str(v)
    return None


def _enter(context: Any) -> None:
    ns = header(context, namespaces.GRPC_HEADER)
    namespaces.set_current(ns or namespaces.DEFAULT)
    leases.set_current(header(context, leases.GRPC_HEADER))


def _with_context(method: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.isasyncgenfunction(method):

        @functools.wraps(method)
        async def stream(self: Any, request: Any, context: Any) -> Any:
            _enter(context)
            async for item in method(self, request, context):
                yield item

        return stream

    @functools.wraps(method)
    async def unary(self: Any, request: Any, context: Any) -> Any:
        _enter(context)
        return await method(self, request, context)

    return unary


def servicer(cls: C) -> C:
    """Class decorator: namespace/lease from headers, then errors mapped to statuses."""
    for name, member in list(vars(cls).items()):
        if not name.startswith("_") and (inspect.iscoroutinefunction(member)
                                         or inspect.isasyncgenfunction(member)):
            setattr(cls, name, _with_context(member))
    return errdefs.grpc_errors(cls)


async def run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run blocking store code in a worker thread (the namespace and lease go along)."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def to_timestamp(dt: datetime | str | None) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    if dt is None:
        return ts
    if isinstance(dt, str):
        dt = datetime.fromisoformat(dt)
    ts.FromDatetime(dt.astimezone(UTC).replace(tzinfo=None))
    return ts


def from_timestamp(ts: timestamp_pb2.Timestamp) -> datetime:
    """A request's timestamp as a datetime.

    Raises:
        InvalidArgument: outside what a Timestamp may hold (years 1-9999, nanos 0-999999999).
    """
    try:
        made: datetime = ts.ToDatetime(tzinfo=UTC)
        return made
    except (ValueError, OverflowError) as exc:
        raise errdefs.InvalidArgument(f"timestamp: {exc}") from None
