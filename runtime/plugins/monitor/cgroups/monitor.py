"""The cgroups task monitor: which tasks exist, and their cgroup counters for Prometheus.

containerd's ``io.containerd.monitor.v1`` ``cgroups`` plugin is told about every task the
tasks service creates (and deletes) and exports each task's cgroup counters under the
``container_`` prefix. pyctrd reads the counters straight from the task's cgroup (the
``linux.cgroupsPath`` of its bundle's ``config.json``) when ``/v1/metrics`` is scraped, so a
scrape costs a few file reads per task and no shim call.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from ...._api.cgroups.stats.v1 import metrics_pb2 as v1pb
from ....cgroups import Cgroup, metrics
from ....core.runtime import Task
from ....errdefs import PyctrdError

__all__ = ["CgroupsMonitor"]

log = logging.getLogger("pyctrd.monitor")

#: (metric name, help, how to read it from v1 metrics, from v2 metrics)
_GAUGES: list[tuple[str, str, Any, Any]] = [
    ("container_cpu_total_nanoseconds", "The total cpu time",
     lambda m: m.cpu.usage.total, lambda m: m.cpu.usage_usec * 1000),
    ("container_memory_usage_usage_bytes", "The memory usage",
     lambda m: m.memory.usage.usage, lambda m: m.memory.usage),
    ("container_memory_usage_limit_bytes", "The memory limit",
     lambda m: m.memory.usage.limit, lambda m: m.memory.usage_limit),
    ("container_pids_current", "The current number of pids",
     lambda m: m.pids.current, lambda m: m.pids.current),
]


class CgroupsMonitor:
    """Implements :class:`pyctrd.core.runtime.TaskMonitor`; ``prometheus`` False disables export."""

    def __init__(self, prometheus: bool = True) -> None:
        self.prometheus = prometheus
        self._tasks: dict[tuple[str, str], tuple[Task, dict[str, str], str]] = {}

    def __repr__(self) -> str:
        return f"<CgroupsMonitor tasks={len(self._tasks)} prometheus={self.prometheus}>"

    def monitor(self, task: Task, labels: dict[str, str] | None = None) -> None:
        cgroups_path = ""
        try:
            spec = json.loads((Path(task.bundle) / "config.json").read_bytes())
            cgroups_path = (spec.get("linux") or {}).get("cgroupsPath", "")
        except (OSError, ValueError) as exc:
            log.warning("monitor %s: no cgroup known: %s", task.id, exc)
        self._tasks[(task.namespace, task.id)] = (task, dict(labels or {}), cgroups_path)

    def stop(self, task: Task) -> None:
        self._tasks.pop((task.namespace, task.id), None)

    def monitored(self) -> list[tuple[str, str]]:
        """``(namespace, id)`` of every task watched, sorted."""
        return sorted(self._tasks)

    def prometheus_text(self) -> str:
        """Prometheus text for every watched task whose cgroup can be read."""
        if not self.prometheus or not self._tasks:
            return ""
        samples: dict[str, list[str]] = {name: [] for name, *_ in _GAUGES}
        for (ns, id), (_, labels, path) in sorted(self._tasks.items()):
            if not path:
                continue
            try:
                m = metrics(Cgroup.from_path(path))
            except (PyctrdError, OSError):
                continue  # gone or not readable: a scrape never fails for one task
            tags = ",".join(f'{k}="{v}"' for k, v in sorted({"container_id": id, "namespace": ns,
                                                               **labels}.items()))
            for name, _, read_v1, read_v2 in _GAUGES:
                value = read_v1(m) if isinstance(m, v1pb.Metrics) else read_v2(m)
                samples[name].append(f"{name}{{{tags}}} {value}")
        lines = []
        for name, help_, *_ in _GAUGES:
            if samples[name]:
                lines += [f"# HELP {name} {help_}", f"# TYPE {name} gauge", *samples[name]]
        return "\n".join(lines) + "\n" if lines else ""
