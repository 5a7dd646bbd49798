"""The native snapshotter (full copies, bind mounts): :class:`NativeSnapshotter`."""
from .snapshotter import NativeSnapshotter

__all__ = ["NativeSnapshotter"]
