"""Registers ``io.containerd.snapshotter.v1.devmapper``: an error until a pool is configured, as in
containerd (and then NotImplemented: pyctrd has no device-mapper snapshotter)."""
from __future__ import annotations

from typing import Any

from .... import errdefs
from ....plugin import InitContext, Registration, register, types
from .detect import DevmapperConfig, check_config

__all__ = ["REGISTRATION", "init"]


def init(ic: InitContext) -> Any:
    cfg = ic.config if isinstance(ic.config, DevmapperConfig) else DevmapperConfig()
    cfg = check_config(cfg, default_root=str(ic.root))  # no exports, as containerd
    raise errdefs.NotImplemented(f"devmapper snapshotter (pool {cfg.pool_name}): not available in pyctrd")


REGISTRATION = register(Registration(
    type=types.SNAPSHOT, id="devmapper", init=init, config=DevmapperConfig(), platforms=True,
    doc="device-mapper thin provisioning (configuration check only)"))
