"""SnapshotChain: a snapshotter's chains, the active snapshots' mounts and whiteouts, kept live."""
from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from ..client import Client
from ..core.events import Envelope
from ..core.mount import Mount
from ..core.snapshots import Info, Kind, Usage
from ..diagrams import snapshot_chain, snapshot_tree_text, whiteouts_from_mounts
from ..diagrams.snapshots import Whiteout, chain_summary
from ..errdefs import PyctrdError
from .live import EventFeed, LiveWidget
from .plugin_graph import svg_of

__all__ = ["SnapshotChain"]


class SnapshotChain(LiveWidget, w.VBox):  # type: ignore[misc]  # ipywidgets is untyped
    """The snapshots of ``snapshotter`` as chains, redrawn on every ``/snapshot/*`` event
    (prepare, commit, remove: as containerd, the daemon publishes none for a view - call
    :meth:`refresh`).

    Each redraw lists the snapshots (``walk``), asks for the mounts of the active and view
    ones, the usage of each (``usage=False`` skips that: it walks directories), and - with
    ``whiteouts`` - looks in the layer directories those mounts name for overlayfs' whiteout
    markers. Without a ``feed`` it subscribes by itself (stopped by :meth:`stop`).
    """

    def __init__(self, client: Client, snapshotter: str = "overlayfs", *, feed: EventFeed | None = None,
                 highlight: str | None = None, usage: bool = True, whiteouts: bool = True,
                 interval: float = 0.2, **throttle: Any) -> None:
        self.client, self.name = client, snapshotter
        self.highlight, self.with_usage, self.with_whiteouts = highlight, usage, whiteouts
        self.infos: list[Info] = []
        self.mounts: dict[str, list[Mount]] = {}
        self.usage: dict[str, Usage] = {}
        self.whiteouts: dict[str, list[Whiteout]] = {}
        self.error = ""
        self.header = w.HTML()
        self.svg = w.HTML(layout=w.Layout(overflow="auto"))
        refresh = w.Button(description="refresh", icon="refresh", layout=w.Layout(width="100px"))
        refresh.on_click(lambda _: self.refresh())
        super().__init__([w.HBox([refresh, self.header]), self.svg])
        self._setup_live(interval, **throttle)
        self._join_feed(client, feed)
        self.refresh()

    def _on_event(self, envelope: Envelope) -> None:
        if envelope.topic.startswith("/snapshot/"):
            self.request_redraw()

    def refresh(self) -> None:
        """Redraw now."""
        self._redraw()

    def read(self) -> None:
        """Ask the daemon (and the layer directories) for everything the drawing shows."""
        sn = self.client.snapshotter(self.name)
        infos = list(sn.walk())
        mounts: dict[str, list[Mount]] = {}
        usage: dict[str, Usage] = {}
        for i in infos:
            try:  # a snapshot may go between walk and these calls: draw what is still there
                if i.kind != Kind.COMMITTED:
                    mounts[i.name] = sn.mounts(i.name)
                if self.with_usage:
                    usage[i.name] = sn.usage(i.name)
            except PyctrdError:
                continue
        self.infos, self.mounts, self.usage = infos, mounts, usage
        self.whiteouts = whiteouts_from_mounts(infos, mounts) if self.with_whiteouts else {}

    def redraw(self) -> None:
        try:
            self.read()
            self.error = ""
        except PyctrdError as exc:  # the daemon is restarting, say: keep the last drawing
            self.error = str(exc)
            self.header.value = f"<span style='color:#c62828'>{html.escape(self.error)}</span>"
            return
        s = chain_summary(self.infos)
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(s["kinds"].items())) or "no snapshots"
        self.header.value = (f"<b>{html.escape(self.name)}</b> <span style='font-size:11px;color:#607d8b'>"
                             f"{kinds}; longest chain {s['depth']}</span>")
        self.svg.value = svg_of(snapshot_chain(self.infos, mounts=self.mounts, usage=self.usage,
                                               highlight=self.highlight, whiteouts=self.whiteouts))

    def text(self) -> str:
        """The chains as text (``ctr snapshots tree`` with kinds)."""
        return snapshot_tree_text(self.infos)

    def summary(self) -> str:
        s = chain_summary(self.infos)
        kinds = " ".join(f"{k}={n}" for k, n in sorted(s["kinds"].items())) or "empty"
        n_wh = sum(len(v) for v in self.whiteouts.values())
        return f"<SnapshotChain {self.name} {kinds} depth={s['depth']} whiteouts={n_wh}>"[:110]
