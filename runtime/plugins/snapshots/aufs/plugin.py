"""Registers ``io.containerd.snapshotter.v1.aufs``: skipped, with containerd's reason, unless the
kernel has aufs."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .... import errdefs
from ....config import setting
from ....plugin import InitContext, Registration, SkipPlugin, register, types
from .detect import AufsUnsupported, check_supported

__all__ = ["REGISTRATION", "AufsConfig", "init"]


@dataclass
class AufsConfig:
    """``[plugins."io.containerd.snapshotter.v1.aufs"]``."""

    root_path: str = setting("", "Directory holding the snapshots; empty means the plugin's own root")


def init(ic: InitContext) -> Any:
    cfg = ic.config if isinstance(ic.config, AufsConfig) else AufsConfig()
    root = cfg.root_path or str(ic.root)
    ic.meta.exports["root"] = root
    try:
        check_supported()
    except AufsUnsupported as exc:
        raise SkipPlugin(str(exc)) from exc
    raise errdefs.NotImplemented("aufs snapshotter: pyctrd detects aufs but has no aufs snapshotter")


REGISTRATION = register(Registration(
    type=types.SNAPSHOT, id="aufs", init=init, config=AufsConfig(), platforms=True,
    doc="the aufs union filesystem (detection only)"))
