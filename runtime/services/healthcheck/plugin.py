"""The standard gRPC health service (``grpc.health.v1.Health``), as containerd serves it."""
from __future__ import annotations

from typing import Any

from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from ...plugin import Registration, register, types


class HealthService:
    def __init__(self) -> None:
        self.servicer = health.aio.HealthServicer()

    def register(self, server: Any) -> None:
        health_pb2_grpc.add_HealthServicer_to_server(self.servicer, server)

    async def set_serving(self) -> None:
        await self.servicer.set("", health_pb2.HealthCheckResponse.SERVING)


registration = register(Registration(type=types.GRPC, id="healthcheck", init=lambda ic: HealthService(),
                                     doc="gRPC: grpc.health.v1.Health"))
