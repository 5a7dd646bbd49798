"""The lifecycle benchmark: what bucketbench and containerd-stress time, through the client.

One lifecycle is seven calls, each timed on its own::

    container create -> task create -> task start -> task kill -> task wait
        -> task delete -> container delete

``task create`` is where the shim starts (the expensive part); ``task wait`` is the time from
the kill being accepted until the exit is known. ``workers`` threads each run ``iterations``
lifecycles back to back (each thread with its own connection), released together; the rate
is lifecycles per second of wall time.

The container runs ``sleep`` from a prepared busybox root filesystem named by the spec's
``root.path`` (read-only, so both daemons can share one directory) and is killed with
SIGKILL. With ``io="null"`` no stdio is attached (the daemon and shim are measured, not the
client's FIFO threads); ``io="fifo"`` makes and copies a FIFO set, as ``ctr run`` does.

The same code runs against any containerd-API socket, so pyctrd and containerd are measured
identically::

    run_lifecycles(Workload("/tmp/rootfs", "io.containerd.runc.v2"), address, "bench-1", workers=4,
                   iterations=10)
"""
from __future__ import annotations

import contextlib
import io as _io
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .. import errdefs
from ..client import Client, cio
from ..client.containers import pack_spec
from ..core import oci
from .stats import Summary

__all__ = ["PHASES", "ImageSource", "LifecycleRun", "Workload", "run_lifecycles"]

PHASES = ("container create", "task create", "task start", "task kill", "task wait", "task delete",
          "container delete")


@dataclass(frozen=True)
class Workload:
    """What each lifecycle runs.

    Attributes:
        rootfs: directory used as ``root.path`` (read-only), or "" with ``image``.
        runtime: the runtime name (``io.containerd.runc.v2``: Debian's Go shim;
            ``io.containerd.pyrunc.v1``: ours).
        image: an image reference whose unpacked snapshot becomes each container's rootfs
            (see :mod:`.images`); "" to use ``rootfs``.
        args: the container's process.
        io: "null" or "fifo" (see the module docstring).
        fifo_dir: where FIFO sets are made with ``io="fifo"``.
    """

    rootfs: str
    runtime: str
    image: str = ""
    args: tuple[str, ...] = ("sleep", "3600")
    io: str = "null"
    fifo_dir: str = "/tmp/pyctrd-bench-fifo"
    snapshotter: str = "overlayfs"

    def spec(self, namespace: str, id: str) -> dict[str, Any]:
        """The OCI spec of container ``id`` (rootfs mode)."""
        return oci.generate_spec(namespace, id, oci.with_default_unix_devices, oci.with_default_path_env,
                                 oci.with_rootfs_path(self.rootfs), oci.with_readonly_rootfs,
                                 oci.with_process_args(*self.args))


@dataclass
class LifecycleRun:
    """The timings of one run: per phase and per whole lifecycle (ms), and the wall time (s)."""

    workers: int
    iterations: int
    phases: dict[str, list[float]] = field(default_factory=lambda: {p: [] for p in PHASES})
    total: list[float] = field(default_factory=list)
    wall: float = 0.0
    errors: list[str] = field(default_factory=list)
    peak_rss_kib: int = 0
    cpu_ms: float = 0.0  # the daemon's and its children's, when measured (see daemons.CpuMeter)
    round_rates: list[float] = field(default_factory=list)  # each merged run's own rate

    def __repr__(self) -> str:
        return (f"<LifecycleRun workers={self.workers} n={len(self.total)} rate={self.rate:.2f}/s "
                f"errors={len(self.errors)}>")

    @property
    def rate(self) -> float:
        """Lifecycles completed per second of wall time."""
        return len(self.total) / self.wall if self.wall > 0 else 0.0

    def merge(self, other: LifecycleRun) -> None:
        """Add another run's samples (alternated rounds of the same figure)."""
        if not self.round_rates:
            self.round_rates.append(self.rate)
        self.round_rates.append(other.rate)
        for p in PHASES:
            self.phases[p] += other.phases[p]
        self.total += other.total
        self.wall += other.wall
        self.errors += other.errors
        self.cpu_ms += other.cpu_ms
        self.peak_rss_kib = max(self.peak_rss_kib, other.peak_rss_kib)
        self.iterations += other.iterations

    def summaries(self) -> dict[str, Summary]:
        out = {p: Summary.of(v) for p, v in self.phases.items() if v}
        if self.total:
            out["lifecycle"] = Summary.of(self.total)
        return out


