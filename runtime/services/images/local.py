"""The images service (``images-service``): image records plus events and synchronous delete.

As containerd's ``services/images/local.go``: create, update and delete publish
``/images/create``, ``/images/update`` and ``/images/delete``; ``delete(name, sync=True)``
(``ctr images rm --sync``) then waits for a garbage collection, so the image's blobs are
gone (unless something else holds them) when the call returns.
"""
from __future__ import annotations

from collections.abc import Sequence

from ..._api.containerd.api.events import image_pb2 as events
from ...core.events import Publisher
from ...core.images import Image
from ...core.metadata import ImageStore
from ...errdefs import InvalidArgument
from ..leases.local import GCScheduler

__all__ = ["Images"]


class Images:
    """An :class:`~pyctrd.core.metadata.ImageStore` that publishes events; delete can wait for GC."""

    def __init__(self, store: ImageStore, publisher: Publisher, gc: GCScheduler | None) -> None:
        self.store, self.publisher, self.gc = store, publisher, gc

    def __repr__(self) -> str:
        return f"<Images over {self.store!r}>"

    def get(self, name: str) -> Image:
        return self.store.get(name)

    def list(self, *filters: str) -> list[Image]:
        return self.store.list(*filters)

    def create(self, image: Image) -> Image:
        if not image.name:
            raise InvalidArgument("Image.Name required")
        created = self.store.create(image)
        self.publisher.publish("/images/create", events.ImageCreate(name=created.name, labels=created.labels))
        return created

    def update(self, image: Image, fieldpaths: Sequence[str] = ()) -> Image:
        if not image.name:
            raise InvalidArgument("Image.Name required")
        updated = self.store.update(image, fieldpaths)
        self.publisher.publish("/images/update", events.ImageUpdate(name=updated.name, labels=updated.labels))
        return updated

    def delete(self, name: str, sync: bool = False) -> None:
        """Remove the record, publish ``/images/delete``; with ``sync`` wait for GC.

        Raises:
            NotFound: no such image.
            Unknown: the synchronous collection failed.
        """
        self.store.delete(name)
        self.publisher.publish("/images/delete", events.ImageDelete(name=name))
        if sync and self.gc is not None:
            self.gc.schedule_and_wait()
