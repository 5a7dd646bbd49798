"""Registers ``io.containerd.snapshotter.v1.overlayfs`` (containerd's default snapshotter)."""
from __future__ import annotations

from dataclasses import dataclass

from ....config import setting
from ....plugin import InitContext, Registration, SkipPlugin, register, types
from .snapshotter import OverlaySnapshotter
from .support import OverlayUnsupported, check_supported

__all__ = ["REGISTRATION", "OverlayConfig", "init"]


@dataclass
class OverlayConfig:
    """``[plugins."io.containerd.snapshotter.v1.overlayfs"]``."""

    root_path: str = setting("", "Directory holding the snapshots; empty means the plugin's own "
                                 "root (<root>/io.containerd.snapshotter.v1.overlayfs)")
    upperdir_label: bool = setting(False, "Add the label containerd.io/snapshot/overlay.upperdir "
                                          "(the snapshot's fs directory) to stat, update and walk")


def init(ic: InitContext) -> OverlaySnapshotter:
    cfg = ic.config if isinstance(ic.config, OverlayConfig) else OverlayConfig()
    root = cfg.root_path or str(ic.root)
    ic.meta.exports["root"] = root
    try:
        check_supported(root)
    except OverlayUnsupported as exc:
        raise SkipPlugin(f"overlayfs is not supported on {root}: {exc}") from exc
    # As containerd's plugin: removes are asynchronous; garbage collection calls cleanup().
    return OverlaySnapshotter(root, upperdir_label=cfg.upperdir_label, async_remove=True)


REGISTRATION = register(Registration(
    type=types.SNAPSHOT, id="overlayfs", init=init, config=OverlayConfig(), platforms=True,
    doc="layers stacked by the kernel's overlay filesystem"))
