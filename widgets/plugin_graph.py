"""PluginGraph: the live plugin graph; click a plugin (or pick it from the list) for its details."""
from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import graphviz
import ipywidgets as w

from ..client import Client, PluginInfo
from ..config import to_dict
from ..diagrams import plugin_graph, plugin_network
from ..diagrams.style import STATUS_STYLE
from ..errdefs import PyctrdError
from . import daemon_config
from .daemon_config import KnownConfig
from .live import EventFeed, LiveWidget

if TYPE_CHECKING:
    from ..lab import Lab

try:  # the clickable drawing needs anywidget's frontend; without it the list alone picks
    from .svg_view import SvgView
except ImportError:  # pragma: no cover - anywidget is in the [jupyter] extra
    SvgView = None  # type: ignore[assignment,misc]

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
    return daemon_config.unknown().sections


def _legend(hint: str = "") -> str:
    chips = "".join(f"<span style='border:1px solid {s['color']};background:{s['fillcolor']};"
                    f"padding:0 6px;margin-right:6px;border-radius:4px'>{name}</span>"
                    for name, s in STATUS_STYLE.items())
    return f"<div style='font-size:11px'>{chips} arrows: <i>requires</i>; #n: init order{hint}</div>"


def _toml_lines(section: Any) -> str:
    data = to_dict(section) if section is not None and not isinstance(section, dict) else (section or {})
    if not data:
        return "(no config)"
    return "\n".join(f"{k} = {v!r}" for k, v in data.items())


