"""The big picture: clients speak gRPC over a unix socket to one daemon made of plugins.

Blocks follow containerd's architecture drawing - API services on top of Metadata, which
sits on Storage (content, snapshots, diff), beside the Runtime (shims that run runc) - and
are filled from the *live* plugin list, so a block shows what this daemon actually loaded::

    architecture(client.plugins(), address=client.address)

>>> from pyctrd.client import PluginInfo
>>> dot = architecture([PluginInfo("io.containerd.content.v1", "content")])
>>> "Storage" in dot.source and "content" in dot.source
True
"""
from __future__ import annotations

import html
from collections.abc import Sequence

import graphviz

from ..client import PluginInfo
from .style import FONT, STATUS_STYLE

__all__ = ["BLOCKS", "architecture", "block_of"]

#: Block name -> the plugin types drawn in it (order is top to bottom in the drawing).
BLOCKS: dict[str, tuple[str, ...]] = {
    "API": ("io.containerd.grpc.v1", "io.containerd.ttrpc.v1"),
    "Services": ("io.containerd.service.v1",),
    "Metadata": ("io.containerd.metadata.v1", "io.containerd.lease.v1", "io.containerd.gc.v1"),
    "Events": ("io.containerd.event.v1",),
    "Storage": ("io.containerd.content.v1", "io.containerd.snapshotter.v1", "io.containerd.differ.v1"),
    "Runtime": ("io.containerd.runtime.v1", "io.containerd.runtime.v2", "io.containerd.monitor.v1"),
}
_CLIENTS = (("pyctr", "pyctr (CLI)"), ("ctr", "ctr (containerd's CLI)"),
            ("notebook", "notebook\\n(pyctrd.client)"))


def block_of(type_: str) -> str:
    """The block a plugin type belongs to (``Internal`` for the rest).

    >>> block_of("io.containerd.snapshotter.v1"), block_of("io.containerd.internal.v1")
    ('Storage', 'Internal')
    """
    return next((b for b, types in BLOCKS.items() if type_ in types), "Internal")


def _label(block: str, plugins: list[PluginInfo]) -> str:
    """An HTML-like table: one row per plugin, coloured by status."""
    rows = [f'<tr><td colspan="2"><b>{block}</b></td></tr>']
    for p in plugins:
        style = STATUS_STYLE[p.status]
        rows.append(f'<tr><td align="left" bgcolor="{style["fillcolor"]}">{html.escape(p.id)}</td>'
                    f'<td align="left"><font point-size="9" color="#607d8b">{html.escape(p.status)}'
                    "</font></td></tr>")
    if not plugins:
        rows.append('<tr><td colspan="2"><font color="#9e9e9e">(none loaded)</font></td></tr>')
    return '<<table border="0" cellborder="1" cellspacing="0" cellpadding="3">' + "".join(rows) + "</table>>"


def architecture(plugins: Sequence[PluginInfo], *, address: str = "pyctrd.sock") -> graphviz.Digraph:
    """Clients -> gRPC socket -> the daemon's blocks, and the runtime's shim -> runc -> container."""
    by_block: dict[str, list[PluginInfo]] = {b: [] for b in (*BLOCKS, "Internal")}
    for p in plugins:
        by_block[block_of(p.type)].append(p)
    dot = graphviz.Digraph("architecture", graph_attr={
        "rankdir": "LR", "fontname": FONT, "compound": "true", "nodesep": "0.3", "ranksep": "0.45"},
        node_attr={"fontname": FONT, "fontsize": "11", "shape": "box", "style": "rounded"},
        edge_attr={"color": "#607d8b", "fontname": FONT, "fontsize": "9"})
    with dot.subgraph(name="cluster_clients") as c:
        c.attr(label="clients", style="dashed", color="#90a4ae")
        for name, label in _CLIENTS:
            c.node(name, label)
    dot.node("grpc", f"gRPC\\n{address}", shape="cds", style="filled", fillcolor="#e3f2fd")
    for name, _ in _CLIENTS:
        dot.edge(name, "grpc")
    with dot.subgraph(name="cluster_daemon") as d:
        d.attr(label="pyctrd (one process)", style="rounded,bold", color="#37474f")
        for block, members in by_block.items():
            if block == "Internal" and not members:
                continue
            d.node(block, _label(block, members), shape="plaintext", style="")
    dot.edge("grpc", "API", label="requests")
    dot.edge("API", "Services")
    dot.edge("Services", "Metadata")
    dot.edge("Services", "Runtime")
    dot.edge("Services", "Events", style="dashed", label="publish")
    dot.edge("Metadata", "Storage", label="names -> data")
    dot.node("shim", "shim\\n(one per container)", style="filled", fillcolor="#fff8e1")
    dot.node("runc", "runc", style="filled", fillcolor="#fff8e1")
    dot.node("container", "container\\nprocesses", shape="component")
    dot.edge("Runtime", "shim", label="ttrpc")
    dot.edge("shim", "runc", label="exec")
    dot.edge("runc", "container", label="clone + exec")
    dot.edge("shim", "Events", style="dashed", label="/tasks/exit …", constraint="false")
    return dot
