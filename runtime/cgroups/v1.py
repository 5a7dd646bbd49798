"""cgroup v1 counters -> ``io.containerd.cgroups.v1.Metrics`` (what ``ctr tasks metrics`` shows).

Each v1 controller has its own directory and file formats; containerd's ``cgroups`` package
reads them into one protobuf message. The files, controller by controller:

- **cpuacct**: ``cpuacct.usage`` (total ns), ``cpuacct.usage_percpu`` (ns per CPU),
  ``cpuacct.stat`` (``user``/``system`` in clock ticks, 100 per second);
- **cpu**: ``cpu.stat`` (CFS throttling: ``nr_periods``, ``nr_throttled``, ``throttled_time``);
- **memory**: ``memory.stat`` (``cache``, ``rss``, ``pgfault`` ... and ``total_*`` for the
  subtree), ``memory.{usage,max_usage,limit}_in_bytes`` and ``failcnt``, again for
  ``memsw`` (memory+swap), ``kmem`` and ``kmem.tcp``; ``memory.oom_control``;
- **pids**: ``pids.current``, ``pids.max`` (``max`` = no limit, shown as 0);
- **blkio**: ``blkio.throttle.io_service{d,_bytes}`` as ``major:minor Op value`` lines;
- **hugetlb**: ``hugetlb.<size>.{usage_in_bytes,max_usage_in_bytes,failcnt}``.

A file that does not exist (a controller not mounted, swap accounting off) is skipped, as
containerd's shim does with ``cgroups.IgnoreNotExist``.

>>> parse_kv("cache 4096\\nrss 53248\\n")
{'cache': 4096, 'rss': 53248}
>>> parse_uint("-1"), parse_uint("max")
(0, None)
"""
from __future__ import annotations

import os

from .._api.cgroups.stats.v1 import metrics_pb2 as v1pb
from ..errdefs import NotFound
from .cgroup import Cgroup

__all__ = ["TYPE_URL", "parse_kv", "parse_uint", "stats"]

TYPE_URL = "io.containerd.cgroups.v1.Metrics"
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def parse_uint(text: str) -> int | None:
    """A counter as the kernel prints it; negatives (``-1`` = unlimited) read as 0, ``max`` as None."""
    text = text.strip()
    if text == "max":
        return None
    value = int(text)
    return max(value, 0)


