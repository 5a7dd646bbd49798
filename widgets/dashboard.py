"""Dashboard: plugins, directories, architecture and events of one daemon, in one widget."""
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
from .live import EventFeed
from .plugin_graph import PluginGraph, svg_of

if TYPE_CHECKING:
    from ..lab import Lab

__all__ = ["Dashboard"]


class Dashboard(w.VBox):  # type: ignore[misc]  # ipywidgets is untyped
    """Tabs (plugins, files, architecture) over an event log, all fed by one subscription."""

    def __init__(self, client: Client, root: str | os.PathLike[str], state: str | os.PathLike[str], *,
                 disabled: Iterable[str] = (), interval: float = 0.2) -> None:
        self.client = client
        self.feed = EventFeed.for_client(client).start()
        self.plugins = PluginGraph(client, disabled=disabled, interval=interval)
        self.files = DirTree(root, state, feed=self.feed, interval=interval)
        self.events = EventLog(feed=self.feed, interval=interval)
        self.arch = w.HTML(svg_of(architecture(self.plugins.plugins, address=client.address)))
        tabs = w.Tab([self.plugins, self.files, self.arch])
        for i, title in enumerate(("Plugins", "Files", "Architecture")):
            tabs.set_title(i, title)
        try:
            v = client.version()
            head = f"pyctrd {html.escape(v.version)} at <code>{html.escape(client.address)}</code>"
        except PyctrdError as exc:
            head = f"<span style='color:#c62828'>{html.escape(str(exc))}</span>"
        super().__init__([w.HTML(f"<b>{head}</b>"), tabs, self.events])

    @classmethod
    def for_lab(cls, lab: Lab, **kw: Any) -> Dashboard:
        return cls(lab.client(), lab.root, lab.state, **kw)

    def summary(self) -> str:
        return (f"<Dashboard {self.client.address} plugins={len(self.plugins.plugins)} "
                f"events={self.events.timeline.total}>")[:110]

    def __repr__(self) -> str:
        return self.summary()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        data: dict[str, Any] = super()._repr_mimebundle_(**kwargs) or {}
        data["text/plain"] = self.summary()
        return data

    def stop(self) -> None:
        """Stop listening (the widgets stay on screen, frozen)."""
        for part in ("events", "files", "feed"):
            if hasattr(self, part):
                getattr(self, part).stop()

    def close(self) -> None:
        self.stop()
        super().close()
