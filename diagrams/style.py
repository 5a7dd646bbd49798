"""Colours and shapes shared by every diagram and widget, so one status looks the same everywhere.

>>> STATUS_STYLE["error"]["color"]
'#c62828'
"""
from __future__ import annotations

__all__ = ["CHANGE_COLOUR", "FONT", "STATUS_STYLE", "short_type"]

FONT = "Helvetica"

#: graphviz node attributes per plugin status; ``disabled`` = left out by config.
STATUS_STYLE: dict[str, dict[str, str]] = {
    "ok": {"color": "#2e7d32", "fillcolor": "#e8f5e9", "style": "filled,rounded", "fontcolor": "#1b1b1b"},
    "skip": {"color": "#b26a00", "fillcolor": "#fff3e0", "style": "filled,rounded", "fontcolor": "#1b1b1b"},
    "error": {"color": "#c62828", "fillcolor": "#ffebee", "style": "filled,rounded,bold",
              "fontcolor": "#1b1b1b"},
    "disabled": {"color": "#9e9e9e", "fillcolor": "#f5f5f5", "style": "filled,rounded,dashed",
                 "fontcolor": "#9e9e9e"},
}

#: added / removed / changed entries in directory trees (text markers and HTML colours).
CHANGE_COLOUR = {"added": "#2e7d32", "removed": "#c62828", "changed": "#b26a00"}


def short_type(type_: str) -> str:
    """The readable middle of a plugin type.

    >>> short_type("io.containerd.snapshotter.v1")
    'snapshotter'
    >>> short_type("custom")
    'custom'
    """
    parts = type_.split(".")
    if len(parts) >= 4 and parts[0] == "io" and parts[-1].startswith("v"):
        return ".".join(parts[2:-1])
    return type_
