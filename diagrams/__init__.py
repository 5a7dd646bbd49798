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

Rendering needs graphviz's ``dot`` only when a drawing is shown (``graphviz.ExecutableNotFound``
otherwise); building one never does.
"""
from .architecture import BLOCKS, architecture, block_of
from .dirtree import Changes, DirSnapshot, DirTree, Entry, dir_tree, human_size, scan
from .events import EventTimeline, TimelineEntry
from .lifecycle import LIFECYCLE, PARTICIPANTS, PHASES, Step, lifecycle_sequence
from .plugins import plugin_graph, plugin_network, plugin_table, requires_edges
from .style import STATUS_STYLE, short_type

__all__ = [
    "BLOCKS", "LIFECYCLE", "PARTICIPANTS", "PHASES", "STATUS_STYLE", "Changes", "DirSnapshot", "DirTree",
    "Entry", "EventTimeline", "Step", "TimelineEntry", "architecture", "block_of", "dir_tree", "human_size",
    "lifecycle_sequence", "plugin_graph", "plugin_network", "plugin_table", "requires_edges", "scan",
    "short_type",
]
