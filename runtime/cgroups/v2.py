"""cgroup v2 counters -> ``io.containerd.cgroups.v2.Metrics``.

In v2 one directory holds every enabled controller's files, in fewer formats:

- ``cpu.stat``: ``usage_usec``, ``user_usec``, ``system_usec`` and the throttling counters
  (present even with no controller enabled: CPU time is always accounted);
- ``memory.stat`` (``anon``, ``file``, ``pgfault`` ...), ``memory.current``, ``memory.max``,
  ``memory.swap.current``, ``memory.swap.max``, and ``memory.events`` (``oom``, ``oom_kill``);
- ``pids.current`` and ``pids.max``; ``io.stat`` lines ``8:0 rbytes=… wbytes=… rios=… wios=…``;
  ``hugetlb.<size>.current`` / ``.max``.

``max`` (no limit) reads as 2**64-1, as containerd reports it; missing files read as 0.

>>> parse_io_stat("8:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\\n")[0].rbytes
4096
"""
from __future__ import annotations

import os

from .._api.cgroups.v2.stats import metrics_pb2 as v2pb
from ..errdefs import NotFound
from .cgroup import Cgroup
from .v1 import parse_kv

__all__ = ["TYPE_URL", "parse_io_stat", "stats"]

TYPE_URL = "io.containerd.cgroups.v2.Metrics"
_MAX = 2**64 - 1


def _read(directory: str, name: str) -> str | None:
    try:
        with open(os.path.join(directory, name)) as f:
            return f.read()
    except (FileNotFoundError, OSError):
        return None


def _value(directory: str, name: str) -> int:
    text = (_read(directory, name) or "").strip()
    if text == "max":
        return _MAX
    return int(text) if text.isdigit() else 0


def parse_io_stat(text: str) -> list[v2pb.IOEntry]:
    """Entries of an ``io.stat`` file."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if not parts or ":" not in parts[0]:
            continue
        major, _, minor = parts[0].partition(":")
        kv = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        out.append(v2pb.IOEntry(major=int(major), minor=int(minor),
                                **{k: int(kv.get(k, 0)) for k in ("rbytes", "wbytes", "rios", "wios")}))
    return out


_MEMORY_FIELDS = [
    "anon", "file", "kernel_stack", "slab", "sock", "shmem", "file_mapped", "file_dirty",
    "file_writeback", "anon_thp", "inactive_anon", "active_anon", "inactive_file",
    "active_file", "unevictable", "slab_reclaimable", "slab_unreclaimable", "pgfault",
    "pgmajfault", "workingset_refault", "workingset_activate", "workingset_nodereclaim",
    "pgrefill", "pgscan", "pgsteal", "pgactivate", "pgdeactivate", "pglazyfree", "pglazyfreed",
    "thp_fault_alloc", "thp_collapse_alloc",
]


def stats(cg: Cgroup) -> v2pb.Metrics:
    """Read the v2 counters of ``cg``.

    Raises:
        NotFound: cgroup2 is not mounted, or the cgroup does not exist.
    """
    d = cg.unified
    if d is None or not os.path.isdir(d):
        raise NotFound(f"cgroup v2 {cg.path}")
    m = v2pb.Metrics()
    m.pids.current = _value(d, "pids.current")
    m.pids.limit = _value(d, "pids.max")
    cpu = parse_kv(_read(d, "cpu.stat") or "")
    m.cpu.usage_usec, m.cpu.user_usec = cpu.get("usage_usec", 0), cpu.get("user_usec", 0)
    m.cpu.system_usec, m.cpu.nr_periods = cpu.get("system_usec", 0), cpu.get("nr_periods", 0)
    m.cpu.nr_throttled, m.cpu.throttled_usec = cpu.get("nr_throttled", 0), cpu.get("throttled_usec", 0)
    mem = parse_kv(_read(d, "memory.stat") or "")
    for name in _MEMORY_FIELDS:
        setattr(m.memory, name, mem.get(name, 0))
    m.memory.usage = _value(d, "memory.current")
    m.memory.usage_limit = _value(d, "memory.max")
    m.memory.swap_usage = _value(d, "memory.swap.current")
    m.memory.swap_limit = _value(d, "memory.swap.max")
    events = _read(d, "memory.events")
    if events is not None:
        ev = parse_kv(events)
        m.memory_events.SetInParent()
        for name in ("low", "high", "max", "oom", "oom_kill"):
            setattr(m.memory_events, name, ev.get(name, 0))
    m.io.usage.extend(parse_io_stat(_read(d, "io.stat") or ""))
    sizes = sorted({n.split(".")[1] for n in os.listdir(d)
                    if n.startswith("hugetlb.") and n.endswith(".current")})
    for size in sizes:
        m.hugetlb.add(pagesize=size, current=_value(d, f"hugetlb.{size}.current"),
                      max=_value(d, f"hugetlb.{size}.max"))
    return m
