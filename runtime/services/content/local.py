"""The content service (``content-service``): the namespaced content store plus events.

Like containerd's ``services/content/store.go``, it is the metadata plugin's content store
with one addition: deleting a blob publishes ``/content/delete``. Everything else passes
straight through, so this object is itself a :class:`~pyctrd.core.content.ContentStore`.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

from ..._api.containerd.api.events import content_pb2 as events
from ...core.content import ContentStore, Info, ReaderAt, Status, Writer
from ...core.events import Publisher

__all__ = ["ContentService"]


class ContentService:
    """A ContentStore that announces deletions (see the module docstring)."""

    def __init__(self, store: ContentStore, publisher: Publisher) -> None:
        self.store, self.publisher = store, publisher

    def __repr__(self) -> str:
        return f"<ContentService over {self.store!r}>"

    def info(self, digest: str) -> Info:
        return self.store.info(digest)

    def update(self, info: Info, fieldpaths: Sequence[str] = ()) -> Info:
        return self.store.update(info, fieldpaths)

    def walk(self, *filters: str) -> Iterator[Info]:
        return self.store.walk(*filters)

    def delete(self, digest: str) -> None:
        """Remove the namespace's record and publish ``/content/delete``. Raises as the store."""
        self.store.delete(digest)
        self.publisher.publish("/content/delete", events.ContentDelete(digest=digest))

    def reader_at(self, digest: str) -> ReaderAt:
        return self.store.reader_at(digest)

    def writer(self, ref: str, total: int = 0, expected: str = "") -> Writer:
        return self.store.writer(ref, total, expected)

    def status(self, ref: str) -> Status:
        return self.store.status(ref)

    def list_statuses(self, *filters: str) -> list[Status]:
        return self.store.list_statuses(*filters)

    def abort(self, ref: str) -> None:
        self.store.abort(ref)
