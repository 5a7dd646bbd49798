"""Snapshots: how image layers and container root filesystems are stored.

- :class:`Snapshotter` - the interface (read its docstring first: key, name, parent, and
  the walk-throughs of importing a layer and running a container);
- :class:`Info`, :class:`Kind`, :class:`Usage` - what it hands out;
- :mod:`.storage` - the SQLite metadata the local snapshotters (native, overlayfs) share;
- :func:`disk_usage` - what usage() measures.

Implementations live in ``pyctrd.plugins.snapshots.<name>``.
"""
from .fs import disk_usage
from .info import (
    EPOCH,
    INHERITED_LABEL_PREFIX,
    LABEL_SNAPSHOT_REF,
    MAX_LABEL_SIZE,
    UNPACK_KEY_FORMAT,
    UNPACK_KEY_PREFIX,
    Info,
    Kind,
    Usage,
    adapt_info,
    filter_inherited_labels,
    human_size,
    validate_labels,
)
from .snapshotter import Cleaner, Snapshotter

__all__ = [
    "EPOCH", "INHERITED_LABEL_PREFIX", "LABEL_SNAPSHOT_REF", "MAX_LABEL_SIZE", "UNPACK_KEY_FORMAT",
    "UNPACK_KEY_PREFIX", "Cleaner", "Info", "Kind", "Snapshotter", "Usage", "adapt_info",
    "disk_usage", "filter_inherited_labels", "human_size", "validate_labels",
]