class ImageSource(Protocol):
    """Where containers come from when the workload names an image (:class:`.images.ImageRootfs`)."""

    def ensure(self, c: Client) -> None: ...

    def create(self, c: Client, id: str, runtime: str, args: Sequence[str]) -> Callable[[], None]: ...

    def rootfs(self, c: Client, id: str) -> list[Any]: ...


def _timed(times: dict[str, float], phase: str, fn: Callable[[], Any]) -> Any:
    t0 = time.perf_counter()
    result = fn()
    times[phase] = (time.perf_counter() - t0) * 1e3
    return result


def _one(client: Client, w: Workload, id: str, image: ImageSource | None) -> dict[str, float]:
    times: dict[str, float] = {}
    remove_snapshot: Callable[[], None] | None = None
    creator = (cio.with_streams(None, _io.BytesIO(), _io.BytesIO(), fifo_dir=w.fifo_dir) if w.io == "fifo"
               else None)
    task = None
    try:
        if image is not None:  # as `ctr run IMAGE`: snapshot, spec from the image config, record
            remove_snapshot = _timed(times, "container create",
                                     lambda: image.create(client, id, w.runtime, w.args))
        else:
            spec = pack_spec(w.spec(client.namespace, id))
            _timed(times, "container create", lambda: client.containers.create(id, spec=spec, runtime=w.runtime))
        if image is not None:  # as containerd's Go client: the snapshot's mounts go with the request
            task = made = _timed(times, "task create",
                                 lambda: client.tasks.create(id, io=creator, rootfs=image.rootfs(client, id)))
        else:
            task = made = _timed(times, "task create", lambda: client.tasks.create(id, io=creator))
        _timed(times, "task start", made.start)
        _timed(times, "task kill", lambda: made.kill(9))
        _timed(times, "task wait", lambda: made.wait(timeout=30))
        _timed(times, "task delete", made.delete)
        task = None

        def delete() -> None:
            client.containers.delete(id)
            if remove_snapshot is not None:  # as the Go client's WithSnapshotCleanup
                remove_snapshot()
        _timed(times, "container delete", delete)
        remove_snapshot = None
    except BaseException:
        if task is not None:
            with contextlib.suppress(errdefs.PyctrdError):
                task.delete(force=True)
        with contextlib.suppress(errdefs.PyctrdError):
            client.containers.delete(id)
        if remove_snapshot is not None:
            with contextlib.suppress(errdefs.PyctrdError):
                remove_snapshot()
        raise
    return times


def run_lifecycles(w: Workload, address: str, namespace: str, *, workers: int = 1, iterations: int = 10,
                   prefix: str = "lc", image: ImageSource | None = None,
                   sample: Callable[[], int] | None = None) -> LifecycleRun:
    """Run ``workers`` x ``iterations`` lifecycles against the daemon at ``address``.

    With ``image`` each container is made from it (pulled into the namespace first, untimed).

    ``sample`` (e.g. the daemon's RSS) is called every 50 ms meanwhile; its peak is kept.
    Failed lifecycles are cleaned up and counted in ``errors``; they never stop the run.
    """
    run = LifecycleRun(workers, iterations)
    lock = threading.Lock()
    barrier = threading.Barrier(workers + 1)
    clients = [Client(address, namespace) for _ in range(workers)]
    if image is not None:
        image.ensure(clients[0])

    def worker(n: int) -> None:
        c = clients[n]
        barrier.wait()
        for i in range(iterations):
            id = f"{prefix}-w{n}-{i}"
            t0 = time.perf_counter()
            try:
                times = _one(c, w, id, image)
            except Exception as exc:
                with lock:
                    run.errors.append(f"{id}: {exc}")
                continue
            total = (time.perf_counter() - t0) * 1e3
            with lock:
                for p, ms in times.items():
                    run.phases[p].append(ms)
                run.total.append(total)

    threads = [threading.Thread(target=worker, args=(n,), name=f"bench-w{n}", daemon=True) for n in range(workers)]
    for t in threads:
        t.start()
    done = threading.Event()
    peak = [0]

    def sampler() -> None:
        while sample is not None and not done.wait(0.05):
            peak[0] = max(peak[0], sample())

    watcher = threading.Thread(target=sampler, daemon=True)
    try:
        barrier.wait()
        t0 = time.perf_counter()
        watcher.start()
        for t in threads:
            t.join()
        run.wall = time.perf_counter() - t0
    finally:
        done.set()
        for c in clients:
            c.close()
    watcher.join()
    run.peak_rss_kib = peak[0]
    return run
