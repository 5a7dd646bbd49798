"""Raw gRPC against a daemon: every method of every service, requests as plain bytes.

A hostile client does not use our stubs: it sends whatever bytes it likes to whatever method
path. :func:`methods` lists every RPC the daemon serves (from the generated descriptors),
:func:`call` sends one payload through grpc's generic multi-callables (no serializer, so
the bytes go out untouched) and returns an :class:`Outcome`.

>>> sorted({m.service for m in methods()})[:4]
['Containers', 'Content', 'Diff', 'Events']
>>> [m for m in methods() if m.name == "Write"]
[<Method /containerd.services.content.v1.Content/Write bidi>]
"""
from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.descriptor import Descriptor

__all__ = ["Method", "Outcome", "assert_serving", "call", "method", "methods"]

#: (package directory, module) of each containerd service pyctrd serves.
SERVICE_MODULES = [("containers", "containers"), ("content", "content"), ("diff", "diff"), ("events", "events"),
                   ("images", "images"), ("introspection", "introspection"), ("leases", "leases"),
                   ("namespaces", "namespace"), ("snapshots", "snapshots"), ("tasks", "tasks"),
                   ("version", "version")]
#: Services that do not read the namespace header (anything goes there).
NAMESPACE_FREE = {"Namespaces", "Introspection", "Version", "Health"}


@dataclass(frozen=True)
class Method:
    path: str
    service: str
    name: str
    input: Descriptor
    client_streaming: bool
    server_streaming: bool

    def __repr__(self) -> str:
        kind = {(False, False): "unary", (False, True): "server-stream", (True, False): "client-stream",
                (True, True): "bidi"}[self.client_streaming, self.server_streaming]
        return f"<Method {self.path} {kind}>"

    def new(self, **fields: Any) -> Any:
        """An empty (or filled) request message of this method's input type."""
        from google.protobuf import message_factory

        return message_factory.GetMessageClass(self.input)(**fields)


def methods() -> list[Method]:
    from grpc_health.v1 import health_pb2

    mods = [importlib.import_module(f"pyctrd._api.containerd.api.services.{pkg}.v1.{mod}_pb2")
            for pkg, mod in SERVICE_MODULES]
    found = []
    for m in [*mods, health_pb2]:
        for svc in m.DESCRIPTOR.services_by_name.values():
            for meth in svc.methods:
                found.append(Method(f"/{svc.full_name}/{meth.name}", svc.name, meth.name, meth.input_type,
                                    meth.client_streaming, meth.server_streaming))
    return found


def method(path_tail: str) -> Method:
    """The method whose path ends in ``path_tail`` (e.g. ``"Containers/Create"``)."""
    hits = [m for m in methods() if m.path.endswith("." + path_tail)]
    assert len(hits) == 1, (path_tail, hits)
    return hits[0]


@dataclass(frozen=True)
class Outcome:
    code: str          # "OK" or a grpc.StatusCode name
    details: str
    responses: int = 0

    def __repr__(self) -> str:
        return f"<Outcome {self.code} {self.details[:80]!r}>"


def call(channel: grpc.Channel, m: Method, payload: bytes | Iterable[bytes], *,
         namespace: str | None = "default", metadata: tuple[tuple[str, str], ...] = (),
         timeout: float = 10) -> Outcome:
    """Send raw bytes to ``m`` (an iterable of messages for client streams)."""
    md = [*metadata, *((("containerd-namespace", namespace),) if namespace is not None else ())]
    if m.client_streaming:
        msgs = [payload] if isinstance(payload, bytes) else list(payload)
        arg: Any = iter(msgs)
        fn: Any = channel.stream_stream(m.path) if m.server_streaming else channel.stream_unary(m.path)
    else:
        assert isinstance(payload, bytes)
        arg = payload
        fn = channel.unary_stream(m.path) if m.server_streaming else channel.unary_unary(m.path)
    try:
        r = fn(arg, timeout=timeout, metadata=md)
        n = len(list(r)) if m.server_streaming else 1
    except grpc.RpcError as exc:
        return Outcome(exc.code().name, exc.details() or "")
    return Outcome("OK", "", n)


def assert_serving(channel: grpc.Channel) -> None:
    """The daemon still answers: the health check says SERVING and Version works."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from pyctrd._api.containerd.api.services.version.v1 import version_pb2_grpc

    health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    from google.protobuf import empty_pb2

    v = version_pb2_grpc.VersionStub(channel).Version(empty_pb2.Empty(), timeout=10)
    assert v.version, v
