"""Diagrams of live pyctrd state: pure functions from what a client sees to graphviz / networkx.

Nothing here talks to the daemon or reads its internals: pass in what
:class:`pyctrd.client.Client` returns (or a directory path), get back a
:class:`graphviz.Digraph` (which Jupyter shows as SVG by itself; ``.source`` is the DOT
text), a networkx graph, or an object that renders as text, rich and HTML::

    from pyctrd.diagrams import architecture, plugin_graph, dir_tree, lifecycle_sequence
    plugins = client.plugins()
    architecture(plugins)                 # clients -> gRPC -> API / Metadata / Storage / Runtime
    plugin_graph(plugins, highlight="overlayfs")
    dir_tree(lab.root)                    # the root directory, big directories collapsed
    lifecycle_sequence()                  # pyctr -> daemon -> shim -> runc
    lifecycle_sequence(events=log)        # the same, from the events of a real run
    snapshot_chain(sn.walk(), mounts=…)   # chain IDs, the active snapshot and its overlay mount
    read_container_chain(client, "c1")   # one container's chain: sizes, mount, whiteouts
    content_graph(blobs, images, leases=…)  # GC's graph: roots, edges from labels, garbage
    PullTimeline()                        # pass .add as a pull's progress=: bars per blob

Rendering needs graphviz's ``dot`` only when a drawing is shown (``graphviz.ExecutableNotFound``
otherwise); building one never does. In a terminal, ``.text()`` or ``rich.print(...)`` of a
drawing (:class:`Drawing`), a :class:`GCGraph`, a :class:`LayerChain` or a :class:`DirTree`
says the same in words.
"""
from .architecture import BLOCKS, BUNDLE_DIR, SUBSYSTEMS, architecture, architecture_text, block_of
from .dirtree import Changes, DirSnapshot, DirTree, Entry, dir_tree, human_size, scan
from .drawing import Drawing
from .events import EventTimeline, TimelineEntry
from .gcgraph import GCGraph, content_graph, gc_graph, lease_expired, leases_with_resources
from .layerchain import Layer, LayerChain, layer_chain, read_container_chain, read_image_chain
from .lifecycle import LIFECYCLE, PARTICIPANTS, PHASES, Step, lifecycle_sequence, lifecycle_text
from .lifecycle_events import steps_from_events
from .plugins import plugin_graph, plugin_network, plugin_table, requires_edges
from .pull import BlobProgress, PullTimeline
from .snapshots import (
    OverlayMount,
    Whiteout,
    layer_dirs,
    overlay_mount,
    scan_whiteouts,
    select_chain,
    short_key,
    snapshot_chain,
    snapshot_tree_text,
    whiteouts_from_mounts,
    whiteouts_in_tar,
)
from .style import STATUS_STYLE, short_type

__all__ = [
    "BLOCKS",
    "BUNDLE_DIR",
    "LIFECYCLE",
    "PARTICIPANTS",
    "PHASES",
    "STATUS_STYLE",
    "SUBSYSTEMS",
    "BlobProgress",
    "Changes",
    "DirSnapshot",
    "DirTree",
    "Drawing",
    "Entry",
    "EventTimeline",
    "GCGraph",
    "Layer",
    "LayerChain",
    "OverlayMount",
    "PullTimeline",
    "Step",
    "TimelineEntry",
    "Whiteout",
    "architecture",
    "architecture_text",
    "block_of",
    "content_graph",
    "dir_tree",
    "gc_graph",
    "human_size",
    "layer_chain",
    "layer_dirs",
    "lease_expired",
    "leases_with_resources",
    "lifecycle_sequence",
    "lifecycle_text",
    "overlay_mount",
    "plugin_graph",
    "plugin_network",
    "plugin_table",
    "read_container_chain",
    "read_image_chain",
    "requires_edges",
    "scan",
    "scan_whiteouts",
    "select_chain",
    "short_key",
    "short_type",
    "snapshot_chain",
    "snapshot_tree_text",
    "steps_from_events",
    "whiteouts_from_mounts",
    "whiteouts_in_tar",
]
