"""Registers the restart monitor (``io.containerd.internal.v1`` ``restart``)."""
from __future__ import annotations

from dataclasses import dataclass

from ....config import Duration, setting
from ....plugin import InitContext, Registration, register, types
from .monitor import RestartMonitor

DEFAULT_INTERVAL = Duration("10s")


@dataclass
class RestartConfig:
    interval: Duration = setting(DEFAULT_INTERVAL, "How often labelled containers' tasks are checked")


def _init(ic: InitContext) -> RestartMonitor:
    interval = Duration(ic.config.interval).seconds
    ic.meta.exports["interval"] = str(Duration(interval))
    return RestartMonitor(ic.get_by_id(types.SERVICE, "containers-service"),
                          ic.get_by_id(types.SERVICE, "tasks-service"),
                          ic.get(types.METADATA).namespaces, interval)


registration = register(Registration(
    type=types.INTERNAL, id="restart", requires=(types.EVENT, types.SERVICE), config=RestartConfig(),
    init=_init, doc="Restarts tasks of containers labelled containerd.io/restart.status=running"))
