"""The big picture: clients speak gRPC over a unix socket to one daemon made of plugins.

Blocks follow containerd's architecture (``design/architecture.md``): two **subsystems**,
*Bundle* and *Runtime*, over cross-cutting **modules** - API services on top of Metadata,
which sits on Storage (content, snapshots, diff), and Events. A *bundle* is the on-disk form
of a runtime container: the runtime v2 task manager writes one per task under
``<state>/io.containerd.runtime.v2.task/<namespace>/<id>/`` - ``config.json`` (the OCI spec
from the container record in Metadata) and ``rootfs/`` (the snapshot's mounts from Storage) -
and the Runtime hands it to a shim, which runs ``runc --bundle``. So the Bundle sits between
Storage/Metadata and the Runtime. The blocks are filled from the *live* plugin list, so a
block shows what this daemon actually loaded::

    architecture(client.plugins(), address=client.address)

The result is a :class:`~pyctrd.diagrams.drawing.Drawing`: SVG in a notebook, and
``.text()`` / ``rich.print(...)`` in a terminal.

>>> from pyctrd.client import PluginInfo
>>> dot = architecture([PluginInfo("io.containerd.content.v1", "content")])
>>> "Storage" in dot.source and "content" in dot.source
True
>>> print(dot.text().splitlines()[7])
Storage    content
"""
from __future__ import annotations

import html
import textwrap
from collections.abc import Sequence

from ..client import PluginInfo
from .drawing import Drawing
from .style import FONT, STATUS_STYLE

__all__ = ["BLOCKS", "BUNDLE_DIR", "SUBSYSTEMS", "architecture", "architecture_text", "block_of"]

#: Block name -> the plugin types drawn in it (order is top to bottom in the drawing).
BLOCKS: dict[str, tuple[str, ...]] = {
    "API": ("io.containerd.grpc.v1", "io.containerd.ttrpc.v1"),
    "Services": ("io.containerd.service.v1",),
    "Metadata": ("io.containerd.metadata.v1", "io.containerd.lease.v1", "io.containerd.gc.v1"),
    "Events": ("io.containerd.event.v1",),
    "Storage": ("io.containerd.content.v1", "io.containerd.snapshotter.v1", "io.containerd.differ.v1"),
    "Bundle": (),  # no plugin type of its own: the runtime v2 task manager writes the bundles
    "Runtime": ("io.containerd.runtime.v1", "io.containerd.runtime.v2", "io.containerd.monitor.v1"),
}
#: containerd's two subsystems; the other blocks are modules that cross them.
SUBSYSTEMS = ("Bundle", "Runtime")
#: Where a task's bundle lives (under the daemon's state directory).
BUNDLE_DIR = "io.containerd.runtime.v2.task/<namespace>/<id>"
_BUNDLE_MAKERS = ("io.containerd.runtime.v2",)
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




def _bundle_label(makers: list[PluginInfo], state: str, bundles: Sequence[str]) -> str:
    """The Bundle subsystem: where a bundle lives, what goes in it, who writes it, which exist."""
    def row(text: str, colour: str = "#37474f", bg: str = "") -> str:
        fill = f' bgcolor="{bg}"' if bg else ""
        return (f'<tr><td colspan="2" align="left"{fill}><font point-size="9" color="{colour}">{text}</font>'
                "</td></tr>")

    rows = ['<tr><td colspan="2"><b>Bundle</b> <font point-size="9">(subsystem)</font></td></tr>',
            row(html.escape(f"{state.rstrip('/')}/{BUNDLE_DIR}/")),
            row("config.json  &#8592; container spec (Metadata)"),
            row("rootfs/  &#8592; snapshot mounts (Storage)")]
    rows += [row(f"written by {html.escape(p.id)} ({html.escape(p.type)}, {html.escape(p.status)})",
                 bg=STATUS_STYLE[p.status]["fillcolor"]) for p in makers]
    if not makers:
        rows.append(row("(no runtime v2 plugin: no bundles)", "#9e9e9e"))
    rows += [row(f"bundle {html.escape(b)}", "#1565c0") for b in bundles]
    return '<<table border="0" cellborder="1" cellspacing="0" cellpadding="3">' + "".join(rows) + "</table>>"


def _group(plugins: Sequence[PluginInfo]) -> dict[str, list[PluginInfo]]:
    by_block: dict[str, list[PluginInfo]] = {b: [] for b in (*BLOCKS, "Internal")}
    for p in plugins:
        by_block[block_of(p.type)].append(p)
    return by_block


