"""Registers the GC scheduler as ``io.containerd.gc.v1.scheduler`` (requires the metadata plugin)."""
from __future__ import annotations

from ....config import Duration
from ....core.gc import Collector
from ....errdefs import FailedPrecondition
from ....plugin import InitContext, Registration, register, types
from .scheduler import Scheduler, SchedulerConfig


def init(ic: InitContext) -> Scheduler:
    """A scheduler over the metadata plugin, started; exports its effective settings as containerd does."""
    md = ic.get(types.METADATA)
    if not isinstance(md, Collector):
        raise FailedPrecondition(f"{types.METADATA} {type(md).__name__} must implement collector")
    s = Scheduler(md, ic.config)
    ic.meta.exports.update({"PauseThreshold": f"{s.pause_threshold:g}",
                            "DeletionThreshold": str(s.deletion_threshold),
                            "MutationThreshold": str(s.mutation_threshold),
                            "ScheduleDelay": str(Duration(s.schedule_delay))})
    s.start()
    return s


REGISTRATION = register(Registration(type=types.GC, id="scheduler", requires=(types.METADATA,),
                                     config=SchedulerConfig(), init=init,
                                     doc="runs the metadata garbage collector by containerd's policy"))
