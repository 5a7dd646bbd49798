"""The namespaces service: namespace records plus the events that announce changes."""
from __future__ import annotations

from collections.abc import Sequence

from ..._api.containerd.api.events import namespace_pb2 as events
from ...core.events import Publisher
from ...core.metadata import NamespaceStore
from ...core.namespaces import namespace
from ...errdefs import InvalidArgument

__all__ = ["Namespaces"]


class Namespaces:
    """Create, label, list and delete namespaces; publishes ``/namespaces/*`` events."""

    def __init__(self, store: NamespaceStore, publisher: Publisher) -> None:
        self.store = store
        self.publisher = publisher

    def __repr__(self) -> str:
        return f"<Namespaces {list(self.store.list())}>"

    def get(self, name: str) -> dict[str, str]:
        return self.store.labels(name)

    def list(self) -> list[tuple[str, dict[str, str]]]:
        return [(n, self.store.labels(n)) for n in self.store.list()]

    def create(self, name: str, labels: dict[str, str]) -> dict[str, str]:
        self.store.create(name, labels)
        with namespace(name):
            self.publisher.publish("/namespaces/create", events.NamespaceCreate(name=name, labels=labels))
        return self.store.labels(name)

    def update(self, name: str, labels: dict[str, str], paths: Sequence[str]) -> dict[str, str]:
        """Replace all labels (``paths`` empty or ``labels``) or only ``labels.<key>`` ones."""
        current = self.store.labels(name)
        if not paths or "labels" in paths:
            wanted = dict(labels)
        else:
            wanted = dict(current)
            for p in paths:
                if not p.startswith("labels."):
                    raise InvalidArgument(f'cannot update "{p}" field on namespace "{name}"')
                key = p[len("labels."):]
                if labels.get(key):
                    wanted[key] = labels[key]
                else:
                    wanted.pop(key, None)
        for k in set(current) - set(wanted):
            self.store.set_label(name, k, "")
        for k, v in wanted.items():
            if current.get(k) != v:
                self.store.set_label(name, k, v)
        with namespace(name):
            self.publisher.publish("/namespaces/update", events.NamespaceUpdate(name=name, labels=wanted))
        return self.store.labels(name)

    def delete(self, name: str) -> None:
        self.store.delete(name)
        with namespace(name):
            self.publisher.publish("/namespaces/delete", events.NamespaceDelete(name=name))
