"""Registers ``io.containerd.snapshotter.v1.native`` (containerd's native plugin)."""
from __future__ import annotations

from dataclasses import dataclass

from ....config import setting
from ....plugin import InitContext, Registration, register, types
from .snapshotter import NativeSnapshotter

__all__ = ["REGISTRATION", "NativeConfig", "init"]


@dataclass
class NativeConfig:
    """``[plugins."io.containerd.snapshotter.v1.native"]``."""

    root_path: str = setting("", "Directory holding the snapshots; empty means the plugin's own "
                                 "root (<root>/io.containerd.snapshotter.v1.native)")


def init(ic: InitContext) -> NativeSnapshotter:
    cfg = ic.config if isinstance(ic.config, NativeConfig) else NativeConfig()
    # containerd's native plugin publishes no exports (``plugins ls -d`` shows none).
    return NativeSnapshotter(cfg.root_path or ic.root)


REGISTRATION = register(Registration(
    type=types.SNAPSHOT, id="native", init=init, config=NativeConfig(), platforms=True,
    doc="full copies of each snapshot, bind-mounted"))
