"""The standard gRPC health service (``grpc.health.v1.Health``), as containerd serves it."""
from __future__ import annotations

from typing import Any

from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from ...plugin import Registration, register, types


class _Servicer(health.aio.HealthServicer):  # type: ignore[misc]
    """grpc's servicer, plus ``List`` (newer health protos have it; grpc's answers it with
    a NotImplementedError, which became UNKNOWN)."""

    async def List(self, request: health_pb2.HealthListRequest, context: Any) -> health_pb2.HealthListResponse:
        out = health_pb2.HealthListResponse()
        for service, status in self._server_status.items():
            out.statuses[service].status = status
        return out


class HealthService:
    def __init__(self) -> None:
        self.servicer = _Servicer()

    def register(self, server: Any) -> None:
        health_pb2_grpc.add_HealthServicer_to_server(self.servicer, server)

    async def set_serving(self) -> None:
        await self.servicer.set("", health_pb2.HealthCheckResponse.SERVING)


registration = register(Registration(type=types.GRPC, id="healthcheck", init=lambda ic: HealthService(),
                                     doc="gRPC: grpc.health.v1.Health"))
