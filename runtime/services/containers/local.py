"""The containers service: container records plus the events that announce changes."""
from __future__ import annotations

from collections.abc import Sequence

from ..._api.containerd.api.events import container_pb2 as events
from ...core.containers import Container, ContainerStore
from ...core.events import Publisher

__all__ = ["Containers"]


class Containers:
    """Get, list, create, update and delete containers; publishes ``/containers/*`` events."""

    def __init__(self, store: ContainerStore, publisher: Publisher) -> None:
        self.store = store
        self.publisher = publisher

    def __repr__(self) -> str:
        return f"<Containers {self.store!r}>"

    def get(self, id: str) -> Container:
        return self.store.get(id)

    def list(self, *filters: str) -> list[Container]:
        return self.store.list(*filters)

    def create(self, container: Container) -> Container:
        created = self.store.create(container)
        ev = events.ContainerCreate(id=created.id, image=created.image)
        ev.runtime.name = created.runtime.name
        if created.runtime.options is not None:
            ev.runtime.options.CopyFrom(created.runtime.options)
        self.publisher.publish("/containers/create", ev)
        return created

    def update(self, container: Container, field_paths: Sequence[str] = ()) -> Container:
        updated = self.store.update(container, field_paths)
        self.publisher.publish("/containers/update", events.ContainerUpdate(
            id=updated.id, image=updated.image, labels=updated.labels, snapshot_key=updated.snapshot_key))
        return updated

    def delete(self, id: str) -> None:
        self.store.delete(id)
        self.publisher.publish("/containers/delete", events.ContainerDelete(id=id))
