"""The overlayfs snapshotter (layers stacked by the kernel): :class:`OverlaySnapshotter`."""
from .snapshotter import UPPERDIR_LABEL, OverlaySnapshotter
from .support import OverlayUnsupported, check_supported

__all__ = ["UPPERDIR_LABEL", "OverlaySnapshotter", "OverlayUnsupported", "check_supported"]
