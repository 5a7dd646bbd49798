"""What garbage collection sees: images, blobs, snapshots, leases and containers, joined by labels.

Removing an image removes a *record*. Whether its blobs and snapshots go too is decided by
the collector: starting from the **roots** (images, containers, leases that have not
expired, anything labelled ``containerd.io/gc.root``) it follows the edges - an image's
target, ``containerd.io/gc.ref.content.*`` and ``containerd.io/gc.ref.snapshot.*`` labels,
a snapshot's parent, a lease's resources - and whatever it cannot reach is swept.

:func:`gc_graph` rebuilds that graph from what the client library lists (the same nodes and
edges the daemon's collector uses, :class:`pyctrd.core.gc.Node`), and :meth:`GCGraph.mark`
runs the very function the daemon runs, :func:`pyctrd.core.gc.mark`, on it.
:func:`content_graph` draws it: roots bold, reachable nodes green, what a collection would
remove red and dashed::

    g = gc_graph(client.content.walk(), client.images.list(),
                 snapshots=client.snapshotter().walk(), leases=leases_with_resources(client))
    g.garbage()                 # what a GC would remove now
    content_graph(g)            # or content_graph(infos, images, ...) in one go

>>> from pyctrd.core.content import Info as Blob
>>> from pyctrd.core.images import Image
>>> from pyctrd.core.ocispec import Descriptor
>>> m, c, lost = ("sha256:" + x * 64 for x in "mcl")
>>> blobs = [Blob(m, 300, labels={"containerd.io/gc.ref.content.config": c}), Blob(c, 90), Blob(lost, 5)]
>>> g = gc_graph(blobs, [Image("demo:1", Descriptor("application/vnd.oci.image.manifest.v1+json", m, 300))])
>>> g
<GCGraph 4 nodes, 2 edges, 1 roots, 1 garbage>
>>> [n.key[:8] for n in g.garbage()]
['sha256:l']
>>> print(g.text())
GC graph of namespace default: 4 nodes, 2 edges, 1 roots, 1 garbage
image demo:1  [root]
└─ target -> content sha256:mmmmmmmmmmmm…  300 B
   └─ config -> content sha256:cccccccccccc…  90 B
garbage (a collection would remove):
  content sha256:llllllllllll…  5 B
"""
from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..core import gc
from ..core.containers import Container
from ..core.content import Info as BlobInfo
from ..core.gc import Node
from ..core.images import Image
from ..core.leases import Lease, Resource
from ..core.snapshots import Info as SnapshotInfo
from ..errdefs import InvalidArgument
from .dirtree import human_size
from .drawing import Drawing
from .snapshots import short_key
from .style import FONT

__all__ = ["GCGraph", "content_graph", "gc_graph", "lease_expired", "leases_with_resources"]

_SHAPE = {"image": "folder", "content": "note", "lease": "hexagon", "container": "component", "ingest": "cds"}
LIVE = {"fillcolor": "#e8f5e9", "color": "#2e7d32"}
GARBAGE = {"fillcolor": "#ffebee", "color": "#c62828", "style": "filled,dashed"}
UNMARKED = {"fillcolor": "#ffffff", "color": "#9e9e9e"}


def lease_expired(lease: Lease, now: datetime) -> bool:
    """Has ``containerd.io/gc.expire`` passed? (A bad value counts as no expiry, as in the daemon.)

    >>> lease_expired(Lease("l", labels={"containerd.io/gc.expire": "2020-01-01T00:00:00Z"}),
    ...               datetime(2024, 1, 1, tzinfo=UTC))
    True
    """
    value = lease.labels.get(gc.LABEL_EXPIRE)
    if value is None:
        return False
    try:
        return gc.parse_expire(value) < now
    except InvalidArgument:
        return False


def leases_with_resources(client: Any) -> list[tuple[Lease, list[Resource]]]:
    """Every lease of the client's namespace with what it holds (two calls per lease)."""
    return [(lease, client.leases.list_resources(lease.id)) for lease in client.leases.list()]


