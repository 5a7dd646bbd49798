"""containerd's plugin type strings, copied exactly (``plugin/plugin.go``).

A plugin's *type* says what it is; its *ID* says which one. ``requires`` lists types, so a
plugin depends on "a snapshotter" rather than on "overlayfs".
"""

__all__ = [
    "ALL",
    "CONTENT",
    "DIFF",
    "EVENT",
    "GC",
    "GRPC",
    "INTERNAL",
    "LEASE",
    "METADATA",
    "MONITOR",
    "RUNTIME",
    "RUNTIME_V2",
    "SERVICE",
    "SNAPSHOT",
    "TTRPC",
]

CONTENT = "io.containerd.content.v1"
SNAPSHOT = "io.containerd.snapshotter.v1"
METADATA = "io.containerd.metadata.v1"
DIFF = "io.containerd.differ.v1"
EVENT = "io.containerd.event.v1"
GC = "io.containerd.gc.v1"
SERVICE = "io.containerd.service.v1"
GRPC = "io.containerd.grpc.v1"
TTRPC = "io.containerd.ttrpc.v1"
INTERNAL = "io.containerd.internal.v1"
LEASE = "io.containerd.lease.v1"
MONITOR = "io.containerd.monitor.v1"
RUNTIME = "io.containerd.runtime.v1"
RUNTIME_V2 = "io.containerd.runtime.v2"
#: ``requires=("*",)`` means "every other plugin" (used by plugins that inspect all others).
ALL = "*"
