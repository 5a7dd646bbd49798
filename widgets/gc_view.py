"""GCView: the garbage collector's graph of one namespace, and buttons that make it collect."""
from __future__ import annotations

import html
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import ipywidgets as w

from ..client import Client
from ..core.events import Envelope
from ..core.gc import Node
from ..diagrams import GCGraph, content_graph, gc_graph, leases_with_resources
from ..diagrams.snapshots import short_key
from ..errdefs import PyctrdError
from .live import EventFeed, LiveWidget
from .plugin_graph import svg_of

__all__ = ["GCView", "read_gc_graph"]

#: topics after which the graph may have changed (leases publish no events: refresh for those)
TOPICS = ("/images/", "/content/", "/snapshot/", "/containers/")


def read_gc_graph(client: Client, snapshotters: Iterable[str] = ("overlayfs",),
                  now: datetime | None = None) -> GCGraph:
    """Everything the collector looks at in the client's namespace, read through the client."""
    snaps = [i for name in snapshotters for i in client.snapshotter(name).walk()]
    return gc_graph(list(client.content.walk()), client.images.list(), leases=leases_with_resources(client),
                    snapshots=snaps, containers=client.containers.list(), namespace=client.namespace,
                    now=now or datetime.now(UTC))


def _describe(nodes: Iterable[Node]) -> str:
    return ", ".join(f"{n.type} {short_key(n.key)}" for n in nodes) or "nothing"


class GCView(LiveWidget, w.VBox):  # type: ignore[misc]  # ipywidgets is untyped
    """The graph (roots bold, reachable green, garbage red), redrawn on image, content,
    snapshot and container events; *remove image* deletes one with ``sync=True`` and *run GC*
    makes the daemon collect now; both then say what went (:attr:`last_removed`).

    containerd has no "collect now" call: deleting a lease with ``sync=True`` runs a
    collection before it answers, so *run GC* creates an empty lease and deletes it that way.
    """

    def __init__(self, client: Client, *, snapshotters: Iterable[str] = ("overlayfs",),
                 feed: EventFeed | None = None, interval: float = 0.2, **throttle: Any) -> None:
        self.client, self.snapshotters = client, tuple(snapshotters)
        self.graph = GCGraph(client.namespace)
        self.last_removed: list[Node] = []
        self.collections = 0
        self.header = w.HTML()
        self.svg = w.HTML(layout=w.Layout(overflow="auto"))
        self.result = w.HTML()
        self.images = w.Dropdown(options=[], description="image", layout=w.Layout(width="420px"))
        remove = w.Button(description="remove image", icon="trash", layout=w.Layout(width="130px"),
                          tooltip="images.delete(name, sync=True): the record goes, then a collection")
        remove.on_click(lambda _: self.images.value and self.remove_image(self.images.value))
        collect = w.Button(description="run GC", icon="recycle", layout=w.Layout(width="100px"))
        collect.on_click(lambda _: self.collect())
        refresh = w.Button(description="refresh", icon="refresh", layout=w.Layout(width="100px"))
        refresh.on_click(lambda _: self.refresh())
        super().__init__([w.HBox([refresh, collect, self.images, remove]), self.header, self.svg, self.result])
        self._setup_live(interval, **throttle)
        self._join_feed(client, feed)
        self.refresh()

    def _on_event(self, envelope: Envelope) -> None:
        if envelope.topic.startswith(TOPICS):
            self.request_redraw()

    def refresh(self) -> None:
        """Read and redraw now."""
        self._redraw()

    def read(self) -> GCGraph:
        return read_gc_graph(self.client, self.snapshotters)

    def redraw(self) -> None:
        try:
            self.graph = self.read()
        except PyctrdError as exc:
            self.header.value = f"<span style='color:#c62828'>{html.escape(str(exc))}</span>"
            return
        garbage = self.graph.garbage()
        self.header.value = (f"<span style='font-size:11px;color:#607d8b'>{len(self.graph.nodes)} nodes, "
                             f"{len({r.unflat() for r in self.graph.roots})} roots (bold); "
                             f"<span style='color:#2e7d32'>reachable</span>, "
                             f"<span style='color:#c62828'>{len(garbage)} to collect</span></span>")
        names = sorted(k.key for k in self.graph.nodes if k.type == "image")
        if list(self.images.options) != names:
            keep = self.images.value
            self.images.options = names
            self.images.value = keep if keep in names else (names[0] if names else None)
        self.svg.value = svg_of(content_graph(self.graph))

    def _collected(self, what: str, action: Any) -> list[Node]:
        before = self.read()
        action()
        after = self.read()
        self.last_removed = sorted(set(before.nodes) - set(after.nodes))
        self.collections += 1
        self.result.value = (f"<span style='font-size:11px'><b>{html.escape(what)}</b> removed "
                             f"{len(self.last_removed)}: {html.escape(_describe(self.last_removed))}</span>")
        self._redraw()
        return self.last_removed

    def collect(self) -> list[Node]:
        """Make the daemon collect now; return the nodes that went.

        Raises:
            PyctrdError kinds from the leases service.
        """
        def run() -> None:
            lease = self.client.leases.create()
            self.client.leases.delete(lease.id, sync=True)

        return self._collected("GC", run)

    def remove_image(self, name: str) -> list[Node]:
        """``images.delete(name, sync=True)``; return the nodes that went with it.

        Raises:
            NotFound: no such image.
        """
        return self._collected(f"remove {name}", lambda: self.client.images.delete(name, sync=True))

    def summary(self) -> str:
        roots = len({r.unflat() for r in self.graph.roots})
        return (f"<GCView {len(self.graph.nodes)} nodes, {roots} roots, {len(self.graph.garbage())} garbage; "
                f"last collection removed {len(self.last_removed)}>")[:110]
