"""Registers ``io.containerd.internal.v1.registry``: the daemon's registry hosts for its clients."""
from __future__ import annotations

from ....plugin import InitContext, Registration, register, types
from .config import RegistryConfig, exports

__all__ = ["registration"]


def _init(ic: InitContext) -> RegistryConfig:
    cfg = ic.config if isinstance(ic.config, RegistryConfig) else RegistryConfig()
    ic.meta.exports.update(exports(cfg))  # raises InvalidArgument for bad mirrors: status error
    return cfg


registration = register(Registration(
    type=types.INTERNAL, id="registry", config=RegistryConfig(), init=_init,
    doc="registry hosts (hosts.toml directory, mirrors) that pulls through this daemon use"))