def _resource_node(ns: str, r: Resource, flat: bool) -> Node:
    if r.type == "content":
        return Node("content", ns, r.id, flat=flat)
    if r.type == "ingests":
        return Node("ingest", ns, r.id)
    return Node("snapshot/" + r.type.partition("/")[2], ns, r.id, flat=flat)


@dataclass
class GCGraph:
    """Nodes (with display attributes), labelled edges and roots - the collector's view."""

    namespace: str
    nodes: dict[Node, dict[str, str]] = field(default_factory=dict)
    edges: dict[Node, list[tuple[Node, str]]] = field(default_factory=dict)
    roots: list[Node] = field(default_factory=list)
    expired: set[Node] = field(default_factory=set)

    def __repr__(self) -> str:
        n_edges = sum(len(v) for v in self.edges.values())
        return (f"<GCGraph {len(self.nodes)} nodes, {n_edges} edges, {len(self.roots)} roots, "
                f"{len(self.garbage())} garbage>")

    def add(self, node: Node, **attrs: str) -> Node:
        self.nodes.setdefault(node.unflat(), {}).update(attrs)
        return node

    def edge(self, src: Node, dst: Node, label: str = "") -> None:
        self.edges.setdefault(src.unflat(), []).append((dst, label))

    def refs(self, node: Node) -> list[Node]:
        """The edges the collector follows from ``node`` (a flat node keeps only its own kind:
        a snapshot its parent, a blob nothing - as in the daemon)."""
        if node.type == "lease":  # its resources are roots themselves; the edge is for the eye
            return []
        out = []
        for dst, label in self.edges.get(node.unflat(), []):
            if node.flat and not (node.type.startswith("snapshot/") and label == "parent"):
                continue
            out.append(Node(dst.type, dst.namespace, dst.key, flat=node.flat and dst.type == node.type))
        return out

    def mark(self, roots: Iterable[Node] | None = None,
             mark_fn: Callable[[Iterable[Node], Callable[[Node], Iterable[Node]]], set[Node]] = gc.mark
             ) -> set[Node]:
        """Run ``mark_fn`` (the daemon's :func:`pyctrd.core.gc.mark` unless you pass your own)."""
        return mark_fn(self.roots if roots is None else roots, self.refs)

    def garbage(self, marked: set[Node] | None = None) -> list[Node]:
        """Nodes a collection would remove: unmarked blobs, snapshots, ingests, leases (images and
        containers are records the collector never sweeps)."""
        marked = self.mark() if marked is None else marked
        return sorted(n for n in self.nodes if n not in marked and n.type not in ("image", "container"))

    def describe(self, node: Node) -> str:
        """``content sha256:…  600 B``: the node's kind, label and size or snapshot kind."""
        attrs = self.nodes.get(node.unflat(), {})
        extra = "expired" if node.unflat() in self.expired else attrs.get("size") or attrs.get("kind", "")
        text = f"{node.type} {attrs.get('label', short_key(node.key))}"
        return f"{text}  {extra}" if extra else text

    def lines(self, marked: set[Node] | None = None) -> list[tuple[str, str]]:
        """The text form as ``(line, style)``: each root with what it keeps alive as a tree
        (edge label -> node; a node met before says ``(above)``), then the garbage.
        Styles are rich's: ``bold`` roots, ``red`` garbage, ``dim`` repeats."""
        marked = self.mark() if marked is None else {m.unflat() for m in marked}
        garbage = self.garbage(marked)
        n_edges = sum(len(v) for v in self.edges.values())
        out = [(f"GC graph of namespace {self.namespace}: {len(self.nodes)} nodes, {n_edges} edges, "
                f"{len(self.roots)} roots, {len(garbage)} garbage", "bold")]
        shown: set[Node] = set()

        def walk(node: Node, prefix: str) -> None:
            kids = [(d, label) for d, label in self.edges.get(node.unflat(), [])]
            for n, (dst, label) in enumerate(kids):
                last = n == len(kids) - 1
                d = dst.unflat()
                branch = prefix + ("└─ " if last else "├─ ")
                if d not in self.nodes:
                    out.append((f"{branch}{label} -> {d.type} {short_key(d.key)}  (not listed)", "dim"))
                elif d in shown:
                    out.append((f"{branch}{label} -> {self.describe(d)}  (above)", "dim"))
                else:
                    shown.add(d)
                    out.append((f"{branch}{label} -> {self.describe(d)}", "" if d in marked else "red"))
                    walk(d, prefix + ("   " if last else "│  "))

        for root in dict.fromkeys(r.unflat() for r in self.roots):
            if root in shown:
                continue
            shown.add(root)
            out.append((f"{self.describe(root)}  [root]", "bold"))
            walk(root, "")
        if garbage:
            out.append(("garbage (a collection would remove):", "bold red"))
            out += [(f"  {self.describe(n)}", "red") for n in garbage]
        return out

    def text(self, marked: set[Node] | None = None) -> str:
        """What the collector sees, for a terminal: roots with what they keep, then the garbage.

        ``marked`` defaults to the daemon's marking (:meth:`mark`)."""
        return "\n".join(line for line, _ in self.lines(marked))

    def __rich__(self) -> Any:
        from rich.text import Text

        t = Text()
        for n, (line, style) in enumerate(self.lines()):
            t.append(("\n" if n else "") + line, style=style or None)
        return t

    def network(self) -> Any:
        """The same graph as a ``networkx.DiGraph`` (node attribute ``root``; edge ``label``)."""
        import networkx as nx

        g = nx.DiGraph()
        roots = {r.unflat() for r in self.roots}
        for n, attrs in self.nodes.items():
            g.add_node(n, root=n in roots, **attrs)
        for src, dsts in self.edges.items():
            for dst, label in dsts:
                g.add_edge(src, dst.unflat(), label=label)
        return g


