"""Prometheus text metrics: gRPC calls per method and plugin init durations.

Served over plain HTTP at ``[metrics] address`` (``/v1/metrics``, as containerd does, and
``/metrics``). Counting happens in a gRPC server interceptor, so no servicer knows about it.
"""
from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import grpc

from ..plugin import Plugin

__all__ = ["CallCounter", "MetricsServer", "render"]

log = logging.getLogger("pyctrd.metrics")


class CallCounter(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc has no stubs here
    """Counts every RPC started, by full method name."""

    def __init__(self) -> None:
        self.started: Counter[str] = Counter()

    async def intercept_service(self, continuation: Callable[[Any], Awaitable[Any]],
                                handler_call_details: Any) -> Any:
        self.started[handler_call_details.method] += 1
        return await continuation(handler_call_details)


def render(calls: Counter[str], plugins: Iterable[Plugin], extra: dict[str, float] | None = None) -> str:
    lines = ["# HELP grpc_server_started_total Total number of RPCs started on the server.",
             "# TYPE grpc_server_started_total counter"]
    for method, n in sorted(calls.items()):
        service, _, name = method.lstrip("/").rpartition("/")
        lines.append(f'grpc_server_started_total{{grpc_method="{name}",grpc_service="{service}"}} {n}')
    lines += ["# HELP pyctrd_plugin_init_seconds Time each plugin's init took.",
              "# TYPE pyctrd_plugin_init_seconds gauge"]
    for p in plugins:
        r = p.registration
        lines.append(f'pyctrd_plugin_init_seconds{{id="{r.id}",status="{p.status}",type="{r.type}"}} '
                     f"{p.init_seconds:.6f}")
    for name, value in sorted((extra or {}).items()):
        lines += [f"# TYPE {name} gauge", f"{name} {value}"]
    return "\n".join(lines) + "\n"


class MetricsServer:
    """A tiny asyncio HTTP/1.0 server for GET /v1/metrics (and /metrics)."""

    def __init__(self, address: str, body: Callable[[], str]) -> None:
        host, _, port = address.rpartition(":")
        self.host, self.port = host or "127.0.0.1", int(port)
        self.body = body
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        sock = self._server.sockets[0].getsockname()
        self.port = sock[1]
        log.info("metrics served", extra={"fields": {"address": f"{self.host}:{self.port}"}})

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = (await asyncio.wait_for(reader.readline(), 5)).decode("latin-1")
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "GET" and parts[1] in ("/v1/metrics", "/metrics"):
                data, status = self.body().encode(), "200 OK"
            else:
                data, status = b"not found\n", "404 Not Found"
            writer.write(f"HTTP/1.0 {status}\r\nContent-Type: text/plain; version=0.0.4\r\n"
                         f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    async def close(self) -> None:
        if self._server:
            self._server.close()
            await self._server.wait_closed()
