"""Runtime v2 (``io.containerd.runtime.v2`` ``task``): one shim per task.

- :mod:`.bundle`: the task's directory (config.json, rootfs, work link, log FIFO);
- :mod:`.binary`: runtime name -> shim binary; its ``start`` and ``delete`` actions;
- :mod:`.shim`: a task over its ttrpc connection (``containerd.task.v2.Task``);
- :mod:`.manager`: create/get/delete, daemon-restart reload, dead-shim cleanup;
- :mod:`.shimlog`, :mod:`.orphans`: the shim's log copier; reaping orphaned processes;
- :mod:`.plugin`: the registration (config ``platforms``, ``sched_core``).
"""
