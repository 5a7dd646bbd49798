"""Registers ``io.containerd.snapshotter.v1.zfs``: skipped, with containerd's reason, unless the
root is a zfs dataset."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .... import errdefs
from ....config import setting
from ....plugin import InitContext, Registration, SkipPlugin, register, types
from .detect import NotZfs, check_root

__all__ = ["REGISTRATION", "ZfsConfig", "init"]


@dataclass
class ZfsConfig:
    """``[plugins."io.containerd.snapshotter.v1.zfs"]``."""

    root_path: str = setting("", "Directory holding the snapshots (must be a zfs dataset); empty "
                                 "means the plugin's own root")


def init(ic: InitContext) -> Any:
    cfg = ic.config if isinstance(ic.config, ZfsConfig) else ZfsConfig()
    root = cfg.root_path or str(ic.root)
    ic.meta.exports["root"] = root
    try:
        check_root(root)
    except NotZfs as exc:
        raise SkipPlugin(str(exc)) from exc
    raise errdefs.NotImplemented(f"zfs snapshotter on {root}: pyctrd detects zfs but has no zfs snapshotter")


REGISTRATION = register(Registration(
    type=types.SNAPSHOT, id="zfs", init=init, config=ZfsConfig(), platforms=True,
    doc="zfs datasets (detection only)"))