def gc_graph(infos: Iterable[BlobInfo], images: Iterable[Image], *,
             leases: Iterable[tuple[Lease, Sequence[Resource]]] | Mapping[str, Sequence[Resource]] = (),
             snapshots: Iterable[SnapshotInfo] = (), containers: Iterable[Container] = (),
             namespace: str = "default", now: datetime | None = None) -> GCGraph:
    """Build the collector's graph for one namespace (see the module docs).

    ``leases`` are ``(Lease, resources)`` pairs (:func:`leases_with_resources`), or lease ID ->
    resources; ``now`` (default: the current time) decides which leases have expired.
    """
    now = now or datetime.now(UTC)
    ns = namespace
    g = GCGraph(ns)
    for b in infos:
        n = g.add(Node("content", ns, b.digest), label=short_key(b.digest), size=human_size(b.size))
        if gc.LABEL_ROOT in b.labels:
            g.roots.append(n)
        _label_edges(g, n, b.labels)
    for img in images:
        n = g.add(Node("image", ns, img.name), label=img.name)
        g.roots.append(n)
        g.edge(n, Node("content", ns, img.target.digest), "target")
        _label_edges(g, n, img.labels)
    for s in snapshots:
        sn = s.snapshotter or "overlayfs"
        n = g.add(Node(f"snapshot/{sn}", ns, s.name), label=short_key(s.name), kind=s.kind.name)
        if gc.LABEL_ROOT in s.labels:
            g.roots.append(n)
        if s.parent:
            g.edge(n, Node(f"snapshot/{sn}", ns, s.parent), "parent")
        _label_edges(g, n, s.labels)
    for c in containers:
        n = g.add(Node("container", ns, c.id), label=c.id)
        g.roots.append(n)
        if c.snapshotter and c.snapshot_key:
            g.edge(n, Node(f"snapshot/{c.snapshotter}", ns, c.snapshot_key), "rootfs")
        _label_edges(g, n, c.labels)
    pairs = leases.items() if isinstance(leases, Mapping) else leases
    for lease, resources in pairs:
        lease = lease if isinstance(lease, Lease) else Lease(lease)
        n = g.add(Node("lease", ns, lease.id), label=lease.id)
        flat = gc.LABEL_FLAT in lease.labels
        if lease_expired(lease, now):
            g.expired.add(n)
        else:
            g.roots.append(n)
        for r in resources:
            target = _resource_node(ns, r, flat)
            g.edge(n, target, "holds")
            if not lease_expired(lease, now):
                g.roots.append(target)  # as the daemon: a live lease's resources are roots themselves
    return g


