"""Registers the cgroups task monitor (``io.containerd.monitor.v1`` ``cgroups``)."""
from __future__ import annotations

from dataclasses import dataclass

from ....config import setting
from ....plugin import InitContext, Registration, register, types
from .monitor import CgroupsMonitor


@dataclass
class CgroupsMonitorConfig:
    no_prometheus: bool = setting(False, "Do not export task cgroup metrics on the metrics address")


def _init(ic: InitContext) -> CgroupsMonitor:
    ic.get(types.EVENT)  # as containerd: OOM events would be published here
    return CgroupsMonitor(prometheus=not ic.config.no_prometheus)


registration = register(Registration(
    type=types.MONITOR, id="cgroups", requires=(types.EVENT,), config=CgroupsMonitorConfig(), init=_init,
    platforms=True, doc="Watches tasks; their cgroup counters on /v1/metrics"))