def parse_kv(text: str) -> dict[str, int]:
    """``key value`` lines (``memory.stat``, ``cpu.stat``, ``memory.oom_control``)."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = max(int(parts[1]), 0)
    return out


def _read(directory: str, name: str) -> str | None:
    try:
        with open(os.path.join(directory, name)) as f:
            return f.read()
    except FileNotFoundError:
        return None


def _uint(directory: str, name: str) -> int:
    text = _read(directory, name)
    return (parse_uint(text) or 0) if text is not None else 0


def _cpu(cg: Cgroup, m: v1pb.Metrics) -> None:
    if (d := cg.v1.get("cpuacct")) is not None and _read(d, "cpuacct.usage") is not None:
        m.cpu.usage.total = _uint(d, "cpuacct.usage")
        m.cpu.usage.per_cpu.extend(int(v) for v in (_read(d, "cpuacct.usage_percpu") or "").split())
        ticks = parse_kv(_read(d, "cpuacct.stat") or "")
        m.cpu.usage.user = ticks.get("user", 0) * 1_000_000_000 // _CLOCK_TICKS
        m.cpu.usage.kernel = ticks.get("system", 0) * 1_000_000_000 // _CLOCK_TICKS
    if (d := cg.v1.get("cpu")) is not None and (text := _read(d, "cpu.stat")) is not None:
        kv = parse_kv(text)
        m.cpu.throttling.periods = kv.get("nr_periods", 0)
        m.cpu.throttling.throttled_periods = kv.get("nr_throttled", 0)
        m.cpu.throttling.throttled_time = kv.get("throttled_time", 0)


# memory.stat key -> MemoryStat field (and the same with total_ for the whole subtree)
_MEMORY_STAT = {
    "cache": "cache", "rss": "rss", "rss_huge": "rss_huge", "mapped_file": "mapped_file",
    "dirty": "dirty", "writeback": "writeback", "pgpgin": "pg_pg_in", "pgpgout": "pg_pg_out",
    "pgfault": "pg_fault", "pgmajfault": "pg_maj_fault", "inactive_anon": "inactive_anon",
    "active_anon": "active_anon", "inactive_file": "inactive_file", "active_file": "active_file",
    "unevictable": "unevictable",
}


def _memory(cg: Cgroup, m: v1pb.Metrics) -> None:
    d = cg.v1.get("memory")
    if d is None or (text := _read(d, "memory.stat")) is None:
        return
    raw = parse_kv(text)
    mem = m.memory
    for key, fieldname in _MEMORY_STAT.items():
        setattr(mem, fieldname, raw.get(key, 0))
        setattr(mem, "total_" + fieldname, raw.get("total_" + key, 0))
    mem.hierarchical_memory_limit = raw.get("hierarchical_memory_limit", 0)
    mem.hierarchical_swap_limit = raw.get("hierarchical_memsw_limit", 0)
    for module, entry in (("", mem.usage), ("memsw.", mem.swap), ("kmem.", mem.kernel),
                          ("kmem.tcp.", mem.kernel_tcp)):
        entry.SetInParent()  # present even when the files are missing, as containerd's are
        if _read(d, f"memory.{module}usage_in_bytes") is None:
            continue
        entry.usage = _uint(d, f"memory.{module}usage_in_bytes")
        entry.max = _uint(d, f"memory.{module}max_usage_in_bytes")
        entry.failcnt = _uint(d, f"memory.{module}failcnt")
        entry.limit = _uint(d, f"memory.{module}limit_in_bytes")
    oom = parse_kv(_read(d, "memory.oom_control") or "")
    m.memory_oom_control.SetInParent()
    m.memory_oom_control.oom_kill_disable = oom.get("oom_kill_disable", 0)
    m.memory_oom_control.under_oom = oom.get("under_oom", 0)
    m.memory_oom_control.oom_kill = oom.get("oom_kill", 0)


def _pids(cg: Cgroup, m: v1pb.Metrics) -> None:
    d = cg.v1.get("pids")
    if d is None or (current := _read(d, "pids.current")) is None:
        return
    m.pids.current = parse_uint(current) or 0
    m.pids.limit = parse_uint(_read(d, "pids.max") or "max") or 0


def _devices() -> dict[tuple[int, int], str]:
    """(major, minor) -> /dev/<name>, from /proc/partitions."""
    out = {}
    for line in (_read("/proc", "partitions") or "").splitlines()[2:]:
        parts = line.split()
        if len(parts) == 4 and parts[0].isdigit() and parts[1].isdigit():
            out[(int(parts[0]), int(parts[1]))] = "/dev/" + parts[3]
    return out


def _blkio_entries(text: str, devices: dict[tuple[int, int], str]) -> list[v1pb.BlkIOEntry]:
    entries = []
    for line in text.splitlines():
        parts = line.replace(":", " ").split()
        if len(parts) < 3 or not parts[0].isdigit():
            continue  # the "Total N" line
        major, minor = int(parts[0]), int(parts[1])
        op, value = (parts[2], parts[3]) if len(parts) == 4 else ("", parts[2])
        entries.append(v1pb.BlkIOEntry(op=op, device=devices.get((major, minor), ""),
                                       major=major, minor=minor, value=int(value)))
    return entries


def _blkio(cg: Cgroup, m: v1pb.Metrics) -> None:
    d = cg.v1.get("blkio")
    if d is None or not os.path.isdir(d):
        return
    m.blkio.SetInParent()
    devices = _devices()
    # CFQ's recursive stats when the kernel has them; otherwise the throttle counters
    cfq = {"sectors_recursive": "sectors_recursive",
           "io_service_bytes_recursive": "io_service_bytes_recursive",
           "io_serviced_recursive": "io_serviced_recursive",
           "io_queued_recursive": "io_queued_recursive",
           "io_service_time_recursive": "io_service_time_recursive",
           "io_wait_time_recursive": "io_wait_time_recursive",
           "io_merged_recursive": "io_merged_recursive", "time_recursive": "io_time_recursive"}
    found = 0
    if _read(d, "blkio.io_serviced_recursive") is not None:
        for name, fieldname in cfq.items():
            entries = _blkio_entries(_read(d, "blkio." + name) or "", devices)
            getattr(m.blkio, fieldname).extend(entries)
            found += len(entries)
    if not found:
        for name, fieldname in (("throttle.io_serviced", "io_serviced_recursive"),
                                ("throttle.io_service_bytes", "io_service_bytes_recursive")):
            getattr(m.blkio, fieldname).extend(_blkio_entries(_read(d, "blkio." + name) or "", devices))


def _hugetlb(cg: Cgroup, m: v1pb.Metrics) -> None:
    d = cg.v1.get("hugetlb")
    if d is None or not os.path.isdir(d):
        return
    sizes = sorted({n.split(".")[1] for n in os.listdir(d) if n.endswith(".usage_in_bytes")})
    for size in sizes:
        m.hugetlb.add(pagesize=size, usage=_uint(d, f"hugetlb.{size}.usage_in_bytes"),
                      max=_uint(d, f"hugetlb.{size}.max_usage_in_bytes"),
                      failcnt=_uint(d, f"hugetlb.{size}.failcnt"))


def stats(cg: Cgroup) -> v1pb.Metrics:
    """Read every mounted v1 controller's counters for ``cg``.

    Raises:
        NotFound: the cgroup does not exist (e.g. the container was deleted).
    """
    if not cg.exists():
        raise NotFound(f"cgroup {cg.path}")
    m = v1pb.Metrics()
    for reader in (_hugetlb, _pids, _cpu, _memory, _blkio):
        reader(cg, m)
    return m
