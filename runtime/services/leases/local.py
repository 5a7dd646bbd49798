"""The leases service (``leases-service``): the metadata lease manager plus synchronous delete.

``delete(id, sync=True)`` (``ctr leases rm --sync``) removes the lease and then waits for a
garbage collection, so what only the lease held is gone when the call returns.
"""
from __future__ import annotations

import builtins
from typing import Protocol

from ...core.gc import Stats
from ...core.leases import Lease, LeaseManager, Resource

__all__ = ["GCScheduler", "Leases"]


class GCScheduler(Protocol):
    """The one thing services need from the GC scheduler."""

    def schedule_and_wait(self, timeout: float | None = None) -> Stats:
        """Raises Unknown (gc failed) or Unavailable (scheduler closed)."""


class Leases:
    """A :class:`~pyctrd.core.leases.LeaseManager` whose ``delete(sync=True)`` waits for GC."""

    def __init__(self, manager: LeaseManager, gc: GCScheduler | None) -> None:
        self.manager, self.gc = manager, gc

    def __repr__(self) -> str:
        return f"<Leases over {self.manager!r} gc={'yes' if self.gc else 'no'}>"

    def create(self, id: str, labels: dict[str, str] | None = None) -> Lease:
        return self.manager.create(id, labels)

    def delete(self, id: str, sync: bool = False) -> None:
        self.manager.delete(id)
        if sync and self.gc is not None:
            self.gc.schedule_and_wait()

    def list(self, *filters: str) -> list[Lease]:
        return self.manager.list(*filters)

    def add_resource(self, id: str, resource: Resource) -> None:
        self.manager.add_resource(id, resource)

    def delete_resource(self, id: str, resource: Resource) -> None:
        self.manager.delete_resource(id, resource)

    def list_resources(self, id: str) -> builtins.list[Resource]:
        return self.manager.list_resources(id)
