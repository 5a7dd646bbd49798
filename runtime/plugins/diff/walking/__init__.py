"""The ``walking`` differ: :class:`WalkingDiff` (registered by :mod:`.plugin`)."""
from .differ import WalkingDiff, readonly_mounts

__all__ = ["WalkingDiff", "readonly_mounts"]
