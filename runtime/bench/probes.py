"""Everything but lifecycles: RPC latency, cold start, what a daemon holds, growth, leaks.

- :func:`rpc_latency`: ``ctr version``'s two unary calls (Version, Introspection/Server),
  each timed on its own over one connection, after a warm-up.
- :func:`cold_start`: a daemon on fresh directories, from ``exec`` to its first answer.
- :func:`host_state`: RSS, open fds, threads and processes below the daemon, mounts under
  its directories (read from ``/proc``).
- :func:`growth`: create-only cost as a namespace fills up to 10, 100, 1,000 containers,
  and what listing them costs at each size.
- :func:`leak_check`: the host state after a warm-up, then after N more lifecycles; what grew.
"""
from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from google.protobuf import empty_pb2

from .._api.containerd.api.services.introspection.v1 import introspection_pb2_grpc
from .._api.containerd.api.services.version.v1 import version_pb2_grpc
from ..client import Client
from ..client.containers import pack_spec
from .daemons import PrivateDaemon, descendants, fd_count, mounts_under, rss_kib
from .lifecycle import Workload, run_lifecycles
from .stats import Summary

__all__ = ["HostState", "cold_start", "growth", "host_state", "leak_check", "peer_pid", "rpc_latency"]


def peer_pid(address: str) -> int:
    """The pid of the process serving unix socket ``address`` (``SO_PEERCRED``); 0 if unknown."""
    path = address.removeprefix("unix://")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(path)
            creds = s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        except OSError:
            return 0
    return int(struct.unpack("3i", creds)[0])


def rpc_latency(address: str, calls: int = 500, warmup: int = 20) -> dict[str, Summary]:
    """Milliseconds per ``Version`` and per ``Introspection/Server`` call (``calls`` of each)."""
    with Client(address) as c:
        version = c.conn.stub(version_pb2_grpc.VersionStub)
        server = c.conn.stub(introspection_pb2_grpc.IntrospectionStub)
        empty = empty_pb2.Empty()
        times: dict[str, list[float]] = {"Version": [], "Server": []}
        for i in range(warmup + calls):
            for name, call in (("Version", version.Version), ("Server", server.Server)):
                t0 = time.perf_counter()
                call(empty)
                if i >= warmup:
                    times[name].append((time.perf_counter() - t0) * 1e3)
    return {k: Summary.of(v) for k, v in times.items()}


def cold_start(make: Callable[[Path], PrivateDaemon], base: Path, runs: int) -> list[float]:
    """Milliseconds from exec to first answer, each time on fresh directories under ``base``."""
    out = []
    for i in range(runs):
        d = make(base / f"cold{i}")
        try:
            out.append(d.start() * 1e3)
        finally:
            d.cleanup()
    return out


@dataclass(frozen=True)
class HostState:
    """What a daemon holds at one moment."""

    rss_kib: int
    fds: int
    threads: int
    processes: int
    mounts: int

    def to_json(self) -> dict[str, int]:
        return asdict(self)


def _threads(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Threads:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def host_state(pid: int, dirs: Sequence[str | Path] = ()) -> HostState:
    """``pid``'s RSS, fds, threads, live processes below it, and mounts under ``dirs``."""
    return HostState(rss_kib(pid), fd_count(pid), _threads(pid), len(descendants(pid)),
                     len(mounts_under(*dirs)) if dirs else 0)


def _create_containers(c: Client, w: Workload, ids: list[str]) -> list[float]:
    times = []
    for id in ids:
        spec = pack_spec(w.spec(c.namespace, id))
        t0 = time.perf_counter()
        c.containers.create(id, spec=spec, runtime=w.runtime)
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def growth(address: str, namespace: str, w: Workload, sizes: Sequence[int] = (10, 100, 1000),
           list_calls: int = 5) -> list[dict[str, Any]]:
    """Fill ``namespace`` up to each size (create only, no tasks); time the creates of each
    step and ``list_calls`` listings at that size; delete everything afterwards."""
    out: list[dict[str, Any]] = []
    made: list[str] = []
    with Client(address, namespace) as c:
        try:
            for size in sorted(sizes):
                ids = [f"grow-{i}" for i in range(len(made), size)]
                creates = _create_containers(c, w, ids)
                made += ids
                lists = []
                for _ in range(list_calls):
                    t0 = time.perf_counter()
                    n = len(c.containers.list())
                    lists.append((time.perf_counter() - t0) * 1e3)
                out.append({"containers": size, "listed": n, "create_ms": Summary.of(creates) if creates else None,
                            "list_ms": Summary.of(lists)})
        finally:
            for id in made:
                c.containers.delete(id)
    return out


def leak_check(address: str, pid: int, namespace: str, w: Workload, *, lifecycles: int = 1000, workers: int = 4,
               warmup: int = 40, dirs: Sequence[str | Path] = (), settle: float = 10.0) -> dict[str, Any]:
    """Host state after ``warmup`` lifecycles and after ``lifecycles`` more; the growth.

    The second reading waits (up to ``settle`` s) for the daemon's children and open files to
    go back to the first reading's counts: shims exit just after their task is deleted, and
    the daemon closes its side then. What is still above after that is a leak.
    """
    run_lifecycles(w, address, namespace, workers=workers, iterations=max(1, warmup // workers), prefix="warm")
    time.sleep(1.0)  # let the last shims exit
    before = host_state(pid, dirs)
    per_worker = max(1, lifecycles // workers)
    run = run_lifecycles(w, address, namespace, workers=workers, iterations=per_worker, prefix="leak")
    deadline = time.monotonic() + settle
    after = host_state(pid, dirs)
    while (after.processes > before.processes or after.fds > before.fds) and time.monotonic() < deadline:
        time.sleep(0.2)  # the last shims exiting, their pidfds and connections closing
        after = host_state(pid, dirs)
    grew = {k: getattr(after, k) - getattr(before, k) for k in ("rss_kib", "fds", "threads", "processes", "mounts")}
    return {"lifecycles": len(run.total), "errors": len(run.errors), "before": before.to_json(),
            "after": after.to_json(), "growth": grew}
