"""Start-up cost of our shim against the Go shim (``python -m tests.shim.bench_shim [N]``, as root).

1. **start -> address**: ``<shim> … start`` in a bundle until it exits having printed the
   address (what containerd waits for); **ready**: until the shim answers Connect; the
   ``delete`` action (containerd runs it after every task).
2. **ctr run --rm … echo hi** on one private containerd, ``--runtime io.containerd.pyrunc.v1``
   vs ``io.containerd.runc.v2``, interleaved.

Not a test: numbers depend on the machine's load. The Go shim puts its sockets and runc
state under /run/containerd whatever the daemon's paths; its namespace's leftovers there are
removed.
"""
from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pyctrd import errdefs, ttrpc
from pyctrd._api.containerd.runtime.v2.task import shim_pb2 as api
from pyctrd.runc import set_subreaper
from tests.runc.conftest import make_rootfs
from tests.shim.private_containerd import PrivateContainerd

SHIMS = {"pyrunc": str(Path(sys.executable).parent / "containerd-shim-pyrunc-v1"),
         "go": "/usr/bin/containerd-shim-runc-v2"}
RUNTIMES = {"pyrunc": "io.containerd.pyrunc.v1", "go": "io.containerd.runc.v2"}
TASK = api.DESCRIPTOR.services_by_name["Task"]


def _bundle(dir: Path, cid: str) -> Path:
    bundle = dir / cid
    bundle.mkdir()
    (bundle / "config.json").write_text('{"ociVersion": "1.0.2"}')
    (bundle / "runtime").write_text("")  # the Go shim's delete reads it
    os.mkfifo(bundle / "log")
    os.open(bundle / "log", os.O_RDWR | os.O_NONBLOCK)  # a reader, as containerd holds one
    return bundle


async def _connect_and_shutdown(address: str, cid: str) -> int:
    async with await ttrpc.connect(address, timeout=10) as client:
        task = ttrpc.Stub(client, TASK)
        pid: int = (await task.Connect(api.ConnectRequest(id=cid), timeout=10)).shim_pid
        try:
            await task.Shutdown(api.ShutdownRequest(id=cid), timeout=10)
        except errdefs.Unavailable:
            pass  # the Go shim closes the connection before it answers
    return pid


def bench_actions(dir: Path, n: int) -> dict[str, dict[str, list[float]]]:
    ns = f"bench-{secrets.token_hex(3)}"
    results: dict[str, dict[str, list[float]]] = {k: {"start": [], "ready": [], "delete": []} for k in SHIMS}
    try:
        for i in range(n):
            for name, shim in SHIMS.items():
                cid = f"b{i}-{name}"
                bundle = _bundle(dir, cid)
                argv = [shim, "-namespace", ns, "-address", str(dir / "d.sock"), "-publish-binary",
                        "/bin/true", "-id", cid]
                t0 = time.perf_counter()
                done = subprocess.run([*argv, "start"], cwd=bundle, capture_output=True,
                                      stdin=subprocess.DEVNULL, check=True)
                t1 = time.perf_counter()
                pid = asyncio.run(_connect_and_shutdown(done.stdout.decode(), cid))
                t2 = time.perf_counter()
                os.waitpid(pid, 0)  # we are its subreaper
                t3 = time.perf_counter()
                subprocess.run([*argv, "-bundle", str(bundle), "delete"], cwd=bundle, capture_output=True,
                               stdin=subprocess.DEVNULL, check=True)
                t4 = time.perf_counter()
                r = results[name]
                r["start"].append((t1 - t0) * 1e3)
                r["ready"].append((t2 - t0) * 1e3)
                r["delete"].append((t4 - t3) * 1e3)
    finally:
        shutil.rmtree(f"/run/containerd/runc/{ns}", ignore_errors=True)
    return results


def bench_ctr_run(dir: Path, n: int) -> dict[str, list[float]]:
    daemon = PrivateContainerd(dir / "ctrd")
    daemon.dir.mkdir()
    rootfs = make_rootfs(dir / "rootfs")
    ns = f"bench-{secrets.token_hex(3)}"
    times: dict[str, list[float]] = {k: [] for k in RUNTIMES}
    try:
        daemon.start()
        for i in range(n):
            for name, runtime in RUNTIMES.items():
                t0 = time.perf_counter()
                done = daemon.ctr("run", "--fifo-dir", str(daemon.dir / "fifo"), "--runtime", runtime,
                                  "--rm", "--rootfs", str(rootfs), f"r{i}-{name}", "/bin/echo", "hi",
                                  namespace=ns)
                times[name].append((time.perf_counter() - t0) * 1e3)
                assert done.stdout == "hi\n", done
    finally:
        daemon.cleanup()
    return times


def _line(name: str, what: str, values: list[float]) -> str:
    return f"{name:7} {what:22} median {statistics.median(values):7.1f} ms   min {min(values):7.1f} ms"


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    set_subreaper(True)
    dir = Path(tempfile.mkdtemp(prefix="pyrunc-b-", dir="/tmp"))
    try:
        actions = bench_actions(dir, n)
        runs = bench_ctr_run(dir, n)
    finally:
        shutil.rmtree(dir, ignore_errors=True)
    print(f"{n} runs each; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cpus")
    for name, r in actions.items():
        print(_line(name, "start -> address", r["start"]))
        print(_line(name, "start -> Connect", r["ready"]))
        print(_line(name, "delete action", r["delete"]))
    for name, values in runs.items():
        print(_line(name, "ctr run --rm echo hi", values))


if __name__ == "__main__":
    main()
