"""containerd's GC scheduler: decides *when* the metadata collector runs.

See :mod:`.scheduler` for the policy; :mod:`.plugin` registers it as
``io.containerd.gc.v1.scheduler``.
"""
from .scheduler import Scheduler, SchedulerConfig

__all__ = ["Scheduler", "SchedulerConfig"]