def architecture_text(plugins: Sequence[PluginInfo], *, address: str = "pyctrd.sock", state: str = "<state>",
                      bundles: Sequence[str] = (), width: int = 100) -> str:
    """The same picture as :func:`architecture`, top to bottom, one line per block.

    Plugins are listed by ID, with their status when it is not ``ok``; the Bundle block says
    where bundles live, what is in them and which live ones were passed in ``bundles``.
    """
    def fill(name: str, words: list[str]) -> list[str]:
        lines = textwrap.wrap(", ".join(words), width - 11) or ["-"]
        return [f"{name if n == 0 else '':<10} {line}" for n, line in enumerate(lines)]

    by_block = _group(plugins)
    out = ["clients    " + ", ".join(label.replace("\\n", " ") for _, label in _CLIENTS),
           f"  | gRPC over {address}", "  v"]
    for block, members in by_block.items():
        if block == "Bundle":
            makers = [p for p in plugins if p.type in _BUNDLE_MAKERS]
            out += [f"Bundle *   {state.rstrip('/')}/{BUNDLE_DIR}/",
                    "           config.json <- container spec (Metadata)",
                    "           rootfs/ <- snapshot mounts (Storage)"]
            out += fill("", [f"written by {p.id} ({p.type}, {p.status})" for p in makers]
                        or ["(no runtime v2 plugin: no bundles)"])
            if bundles:
                out += fill("", [f"bundle {b}" for b in bundles])
            continue
        if block == "Internal" and not members:
            continue
        words = [p.id if p.status == "ok" else f"{p.id} [{p.status}]" for p in members] or ["(none loaded)"]
        out += fill(block + (" *" if block in SUBSYSTEMS else ""), words)
    out += ["  | ttrpc (one shim per container; events come back the same way)", "  v",
            "shim -> runc (exec, --bundle <bundle>) -> container processes",
            "(* a subsystem; the other blocks are modules that cross them)"]
    return "\n".join(out)


def architecture(plugins: Sequence[PluginInfo], *, address: str = "pyctrd.sock", state: str = "<state>",
                 bundles: Sequence[str] = ()) -> Drawing:
    """Clients -> gRPC socket -> the daemon's blocks; Storage and Metadata -> Bundle -> Runtime;
    the runtime's shim -> runc -> container.

    Args:
        plugins: the live plugin list (``client.plugins()``).
        address: the socket clients dial (shown on the gRPC node).
        state: the daemon's state directory (the bundles' home), e.g. ``lab.state``.
        bundles: live bundles to list in the Bundle block, e.g. ``[t.id for t in client.tasks.list()]``.
    """
    by_block = _group(plugins)
    dot = Drawing("architecture", graph_attr={
        "rankdir": "LR", "fontname": FONT, "compound": "true", "nodesep": "0.3", "ranksep": "0.45"},
        node_attr={"fontname": FONT, "fontsize": "11", "shape": "box", "style": "rounded"},
        edge_attr={"color": "#607d8b", "fontname": FONT, "fontsize": "9"},
        text=architecture_text(plugins, address=address, state=state, bundles=bundles))
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
            if block == "Bundle":
                label = _bundle_label([p for p in plugins if p.type in _BUNDLE_MAKERS], state, bundles)
            else:
                label = _label(f"{block} (subsystem)" if block in SUBSYSTEMS else block, members)
            d.node(block, label, shape="plaintext", style="")
    dot.edge("grpc", "API", label="requests")
    dot.edge("API", "Services")
    dot.edge("Services", "Metadata")
    dot.edge("Services", "Runtime", label="Tasks.Create …")
    dot.edge("Services", "Events", style="dashed", label="publish")
    dot.edge("Metadata", "Storage", label="names -> data")
    dot.edge("Metadata", "Bundle", label="container spec -> config.json")
    dot.edge("Storage", "Bundle", label="snapshot mounts -> rootfs")
    dot.edge("Bundle", "Runtime", label="bundle dir")
    dot.node("shim", "shim\\n(one per container)", style="filled", fillcolor="#fff8e1")
    dot.node("runc", "runc", style="filled", fillcolor="#fff8e1")
    dot.node("container", "container\\nprocesses", shape="component")
    dot.edge("Runtime", "shim", label="ttrpc")
    dot.edge("shim", "runc", label="exec --bundle")
    dot.edge("runc", "container", label="clone + exec")
    dot.edge("shim", "Events", style="dashed", label="/tasks/exit …", constraint="false")
    return dot