def _label_edges(g: GCGraph, n: Node, labels: Mapping[str, str]) -> None:
    """One edge per ``gc.ref`` label, named by the label key's tail."""
    for key in sorted(labels):
        for target in gc.label_refs(n.namespace, {key: labels[key]}):
            g.edge(n, target, _edge_name(key))


def _edge_name(label_key: str) -> str:
    """``containerd.io/gc.ref.content.l.0`` -> ``l.0``; ``…gc.ref.snapshot.overlayfs`` -> ``snapshot``."""
    if label_key.startswith("containerd.io/gc.ref.snapshot."):
        return "snapshot"
    return label_key.removeprefix("containerd.io/gc.ref.content").lstrip(".") or "content"


def _node_label(n: Node, attrs: Mapping[str, str], root: bool, expired: bool) -> str:
    kind = n.type.replace("snapshot/", "snapshot ")
    extra = attrs.get("size") or attrs.get("kind", "")
    if expired:
        extra = "expired"
    text = f"<b>{html.escape(attrs.get('label', n.key))}</b>" if root else html.escape(attrs.get("label", n.key))
    tail = f"<br/><font point-size='8'>{html.escape(extra)}</font>" if extra else ""  # dot rejects empty fonts
    return (f"<<font point-size='8' color='#607d8b'>{html.escape(kind)}{' · root' if root else ''}</font>"
            f"<br/>{text}{tail}>")


def content_graph(infos: Iterable[BlobInfo] | GCGraph, images: Iterable[Image] = (), *,
                  leases: Iterable[tuple[Lease, Sequence[Resource]]] | Mapping[str, Sequence[Resource]] = (),
                  snapshots: Iterable[SnapshotInfo] = (), containers: Iterable[Container] = (),
                  marked: set[Node] | None = None, namespace: str = "default", now: datetime | None = None,
                  show_marks: bool = True) -> Drawing:
    """Draw the collector's graph: roots bold, ``marked`` green, the rest (what a collection
    would remove) red and dashed. ``marked`` defaults to :func:`pyctrd.core.gc.mark` over the
    graph; pass your own set to colour what *your* marking found; ``show_marks=False`` draws
    the graph uncoloured. ``infos`` may be a ready :class:`GCGraph`. ``.text()`` of the result
    is :meth:`GCGraph.text` with the same marking."""
    g = infos if isinstance(infos, GCGraph) else gc_graph(
        infos, images, leases=leases, snapshots=snapshots, containers=containers, namespace=namespace, now=now)
    live = g.mark() if marked is None else {m.unflat() for m in marked}
    roots = {r.unflat() for r in g.roots}
    dot = Drawing("gc", graph_attr={"rankdir": "LR", "fontname": FONT, "nodesep": "0.25", "ranksep": "0.5"},
                  node_attr={"fontname": FONT, "fontsize": "10", "style": "filled"},
                  edge_attr={"fontname": FONT, "fontsize": "8", "color": "#78909c"}, text=g.text(live))
    ids = {n: f"n{i}" for i, n in enumerate(sorted(g.nodes))}
    for n in sorted(g.nodes):
        attrs = g.nodes[n]
        colour = (LIVE if n in live else GARBAGE) if show_marks else UNMARKED
        style = dict(colour)
        if n in roots:
            style["penwidth"] = "2.5"
        shape = "box3d" if n.type.startswith("snapshot/") else _SHAPE.get(n.type, "box")
        dot.node(ids[n], _node_label(n, attrs, n in roots, n in g.expired), shape=shape, tooltip=n.key, **style)
    for src in sorted(g.edges):
        for dst, label in g.edges[src]:
            d = dst.unflat()
            if d not in ids:  # an edge to something that does not exist (any more): show it dangling
                ids[d] = f"n{len(ids)}"
                dot.node(ids[d], html.escape(short_key(d.key)), shape="plaintext", fontcolor="#9e9e9e",
                         fillcolor="white", tooltip=f"{d.type} {d.key} (not listed)")
            dot.edge(ids[src], ids[d], label=label)
    return dot
