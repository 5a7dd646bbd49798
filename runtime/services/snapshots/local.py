"""The snapshots service (``snapshots-service``): the metadata snapshotters plus events.

As containerd's ``services/snapshots/snapshotters.go``: each namespaced snapshotter of the
metadata plugin is wrapped so that a successful prepare, commit or remove publishes
``/snapshot/prepare`` (key, parent), ``/snapshot/commit`` (key, name) or ``/snapshot/remove``
(key) in the caller's namespace - what ``ctr events`` shows during a pull::

    /snapshot/prepare {"key":"extract-16062697-pmHt sha256:e5…"}
    /snapshot/commit  {"key":"extract-16062697-pmHt sha256:e5…","name":"sha256:e5…"}

Views publish nothing (containerd's wrapper does not either). The service's instance is a
``{name: EventedSnapshotter}`` dict.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from ..._api.containerd.api.events import snapshot_pb2 as events
from ...core.events import Publisher
from ...core.mount import Mount
from ...core.snapshots import Info, Snapshotter, Usage
from ...errdefs import NotImplemented as NotImplementedKind

__all__ = ["EventedSnapshotter", "snapshotters_with_events"]


class EventedSnapshotter:
    """A Snapshotter that announces prepare, commit and remove (see the module docstring)."""

    def __init__(self, name: str, snapshotter: Snapshotter, publisher: Publisher) -> None:
        self.name, self.snapshotter, self.publisher = name, snapshotter, publisher

    def __repr__(self) -> str:
        return f"<EventedSnapshotter {self.name} over {self.snapshotter!r}>"

    def stat(self, key: str) -> Info:
        return self.snapshotter.stat(key)

    def update(self, info: Info, fieldpaths: Sequence[str] = ()) -> Info:
        return self.snapshotter.update(info, fieldpaths)

    def usage(self, key: str) -> Usage:
        return self.snapshotter.usage(key)

    def mounts(self, key: str) -> list[Mount]:
        return self.snapshotter.mounts(key)

    def prepare(self, key: str, parent: str = "", labels: Mapping[str, str] | None = None) -> list[Mount]:
        mounts = self.snapshotter.prepare(key, parent, labels)
        self.publisher.publish("/snapshot/prepare", events.SnapshotPrepare(key=key, parent=parent))
        return mounts

    def view(self, key: str, parent: str = "", labels: Mapping[str, str] | None = None) -> list[Mount]:
        return self.snapshotter.view(key, parent, labels)

    def commit(self, name: str, key: str, labels: Mapping[str, str] | None = None) -> None:
        self.snapshotter.commit(name, key, labels)
        self.publisher.publish("/snapshot/commit", events.SnapshotCommit(key=key, name=name))

    def remove(self, key: str) -> None:
        self.snapshotter.remove(key)
        self.publisher.publish("/snapshot/remove", events.SnapshotRemove(key=key))

    def walk(self, *filters: str) -> Iterator[Info]:
        return self.snapshotter.walk(*filters)

    def cleanup(self) -> None:
        """Raises NotImplemented when the snapshotter cannot clean up."""
        cleanup = getattr(self.snapshotter, "cleanup", None)
        if cleanup is None:
            raise NotImplementedKind("snapshotter does not implement Cleanup method")
        cleanup()

    def close(self) -> None:
        """The plugins own the snapshotters: closing the service's view closes nothing."""


def snapshotters_with_events(snapshotters: Mapping[str, Snapshotter], publisher: Publisher
                             ) -> dict[str, EventedSnapshotter]:
    return {name: EventedSnapshotter(name, sn, publisher) for name, sn in snapshotters.items()}
