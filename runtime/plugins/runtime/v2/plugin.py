"""Registers the runtime v2 task manager (``io.containerd.runtime.v2`` ``task``)."""
from __future__ import annotations

from dataclasses import dataclass

from ....config import setting
from ....errdefs import InvalidArgument
from ....plugin import InitContext, Registration, register, types
from ....plugin.context import host_platform
from .manager import ManagerConfig, TaskManager

__all__ = ["RuntimeV2Config", "parse_platform"]


def _default_platforms() -> list[str]:
    p = host_platform()
    return ["/".join(filter(None, (p["os"], p["architecture"], p.get("variant"))))]


DEFAULT_PLATFORMS = _default_platforms()


@dataclass
class RuntimeV2Config:
    platforms: list[str] = setting(DEFAULT_PLATFORMS, "Platforms (os/arch[/variant]) tasks can run on")
    sched_core: bool = setting(False, "Ask shims to enable Linux core scheduling (SCHED_CORE=1)")


def parse_platform(text: str) -> dict[str, str]:
    """``linux/amd64`` -> ``{"os": "linux", "architecture": "amd64"}``.

    >>> parse_platform("linux/arm64/v8")
    {'os': 'linux', 'architecture': 'arm64', 'variant': 'v8'}
    """
    parts = text.split("/")
    if not 2 <= len(parts) <= 3 or not all(parts):
        raise InvalidArgument(f'"{text}": unknown platform: expected os/arch[/variant]')
    return dict(zip(("os", "architecture", "variant"), parts, strict=False))


def _init(ic: InitContext) -> TaskManager:
    cfg: RuntimeV2Config = ic.config
    ic.meta.platforms[:] = [parse_platform(p) for p in cfg.platforms]
    metadata = ic.get(types.METADATA)
    timeout = getattr(getattr(ic.server, "config", None), "timeout", None)

    def seconds(name: str, default: float) -> float:
        return timeout(name, default) if timeout else default

    return TaskManager(ManagerConfig(
        root=ic.root, state=ic.state, address=ic.address, ttrpc_address=ic.ttrpc_address,
        containers=metadata.containers, publisher=ic.get(types.EVENT), sched_core=cfg.sched_core,
        load_timeout=seconds("io.containerd.timeout.shim.load", 5.0),
        cleanup_timeout=seconds("io.containerd.timeout.shim.cleanup", 5.0),
        shutdown_timeout=seconds("io.containerd.timeout.shim.shutdown", 3.0)))


registration = register(Registration(
    type=types.RUNTIME_V2, id="task", requires=(types.EVENT, types.METADATA), config=RuntimeV2Config(),
    init=_init, platforms=True, doc="Tasks run by runtime v2 shims (one shim per task), reloaded on restart"))
