"""Registers ``io.containerd.snapshotter.v1.btrfs``: skipped, with containerd's reason, unless the
root is on btrfs - then it is the real thing (:class:`.snapshotter.BtrfsSnapshotter`)."""
from __future__ import annotations

from dataclasses import dataclass

from ....config import setting
from ....plugin import InitContext, Registration, SkipPlugin, register, types
from .detect import NotBtrfs
from .snapshotter import BtrfsSnapshotter

__all__ = ["REGISTRATION", "BtrfsConfig", "init"]


@dataclass
class BtrfsConfig:
    """``[plugins."io.containerd.snapshotter.v1.btrfs"]``."""

    root_path: str = setting("", "Directory holding the snapshots (must be on btrfs); empty means "
                                 "the plugin's own root")


def init(ic: InitContext) -> BtrfsSnapshotter:
    cfg = ic.config if isinstance(ic.config, BtrfsConfig) else BtrfsConfig()
    root = cfg.root_path or str(ic.root)
    ic.meta.exports["root"] = root
    try:
        return BtrfsSnapshotter(root)
    except NotBtrfs as exc:
        raise SkipPlugin(str(exc)) from exc


REGISTRATION = register(Registration(
    type=types.SNAPSHOT, id="btrfs", init=init, config=BtrfsConfig(), platforms=True,
    doc="btrfs subvolumes and copy-on-write snapshots"))
