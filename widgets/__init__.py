"""ipywidgets that show a live pyctrd: they read through :mod:`pyctrd.client` and its events.

    from pyctrd.widgets import Dashboard, DirTree, EventLog, PluginGraph
    PluginGraph.for_lab(lab)              # the plugin graph; click one for config/exports/error
    DirTree(lab.root, lab.state, feed=…)  # root and state side by side, changes flash
    EventLog(client)                      # topics as they happen (a background subscription)
    SnapshotChain(client)                 # chains, the active snapshot's overlay mount, whiteouts
    PullProgress(client).pull(ref)        # a bar per blob while it arrives; .wait() -> PullResult
    PullProgress(client, watch=True)      # ... and any pull in the namespace (the store's ingests)
    GCView(client)                        # GC's graph; "remove image" / "run GC" say what went
    Dashboard.for_lab(lab)                # all of them, sharing one subscription

Every widget prints a one-line summary where there is no browser (``text/plain``), redraws
at most 5 times a second however fast events come, and does its redraws on the kernel's
event loop (see :mod:`pyctrd.widgets.live`).
"""
from .dashboard import Dashboard
from .dir_tree import DirTree
from .event_log import EventLog
from .gc_view import GCView, read_gc_graph
from .ingests import IngestWatch
from .live import EventFeed, LiveWidget, Throttle, ui_dispatcher
from .plugin_graph import PluginGraph, default_sections, svg_of
from .pull_progress import PullProgress
from .snapshot_chain import SnapshotChain

__all__ = ["Dashboard", "DirTree", "EventFeed", "EventLog", "GCView", "IngestWatch", "LiveWidget", "PluginGraph", "PullProgress",
           "SnapshotChain", "Throttle", "default_sections", "read_gc_graph", "svg_of", "ui_dispatcher"]
