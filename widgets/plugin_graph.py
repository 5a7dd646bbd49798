"""PluginGraph: the live plugin graph, and the details of one plugin picked from a list."""
from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any

import graphviz
import ipywidgets as w

from ..client import Client, PluginInfo
from ..config import to_dict
from ..diagrams import plugin_graph, plugin_network
from ..diagrams.style import STATUS_STYLE
from ..errdefs import PyctrdError
from .live import LiveWidget

__all__ = ["PluginGraph", "default_sections", "svg_of"]


def svg_of(dot: graphviz.Digraph) -> str:
    """The drawing as inline SVG that shrinks to fit its box; a note if ``dot`` is missing."""
    try:
        svg = str(dot.pipe(format="svg", encoding="utf-8"))
    except graphviz.ExecutableNotFound:
        return "<i>graphviz's dot is not installed: <code>apt-get install graphviz</code></i>"
    svg = svg[svg.find("<svg"):]
    return svg.replace("<svg ", '<svg style="max-width:100%;height:auto" ', 1)


def default_sections() -> dict[str, Any]:
    """Every plugin's default config section, as ``pyctrd config default`` prints them."""
    from ..cmd.pyctrd import plugin_sections

    return plugin_sections()


def _legend() -> str:
    chips = "".join(f"<span style='border:1px solid {s['color']};background:{s['fillcolor']};"
                    f"padding:0 6px;margin-right:6px;border-radius:4px'>{name}</span>"
                    for name, s in STATUS_STYLE.items())
    return f"<div style='font-size:11px'>{chips} arrows: <i>requires</i>; #n: init order</div>"


def _toml_lines(section: Any) -> str:
    data = to_dict(section) if section is not None and not isinstance(section, dict) else (section or {})
    if not data:
        return "(no config)"
    return "\n".join(f"{k} = {v!r}" for k, v in data.items())


class PluginGraph(LiveWidget, w.VBox):  # type: ignore[misc]  # ipywidgets is untyped
    """The plugin graph of a daemon; choose a plugin to see its config, exports and error.

    ``disabled`` names plugins the config leaves out (drawn greyed); ``sections`` maps plugin
    URI -> config section (default: ``pyctrd config default``'s). Call :meth:`refresh` after
    the daemon restarts (optionally with a new client and disabled list).
    """

    def __init__(self, client: Client, *, disabled: Iterable[str] = (),
                 sections: Mapping[str, Any] | None = None, interval: float = 0.2, **throttle: Any) -> None:
        self.client = client
        self.disabled = list(disabled)
        self.sections = dict(sections) if sections is not None else default_sections()
        self.plugins: list[PluginInfo] = []
        self.error = ""
        self._refreshing = False
        self.svg = w.HTML(layout=w.Layout(overflow="auto", flex="3 1 0"))
        self.picker = w.Dropdown(description="plugin", layout=w.Layout(width="auto"))
        self.details = w.HTML()
        self.refresh_button = w.Button(description="refresh", icon="refresh", layout=w.Layout(width="100px"))
        self.refresh_button.on_click(lambda _: self.refresh())
        side = w.VBox([w.HBox([self.picker, self.refresh_button]), self.details],
                      layout=w.Layout(flex="2 1 0", min_width="280px"))
        super().__init__([w.HTML(_legend()), w.HBox([self.svg, side])])
        self._setup_live(interval, **throttle)
        self.picker.observe(self._picked, names="value")
        self.refresh()

    def _picked(self, change: Any) -> None:
        if not self._refreshing:
            self._redraw()  # a reader's pick: show it at once

    @property
    def selected(self) -> str | None:
        return self.picker.value  # type: ignore[no-any-return]

    def select(self, name: str) -> None:
        """Pick a plugin by URI or ID (raises ValueError if there is none)."""
        uri = next((v for _, v in self.picker.options if name in (v, v.rpartition(".")[2])), None)
        if uri is None:
            raise ValueError(f"no plugin {name!r} in the graph")
        self.picker.value = uri

    def refresh(self, client: Client | None = None, *, disabled: Iterable[str] | None = None) -> None:
        """Read the plugin list again (now), then redraw."""
        if client is not None:
            self.client = client
        if disabled is not None:
            self.disabled = list(disabled)
        try:
            self.plugins, self.error = self.client.plugins(), ""
        except PyctrdError as exc:
            self.plugins, self.error = [], f"cannot reach the daemon: {exc}"
        g = plugin_network(self.plugins, disabled=self.disabled)
        options = [(f"{d['id']} ({d['type'].split('.')[2]}, {d['status']})", u) for u, d in g.nodes(data=True)]
        keep = self.picker.value if self.picker.value in [v for _, v in options] else None
        self._refreshing = True
        try:
            self.picker.options = options
            self.picker.value = keep or (options[0][1] if options else None)
        finally:
            self._refreshing = False
        self._redraw()

    def redraw(self) -> None:
        if self.error:
            self.svg.value = f"<b style='color:#c62828'>{html.escape(self.error)}</b>"
            self.details.value = ""
            return
        self.svg.value = svg_of(plugin_graph(self.plugins, highlight=self.selected, disabled=self.disabled))
        self.details.value = self._details(self.selected)

    def _details(self, uri: str | None) -> str:
        if uri is None:
            return ""
        g = plugin_network(self.plugins, disabled=self.disabled)
        d = g.nodes[uri]
        colour = STATUS_STYLE[d["status"]]["color"]
        order = f" · init #{d['order']}" if d["order"] else ""
        rows = [f"<b>{html.escape(d['id'])}</b> <span style='color:{colour}'>{d['status']}</span>{order}",
                f"<div><code>{html.escape(d['type'])}</code></div>"]
        if d["status"] == "disabled":
            rows.append("<div>left out by <code>disabled_plugins</code>: never initialised</div>")
        if d["error"]:
            rows.append(f"<div style='color:{colour}'><b>error:</b> {html.escape(d['error'])}</div>")
        req = ", ".join(g.nodes[v]["id"] for v in g.successors(uri))
        rows.append(f"<div><b>requires:</b> {html.escape(', '.join(d['requires']) or '-')}"
                    f"{' → ' + html.escape(req) if req else ''}</div>")
        if d["exports"]:
            rows.append("<div><b>exports:</b></div><pre style='font-size:11px;margin:0'>" + html.escape(
                "\n".join(f"{k} = {v}" for k, v in d["exports"].items())) + "</pre>")
        rows.append(f"<div><b>config</b> <code>[plugins.\"{html.escape(uri)}\"]</code> (defaults):</div>"
                    f"<pre style='font-size:11px;margin:0'>{html.escape(_toml_lines(self.sections.get(uri)))}</pre>")
        return "".join(rows)

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for p in self.plugins:
            counts[p.status] = counts.get(p.status, 0) + 1
        status = " ".join(f"{k}={v}" for k, v in sorted(counts.items()))
        return f"<PluginGraph {len(self.plugins)} plugins {status} disabled={len(self.disabled)}>"
