"""The plugin graph: which plugins the daemon has, what each requires, how each one fared.

Built from what a client sees (``client.plugins()``, in init order) - never from daemon
internals - so it draws pyctrd and a real containerd alike::

    from pyctrd.diagrams import plugin_graph
    plugin_graph(client.plugins(), disabled=["io.containerd.snapshotter.v1.zfs"])

Each plugin is a node, clustered by type, numbered in init order and coloured by status
(ok / skip / error; the error is the tooltip). An edge ``a -> b`` means "a requires b's
type": ``requires`` lists *types*, so an edge goes to every plugin of that type, and ``"*"``
to every other plugin. Plugins disabled by config are absent from the live list; pass their
names in ``disabled`` to see them greyed out where they would have been.

>>> from pyctrd.client import PluginInfo
>>> live = [PluginInfo("t.store", "a"), PluginInfo("t.store", "b", error_code=2, error="x: skip plugin"),
...         PluginInfo("t.svc", "s", requires=("t.store",))]
>>> sorted(requires_edges(live))
[('t.svc.s', 't.store.a'), ('t.svc.s', 't.store.b')]
>>> plugin_network(live).nodes["t.store.b"]["status"]
'skip'
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import graphviz
import networkx as nx

from ..client import PluginInfo
from .style import FONT, STATUS_STYLE, short_type

if TYPE_CHECKING:
    from ..plugin import Registry

__all__ = ["plugin_graph", "plugin_network", "plugin_table", "requires_edges"]

ALL = "*"


def _expand(uri: str, requires: Iterable[str], nodes: dict[str, str]) -> list[tuple[str, str]]:
    """Edges from ``uri`` to every node (uri -> type) whose type it requires."""
    edges = []
    for t in requires:
        edges += [(uri, other) for other, ot in nodes.items() if other != uri and (t == ALL or ot == t)]
    return edges


def requires_edges(plugins: Sequence[PluginInfo]) -> list[tuple[str, str]]:
    """``(plugin uri, required plugin uri)`` with type requirements and ``"*"`` expanded."""
    nodes = {p.uri: p.type for p in plugins}
    return [e for p in plugins for e in _expand(p.uri, p.requires, nodes)]


def _default_registry() -> Registry:
    from .. import builtins  # noqa: F401 - registers every plugin
    from ..plugin import REGISTRY

    return REGISTRY


def _resolve_disabled(disabled: Iterable[str], live: set[str],
                      registry: Registry | None) -> list[tuple[str, str, tuple[str, ...]]]:
    """``(type, id, requires)`` for each disabled name (a URI or a bare ID, as config allows)."""
    names = [d for d in disabled if d]
    if not names:
        return []
    reg = registry if registry is not None else _default_registry()
    out: list[tuple[str, str, tuple[str, ...]]] = []
    for name in names:
        matches = [r for r in reg if name in (r.uri, r.id)]
        if not matches and "." in name:  # unknown to this registry: trust the URI's shape
            type_, _, id_ = name.rpartition(".")
            out.append((type_, id_, ()))
        out += [(r.type, r.id, tuple(r.requires)) for r in matches]
    return [d for d in dict.fromkeys(out) if f"{d[0]}.{d[1]}" not in live]


def plugin_network(plugins: Sequence[PluginInfo], *, disabled: Iterable[str] = (),
                   registry: Registry | None = None) -> nx.DiGraph:
    """The plugin graph as networkx: node per URI, edge plugin -> required plugin.

    Node attributes: ``type``, ``id``, ``status`` (ok/skip/error/disabled), ``order`` (1-based
    init order, None when disabled), ``error``, ``exports``. ``registry`` (default: pyctrd's
    own) resolves disabled names to their type and requirements.
    """
    g = nx.DiGraph()
    for n, p in enumerate(plugins, 1):
        g.add_node(p.uri, type=p.type, id=p.id, status=p.status, order=n, error=p.error,
                   exports=dict(p.exports), requires=tuple(p.requires))
    for type_, id_, req in _resolve_disabled(disabled, {p.uri for p in plugins}, registry):
        g.add_node(f"{type_}.{id_}", type=type_, id=id_, status="disabled", order=None, error="",
                   exports={}, requires=req)
    types = {u: d["type"] for u, d in g.nodes(data=True)}
    for u, d in list(g.nodes(data=True)):
        g.add_edges_from(_expand(u, d["requires"], types))
    return g


def _matches(uri: str, data: dict[str, object], wanted: set[str]) -> bool:
    return uri in wanted or data["id"] in wanted


def plugin_graph(plugins: Sequence[PluginInfo], *, highlight: str | Iterable[str] | None = None,
                 disabled: Iterable[str] = (), registry: Registry | None = None,
                 rankdir: str = "LR") -> graphviz.Digraph:
    """A graphviz drawing of :func:`plugin_network`; ``highlight`` (URIs or IDs) gets a thick
    border and its requires edges (both ways) drawn in blue."""
    g = plugin_network(plugins, disabled=disabled, registry=registry)
    wanted = {highlight} if isinstance(highlight, str) else set(highlight or ())
    lit = {u for u, d in g.nodes(data=True) if _matches(u, d, wanted)}
    dot = graphviz.Digraph("plugins", graph_attr={"rankdir": rankdir, "fontname": FONT, "nodesep": "0.15",
                                                   "ranksep": "0.5", "tooltip": "pyctrd plugins"},
                           node_attr={"shape": "box", "fontname": FONT, "fontsize": "11", "height": "0.3"},
                           edge_attr={"color": "#90a4ae", "arrowsize": "0.6"})
    by_type: dict[str, list[str]] = {}
    for u, d in g.nodes(data=True):
        by_type.setdefault(d["type"], []).append(u)
    for type_, uris in by_type.items():
        with dot.subgraph(name=f"cluster_{type_}") as c:
            c.attr(label=short_type(type_), tooltip=type_, style="rounded", color="#cfd8dc",
                   fontcolor="#546e7a", fontsize="10")
            for u in uris:
                d = g.nodes[u]
                order = f"#{d['order']}" if d["order"] else "disabled"
                tip = d["error"] or (f"{u} ({d['status']})" + "".join(
                    f"\\n{k}={v}" for k, v in d["exports"].items()))
                attrs = dict(STATUS_STYLE[d["status"]])
                if u in lit:
                    attrs.update(penwidth="3", color="#1565c0")
                c.node(u, label=f"{d['id']}\\n{order}", tooltip=tip, id=f"plugin-{u}", **attrs)
    for a, b in g.edges:
        attrs = {}
        if "disabled" in (g.nodes[a]["status"], g.nodes[b]["status"]):
            attrs = {"style": "dashed", "color": "#bdbdbd"}
        if a in lit or b in lit:
            attrs = {"color": "#1565c0", "penwidth": "2"}
        dot.edge(a, b, **attrs)
    return dot


def plugin_table(plugins: Sequence[PluginInfo], *, disabled: Iterable[str] = (),
                 registry: Registry | None = None) -> Any:
    """A rich Table for the terminal: init order, type, ID, status and what each requires."""
    from rich.table import Table

    g = plugin_network(plugins, disabled=disabled, registry=registry)
    colours = {"ok": "green", "skip": "yellow", "error": "bold red", "disabled": "dim"}
    t = Table("#", "TYPE", "ID", "STATUS", "REQUIRES", title=f"{len(plugins)} plugins")
    for u, d in g.nodes(data=True):
        st = d["status"]
        t.add_row(str(d["order"] or "-"), d["type"], d["id"], f"[{colours[st]}]{st}[/]",
                  ", ".join(g.nodes[v]["id"] for v in g.successors(u)))
    return t
