"""Reading a container's cgroup: where it is, its counters, OOM kills and freezer state.

- :mod:`.cgroup`: :class:`Hierarchies` (what is mounted), :class:`Cgroup` (one cgroup in
  every hierarchy, from a spec's ``cgroupsPath`` or a pid), :func:`freezer_state`;
- :mod:`.v1` / :mod:`.v2`: counters into containerd's metrics protobufs;
- :mod:`.metrics`: :func:`metrics` (the version containerd would pick) and :func:`to_any`;
- :mod:`.oom`: :func:`oom_events`, an async iterator of OOM kills.
"""
from __future__ import annotations

from .cgroup import Cgroup, Hierarchies, freezer_state, parse_proc_cgroup, remove_namespace_cgroups
from .metrics import metrics, to_any
from .oom import OOMEvent, oom_events, watch_file

__all__ = [
    "Cgroup", "Hierarchies", "OOMEvent", "freezer_state", "metrics", "oom_events",
    "parse_proc_cgroup", "remove_namespace_cgroups", "to_any", "watch_file",
]
