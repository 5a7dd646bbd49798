"""The floor: the same lifecycle with ``runc`` alone, no daemon and no shim.

Each lifecycle runs the runc binary four times on a bundle prepared beforehand (its
``config.json`` names the shared read-only rootfs)::

    runc create (pid file)  -> runc start -> runc kill KILL -> wait for the exit -> runc delete

The container's first process is orphaned when ``runc create`` exits; this process is made a
child subreaper for the run, so the exit comes here (``waitpid`` on the pid runc wrote). The
phases are named as the daemons' (``task create`` …) so that tables line up; a daemon's figure
minus the floor's is its overhead.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

from ..core import oci
from ..runc import set_subreaper
from .daemons import cleanup_namespace
from .lifecycle import LifecycleRun, Workload

__all__ = ["run_floor"]

RUNC = "runc"


def _runc(root: Path, *args: str) -> None:
    # stderr to a memory file, never a pipe: `runc create` hands its stdio to the container,
    # which would hold a pipe open (and us waiting for its end) until it exits
    fd = os.memfd_create("runc-stderr")
    try:
        rc = subprocess.run([RUNC, "--root", str(root), *args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=fd, check=False).returncode
        if rc != 0:
            os.lseek(fd, 0, os.SEEK_SET)
            raise subprocess.CalledProcessError(rc, ["runc", *args], stderr=os.read(fd, 4096))
    finally:
        os.close(fd)


def _bundle(dir: Path, w: Workload, namespace: str, id: str) -> Path:
    bundle = dir / id
    bundle.mkdir(parents=True)
    (bundle / "config.json").write_text(oci.dumps(w.spec(namespace, id)))
    return bundle


def _one(root: Path, bundle: Path, id: str) -> dict[str, float]:
    times: dict[str, float] = {}
    pid_file = bundle / "init.pid"
    t = time.perf_counter()
    _runc(root, "create", "--bundle", str(bundle), "--pid-file", str(pid_file), id)
    times["task create"], t = (time.perf_counter() - t) * 1e3, time.perf_counter()
    _runc(root, "start", id)
    times["task start"], t = (time.perf_counter() - t) * 1e3, time.perf_counter()
    _runc(root, "kill", id, "KILL")
    times["task kill"], t = (time.perf_counter() - t) * 1e3, time.perf_counter()
    os.waitpid(int(pid_file.read_text()), 0)
    times["task wait"], t = (time.perf_counter() - t) * 1e3, time.perf_counter()
    _runc(root, "delete", id)
    times["task delete"] = (time.perf_counter() - t) * 1e3
    return times


def run_floor(w: Workload, dir: Path, namespace: str, *, workers: int = 1, iterations: int = 10) -> LifecycleRun:
    """``workers`` threads x ``iterations`` runc-only lifecycles under ``dir`` (bundles and runc
    root; removed afterwards). Needs root and runc.
    """
    run = LifecycleRun(workers, iterations)
    root = dir / "runc-root"
    bundles = {(n, i): _bundle(dir / "bundles", w, namespace, f"floor-w{n}-{i}")
               for n in range(workers) for i in range(iterations)}
    lock = threading.Lock()
    barrier = threading.Barrier(workers + 1)

    def worker(n: int) -> None:
        barrier.wait()
        for i in range(iterations):
            id = f"floor-w{n}-{i}"
            t0 = time.perf_counter()
            try:
                times = _one(root, bundles[n, i], id)
            except (OSError, subprocess.CalledProcessError, ValueError) as exc:
                detail = getattr(exc, "stderr", b"") or b""
                with lock:
                    run.errors.append(f"{id}: {exc} {detail.decode(errors='replace').strip()}")
                subprocess.run([RUNC, "--root", str(root), "delete", "--force", id], capture_output=True, check=False)
                continue
            total = (time.perf_counter() - t0) * 1e3
            with lock:
                for p, ms in times.items():
                    run.phases[p].append(ms)
                run.total.append(total)

    set_subreaper(True)
    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(workers)]
    try:
        for t in threads:
            t.start()
        barrier.wait()
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        run.wall = time.perf_counter() - t0
    finally:
        set_subreaper(False)
        cleanup_namespace(namespace, dir / "runc-root-ns")
        if root.is_dir():
            for id in os.listdir(root):
                subprocess.run([RUNC, "--root", str(root), "delete", "--force", id], capture_output=True, check=False)
        shutil.rmtree(dir, ignore_errors=True)
    return run
