"""Driving runc from asyncio: the commands, the container's stdio and terminal, and reaping.

- :mod:`.runc`: :class:`Runc`, one async method per runc command (go-runc's ``Runc``);
- :mod:`.io`: the stdio handed to a container's process (:class:`NullIO`, :class:`PipeIO`,
  :class:`FileIO`);
- :mod:`.console`: :class:`ConsoleSocket` and :class:`Console` for ``terminal: true``;
- :mod:`.monitor`: starting processes and learning their exit (:class:`ChildMonitor`,
  :class:`Reaper` for a child subreaper);
- :mod:`.errors`: runc's JSON log -> pyctrd error kinds.

How a shim (a child subreaper) puts them together::

    set_subreaper()                          # orphaned container processes come to us
    async with Reaper() as reaper:           # the only place that calls waitpid
        runc = Runc("/run/pyctrd-runc/default", log=f"{bundle}/log.json", monitor=reaper)
        io = PipeIO(stdin=True)              # or FileIO(...), NullIO(), or a ConsoleSocket
        pid = await runc.create("c1", bundle, pid_file=f"{bundle}/init.pid", io=io)
        await runc.start("c1")
        status = await reaper.wait(pid)      # 0, 3, 137 (killed) ...
        await runc.delete("c1")
"""
from __future__ import annotations

from .console import Console, ConsoleSocket
from .errors import last_error, runc_error
from .io import FileIO, NullIO, PipeIO, ProcessIO, read_until_eof
from .monitor import ChildMonitor, Exit, Monitor, Reaper, exit_status, set_subreaper, spawn
from .runc import Runc, RuncVersion, read_pid_file

__all__ = [
    "ChildMonitor", "Console", "ConsoleSocket", "Exit", "FileIO", "Monitor", "NullIO", "PipeIO",
    "ProcessIO", "Reaper", "Runc", "RuncVersion", "exit_status", "last_error", "read_pid_file",
    "read_until_eof", "runc_error", "set_subreaper", "spawn",
]
