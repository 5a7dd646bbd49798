"""Dashboard: plugins, files, snapshots, content and GC, pulls, architecture and events, in one widget."""
from __future__ import annotations

import html
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ..client import Client
from ..diagrams import architecture
from ..errdefs import PyctrdError
from .dir_tree import DirTree
from .event_log import EventLog
from .gc_view import GCView
from .live import EventFeed
from .plugin_graph import PluginGraph, svg_of
from .pull_progress import PullProgress
from .snapshot_chain import SnapshotChain

if TYPE_CHECKING:
    from ..lab import Lab

__all__ = ["Dashboard"]


class Dashboard(w.VBox):  # type: ignore[misc]  # ipywidgets is untyped
    """Tabs (plugins, files, snapshots, content & GC, pull, architecture) over an event log,
    all fed by one subscription. ``snapshotter`` is the one the snapshot tab shows and pulls
    unpack into; ``pull_ref`` fills the pull tab's box. With ``lab`` (:meth:`for_lab`) the plugin
    tab shows the lab's effective config and follows its restarts."""

    def __init__(self, client: Client, root: str | os.PathLike[str], state: str | os.PathLike[str], *,
                 disabled: Iterable[str] | None = None, interval: float = 0.2, snapshotter: str = "overlayfs",
                 pull_ref: str = "", lab: Lab | None = None) -> None:
        self.client = client
        self.feed = EventFeed.for_client(client).start()
        self.plugins = PluginGraph(client, disabled=disabled, lab=lab, feed=self.feed, interval=interval)
        self.files = DirTree(root, state, feed=self.feed, interval=interval)
        self.snapshots = SnapshotChain(client, snapshotter, feed=self.feed, interval=interval)
        self.gc = GCView(client, snapshotters=(snapshotter,), feed=self.feed, interval=interval)
        self.puller = PullProgress(client, pull_ref, snapshotter=snapshotter, watch=True, interval=interval)
        self.events = EventLog(feed=self.feed, interval=interval)
        self.arch = w.HTML(svg_of(architecture(self.plugins.plugins, address=client.address)))
        parts = {"Plugins": self.plugins, "Files": self.files, "Snapshots": self.snapshots,
                 "Content & GC": self.gc, "Pull": self.puller, "Architecture": self.arch}
        tabs = w.Tab(list(parts.values()))
        for i, title in enumerate(parts):
            tabs.set_title(i, title)
        try:
            v = client.version()
            head = f"pyctrd {html.escape(v.version)} at <code>{html.escape(client.address)}</code>"
        except PyctrdError as exc:
            head = f"<span style='color:#c62828'>{html.escape(str(exc))}</span>"
        super().__init__([w.HTML(f"<b>{head}</b>"), tabs, self.events])

    @classmethod
    def for_lab(cls, lab: Lab, **kw: Any) -> Dashboard:
        return cls(lab.client(), lab.root, lab.state, lab=lab, **kw)

    def summary(self) -> str:
        return (f"<Dashboard plugins={len(self.plugins.plugins)} snapshots={len(self.snapshots.infos)} "
                f"gc-nodes={len(self.gc.graph.nodes)} events={self.events.timeline.total} {self.client.address}>")[:110]

    def __repr__(self) -> str:
        return self.summary()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        data: dict[str, Any] = super()._repr_mimebundle_(**kwargs) or {}
        data["text/plain"] = self.summary()
        return data

    def stop(self) -> None:
        """Stop listening (the widgets stay on screen, frozen)."""
        for part in ("plugins", "events", "files", "snapshots", "gc", "puller", "feed"):
            if hasattr(self, part):
                getattr(self, part).stop()

    def close(self) -> None:
        self.stop()
        super().close()