class PluginGraph(LiveWidget, w.VBox):  # type: ignore[misc]  # ipywidgets is untyped
    """The plugin graph of a daemon; click a plugin (or choose it in the list) to see its config
    section, exports and error.

    The config shown is the daemon's effective one when this widget knows it - built with
    :meth:`for_lab` (the lab knows the config it started the daemon with), or given the
    ``config_text`` - and the defaults otherwise (the details say which). ``disabled`` names
    plugins the config leaves out, drawn greyed (default: the config's ``disabled_plugins``
    when known, else none); ``sections`` forces the sections shown.

    It follows the daemon: when its event subscription (``feed``, else one of its own) comes
    back after the daemon went away - a restart, maybe with a new config - it reads the
    plugins (and the lab's config) again and redraws. :meth:`refresh` does that now.
    """

    def __init__(self, client: Client, *, disabled: Iterable[str] | None = None,
                 sections: Mapping[str, Any] | None = None, config_text: str | None = None,
                 lab: Lab | None = None, feed: EventFeed | None = None, follow: bool = True,
                 interval: float = 0.2, **throttle: Any) -> None:
        self.client, self.lab = client, lab
        self._disabled_given = list(disabled) if disabled is not None else None
        self._sections_given = dict(sections) if sections is not None else None
        self._config_text = config_text
        self.config = self._read_config()
        self.disabled: list[str] = []
        self.plugins: list[PluginInfo] = []
        self.error = ""
        self._refreshing = False
        self._stale = False
        box = w.Layout(overflow="auto", flex="3 1 0")
        self.svg = SvgView(id_prefix="plugin-", layout=box) if SvgView is not None else w.HTML(layout=box)
        self.picker = w.Dropdown(description="plugin", layout=w.Layout(width="auto"))
        self.details = w.HTML()
        self.refresh_button = w.Button(description="refresh", icon="refresh", layout=w.Layout(width="100px"))
        self.refresh_button.on_click(lambda _: self.refresh())
        side = w.VBox([w.HBox([self.picker, self.refresh_button]), self.details],
                      layout=w.Layout(flex="2 1 0", min_width="280px"))
        hint = " · click a plugin" if SvgView is not None else ""
        super().__init__([w.HTML(_legend(hint)), w.HBox([self.svg, side])])
        self._setup_live(interval, **throttle)
        self.picker.observe(self._picked, names="value")
        if SvgView is not None:
            self.svg.observe(self._clicked, names="selected")
        self._owns_feed = follow and feed is None
        self.feed = EventFeed.for_client(client) if self._owns_feed else feed
        if self.feed is not None:
            self.feed.add_reconnect_listener(self._on_reconnect)
            if self._owns_feed:
                self.feed.start(wait=0)  # only its reconnects matter: no need to wait for it
        self.refresh()

    @classmethod
    def for_lab(cls, lab: Lab, **kw: Any) -> PluginGraph:
        """A graph of ``lab``'s daemon that shows its effective config and follows its restarts."""
        return cls(lab.client(), lab=lab, **kw)

    def _read_config(self) -> KnownConfig:
        if self._sections_given is not None:
            return KnownConfig(self._sections_given, None, False, "as given")
        if self.lab is not None:
            return daemon_config.for_lab(self.lab)
        if self._config_text is not None:
            try:
                return daemon_config.from_text(self._config_text)
            except PyctrdError as exc:
                return daemon_config.unknown(f"the config does not load ({exc})")
        return daemon_config.unknown("the daemon's config is not known here (PluginGraph.for_lab(lab) or "
                                     "config_text= show its own)")

    @property
    def sections(self) -> dict[str, Any]:
        return self.config.sections

    def _picked(self, change: Any) -> None:
        if not self._refreshing:
            self._redraw()  # a reader's pick: show it at once

    def _clicked(self, change: Any) -> None:
        """A click in the drawing (the view set ``selected``): the list follows, or the click is undone."""
        name = change["new"]
        if self._refreshing or name == self.picker.value:
            return
        if name in {v for _, v in self.picker.options}:
            self.picker.value = name  # -> _picked -> redraw
        else:
            self.svg.selected = self.picker.value

    def _on_reconnect(self) -> None:
        """The feed's thread: the daemon is back (maybe another config); re-read on the widgets' thread."""
        self._stale = True
        self.request_redraw()

    @property
    def selected(self) -> str | None:
        return self.picker.value  # type: ignore[no-any-return]

    def select(self, name: str) -> None:
        """Pick a plugin by URI or ID (raises ValueError if there is none)."""
        uri = next((v for _, v in self.picker.options if name in (v, v.rpartition(".")[2])), None)
        if uri is None:
            raise ValueError(f"no plugin {name!r} in the graph")
        self.picker.value = uri

    def refresh(self, client: Client | None = None, *, disabled: Iterable[str] | None = None,
                config_text: str | None = None) -> None:
        """Read the plugin list (and the config, when known) again, now; then redraw."""
        with self._redraw_lock:
            if client is not None:
                self.client = client
            if disabled is not None:
                self._disabled_given = list(disabled)
            if config_text is not None:
                self._config_text = config_text
            self._load()
        self._redraw()

    def _load(self) -> None:
        self._stale = False
        self.config = self._read_config()
        if self._disabled_given is not None:
            self.disabled = list(self._disabled_given)
        elif self.config.disabled is not None:
            self.disabled = list(self.config.disabled)
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

    def redraw(self) -> None:
        if self._stale:  # after a reconnect (gRPC reconnects the client's channel by itself)
            if self.lab is not None:
                self._disabled_given = None  # the lab's config says what is disabled now
            self._load()
        if self.error:
            self.svg.value = f"<b style='color:#c62828'>{html.escape(self.error)}</b>"
            self.details.value = ""
            return
        self.svg.value = svg_of(plugin_graph(self.plugins, highlight=self.selected, disabled=self.disabled))
        if SvgView is not None:
            self.svg.selected = self.selected
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
        which = "effective" if self.config.effective else "defaults"
        rows.append(f"<div><b>config</b> <code>[plugins.\"{html.escape(uri)}\"]</code> ({which}):</div>"
                    f"<pre style='font-size:11px;margin:0'>{html.escape(_toml_lines(self.sections.get(uri)))}</pre>"
                    f"<div style='font-size:10px;color:#607d8b'>{html.escape(self.config.note)}</div>")
        return "".join(rows)

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for p in self.plugins:
            counts[p.status] = counts.get(p.status, 0) + 1
        status = " ".join(f"{k}={v}" for k, v in sorted(counts.items()))
        return f"<PluginGraph {len(self.plugins)} plugins {status} disabled={len(self.disabled)}>"

    def stop(self) -> None:
        """Stop following the daemon (and the subscription, if this graph started it)."""
        self._leave_feed(lambda feed: feed.remove_reconnect_listener(self._on_reconnect))
