"""The connection under every client call: channel, headers, timeouts and error mapping.

Every call carries the ``containerd-namespace`` header (and ``containerd-lease`` when the
client works inside a lease). A :class:`grpc.RpcError` never escapes: it becomes the
:mod:`pyctrd.errdefs` kind for its status code, via :func:`pyctrd.errdefs.from_grpc` - the
client side of the one mapping.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from .. import errdefs
from ..config.schema import DEFAULT_ADDRESS, DEFAULT_MAX_MSG
from ..core import leases, namespaces

__all__ = ["Connection", "default_address"]


def default_address() -> str:
    """``$PYCTRD_ADDRESS``, else pyctrd's default socket."""
    return os.environ.get("PYCTRD_ADDRESS") or DEFAULT_ADDRESS


def _map(exc: grpc.RpcError) -> errdefs.PyctrdError:
    code = exc.code() if hasattr(exc, "code") else None
    details = exc.details() if hasattr(exc, "details") else str(exc)
    return errdefs.from_grpc(code, details or "")


class _Method:
    def __init__(self, conn: Connection, fn: Any, streaming: bool) -> None:
        self._conn, self._fn, self._streaming = conn, fn, streaming

    def __call__(self, request: Any, *, timeout: float | None = None, **kw: Any) -> Any:
        md = self._conn.metadata()
        t = timeout if timeout is not None else (None if self._streaming else self._conn.timeout)
        try:
            result = self._fn(request, metadata=md, timeout=t, **kw)
        except grpc.RpcError as exc:
            raise _map(exc) from None
        if self._streaming:
            return self._iterate(result)
        return result

    @staticmethod
    def _iterate(it: Any) -> Iterator[Any]:
        try:
            yield from it
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.CANCELLED:
                return
            raise _map(exc) from None
        finally:
            cancel = getattr(it, "cancel", None)
            if cancel:
                cancel()


class _Stub:
    """A generated stub whose methods add headers and map errors."""

    def __init__(self, conn: Connection, stub: Any, streaming: set[str]) -> None:
        self._conn, self._stub, self._streaming = conn, stub, streaming

    def __getattr__(self, name: str) -> _Method:
        return _Method(self._conn, getattr(self._stub, name), name in self._streaming)


class Connection:
    """A gRPC channel to a containerd-API socket plus the namespace/lease to send."""

    def __init__(self, address: str | None = None, *, namespace: str = namespaces.DEFAULT,
                 timeout: float | None = 30.0, channel: grpc.Channel | None = None) -> None:
        self.address = address or default_address()
        target = self.address if "://" in self.address or self.address.startswith("unix:") \
            else f"unix://{self.address}"
        # Own subchannels: grpc otherwise shares one connection per target across channels, and
        # one left backing off by a call while the daemon was down would fail a new client too.
        self.channel = channel or grpc.insecure_channel(target, options=[
            ("grpc.max_receive_message_length", DEFAULT_MAX_MSG),
            ("grpc.max_send_message_length", DEFAULT_MAX_MSG),
            ("grpc.use_local_subchannel_pool", 1)])
        self.namespace = namespace
        self.lease: str | None = None
        self.timeout = timeout
        self._stubs: dict[type, _Stub] = {}

    def metadata(self) -> list[tuple[str, str]]:
        md = [(namespaces.GRPC_HEADER, self.namespace)]
        lease = self.lease or leases.current()
        if lease:
            md.append((leases.GRPC_HEADER, lease))
        return md

    def stub(self, stub_cls: Callable[[grpc.Channel], Any], streaming: tuple[str, ...] = ()) -> _Stub:
        key = stub_cls
        if key not in self._stubs:
            self._stubs[key] = _Stub(self, stub_cls(self.channel), set(streaming))  # type: ignore[index]
        return self._stubs[key]  # type: ignore[index]

    def derive(self, *, namespace: str | None = None, lease: str | None = None) -> Connection:
        """The same channel with another namespace or lease."""
        c = Connection(self.address, namespace=namespace or self.namespace, timeout=self.timeout,
                       channel=self.channel)
        c.lease = lease if lease is not None else self.lease
        return c

    def close(self) -> None:
        self.channel.close()
