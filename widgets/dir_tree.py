"""DirTree: the daemon's root and state directories side by side, redrawn as events arrive."""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ..diagrams import DirSnapshot, dir_tree, scan
from .live import EventFeed, LiveWidget

if TYPE_CHECKING:
    from ..lab import Lab

__all__ = ["FLASH_CSS", "DirTree"]

#: Changed lines fade from yellow: the "flash" that says "this just happened".
FLASH_CSS = """<style>
@keyframes pyctrd-flash { from { background: #fff176; } to { background: transparent; } }
.pyctrd-changed { animation: pyctrd-flash 2.5s ease-out; }
</style>"""


class DirTree(LiveWidget, w.VBox):  # type: ignore[misc]  # ipywidgets is untyped
    """Root and state trees; each event (or ``refresh``) rescans and marks what changed since
    the previous scan - or since :meth:`set_baseline`, once called."""

    def __init__(self, root: str | os.PathLike[str], state: str | os.PathLike[str], *,
                 feed: EventFeed | None = None, max_entries: int = 12, max_depth: int = 4,
                 interval: float = 0.2, **throttle: Any) -> None:
        self.paths = {"root": Path(root), "state": Path(state)}
        self.max_entries, self.max_depth = max_entries, max_depth
        self.views = {k: w.HTML(layout=w.Layout(flex="1 1 0", overflow="auto")) for k in self.paths}
        self.snapshots: dict[str, DirSnapshot | None] = dict.fromkeys(self.paths)
        self.baseline: dict[str, DirSnapshot | None] = dict.fromkeys(self.paths)
        self.changes: dict[str, Any] = {}
        self.status = w.HTML()
        refresh = w.Button(description="refresh", icon="refresh", layout=w.Layout(width="100px"))
        refresh.on_click(lambda _: self.refresh())
        base = w.Button(description="set baseline", icon="flag", layout=w.Layout(width="130px"),
                        tooltip="mark changes relative to the trees as they are now")
        base.on_click(lambda _: self.set_baseline())
        super().__init__([w.HTML(FLASH_CSS), w.HBox([refresh, base, self.status]),
                          w.HBox(list(self.views.values()))])
        self._setup_live(interval, **throttle)
        self.feed = feed
        if feed is not None:
            feed.add_listener(self._on_event)
        self.refresh()

    @classmethod
    def for_lab(cls, lab: Lab, *, feed: EventFeed | None = None, **kw: Any) -> DirTree:
        return cls(lab.root, lab.state, feed=feed, **kw)

    def _on_event(self, envelope: Any) -> None:
        self.request_redraw()

    def refresh(self) -> None:
        """Rescan now."""
        self._redraw()

    def set_baseline(self) -> None:
        """From now on, mark changes relative to the trees as they are at this moment."""
        for k, p in self.paths.items():
            self.baseline[k] = scan(p, max_depth=self.max_depth) if p.exists() else None
        self._redraw()

    def redraw(self) -> None:
        for k, p in self.paths.items():
            if not p.exists():
                self.views[k].value = f"<i>{p} does not exist (yet)</i>"
                self.snapshots[k] = None
                continue
            previous = self.baseline[k] or self.snapshots[k]
            tree = dir_tree(p, previous=previous, max_entries=self.max_entries, max_depth=self.max_depth,
                            title=f"{k}: {p}")
            self.snapshots[k] = tree.snapshot
            self.changes[k] = tree.changes
            self.views[k].value = tree.html()
        since = "baseline" if any(self.baseline.values()) else "previous scan"
        self.status.value = (f"<span style='font-size:11px;color:#607d8b'>scan #{self.redraws + 1}; "
                             f"marks: changes since {since}</span>")

    def text(self) -> str:
        """Both trees as text (what the terminal shows)."""
        return "\n\n".join(dir_tree(p, max_entries=self.max_entries, max_depth=self.max_depth,
                                    title=f"{k}: {p}").text() for k, p in self.paths.items() if p.exists())

    def summary(self) -> str:
        ch = " ".join(f"{k}:{c!r}" for k, c in self.changes.items() if c)
        return f"<DirTree {self.paths['root'].name}+{self.paths['state'].name} scans={self.redraws} {ch}>"
