"""ipywidgets that show a live pyctrd: they read through :mod:`pyctrd.client` and its events.

    from pyctrd.widgets import Dashboard, DirTree, EventLog, PluginGraph
    PluginGraph(client)                   # the plugin graph; pick one for config/exports/error
    DirTree(lab.root, lab.state, feed=…)  # root and state side by side, changes flash
    EventLog(client)                      # topics as they happen (a background subscription)
    Dashboard.for_lab(lab)                # all of them, sharing one subscription

Every widget prints a one-line summary where there is no browser (``text/plain``), redraws
at most 5 times a second however fast events come, and does its redraws on the kernel's
event loop (see :mod:`pyctrd.widgets.live`).
"""
from .dashboard import Dashboard
from .dir_tree import DirTree
from .event_log import EventLog
from .live import EventFeed, LiveWidget, Throttle, ui_dispatcher
from .plugin_graph import PluginGraph, default_sections, svg_of

__all__ = ["Dashboard", "DirTree", "EventFeed", "EventLog", "LiveWidget", "PluginGraph", "Throttle",
           "default_sections", "svg_of", "ui_dispatcher"]
