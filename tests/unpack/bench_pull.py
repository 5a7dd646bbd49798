"""Pull + unpack of ``layered`` from one loopback registry: pyctrd against the real containerd.

``python -m tests.unpack.bench_pull [N]`` (as root). One docker-registry with the samples
pushed; one pyctrd and one containerd on private paths. Each round, interleaved, times:

- ``ctr images pull --plain-http`` into containerd, and into pyctrd;
- ``pyctr images pull --plain-http`` into pyctrd, and into containerd;
- ``Client.pull`` in this process (no CLI start-up) into pyctrd.

Between rounds the image is removed with ``--sync`` so every pull downloads and unpacks
everything again. Not a test: numbers depend on the machine's load. ctr's progress loop
alone waits ~100 ms (it redraws every 100 ms and finishes on a tick).
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pyctrd.client import Client
from pyctrd.images.samples import build_samples, push_samples
from pyctrd.remotes import DockerResolver
from tests.fixtures.daemon import start_daemon
from tests.fixtures.registry import start_registry
from tests.shim.private_containerd import PrivateContainerd


def _run(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, stdin=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main(n: int = 5) -> None:
    base = Path(tempfile.mkdtemp(prefix="pyctrd-bench-", dir="/tmp"))
    reg = start_registry(base / "reg")
    push_samples(DockerResolver(), reg.host, build_samples())
    ref = reg.ref("layered")
    ours = start_daemon(base, name="p")
    theirs = PrivateContainerd(base / "c")
    theirs.dir.mkdir()
    theirs.start()
    pyctr = [sys.executable, "-m", "pyctrd.cmd.pyctr"]
    cases = {
        "ctr -> containerd": (["ctr", "--address", theirs.address, "images", "pull", "--plain-http", ref], theirs.address),
        "ctr -> pyctrd": (["ctr", "--address", ours.address, "images", "pull", "--plain-http", ref], ours.address),
        "pyctr -> pyctrd": ([*pyctr, "--address", ours.address, "images", "pull", "--plain-http", ref], ours.address),
        "pyctr -> containerd": ([*pyctr, "--address", theirs.address, "images", "pull", "--plain-http", ref],
                                theirs.address),
    }
    inproc = ["Client.pull -> pyctrd (in process)", "  of which fetch", "  of which unpack",
              "Client.pull -> containerd (in process)"]
    times: dict[str, list[float]] = {k: [] for k in [*cases, *inproc]}
    client, real = Client(ours.address), Client(theirs.address)
    try:
        for _ in range(n):
            for name, (cmd, address) in cases.items():
                times[name].append(_run(cmd))
                _run(["ctr", "--address", address, "images", "rm", "--sync", ref])
            t0 = time.perf_counter()
            res = client.pull(ref, plain_http=True)
            times[inproc[0]].append(time.perf_counter() - t0)
            times[inproc[1]].append(res.fetch_seconds)
            times[inproc[2]].append(res.unpack_seconds)
            client.images.delete(ref, sync=True)
            t0 = time.perf_counter()
            real.pull(ref, plain_http=True)
            times[inproc[3]].append(time.perf_counter() - t0)
            real.images.delete(ref, sync=True)
        for name, ts in times.items():
            print(f"{name:38} median {statistics.median(ts) * 1000:7.1f} ms  "
                  f"min {min(ts) * 1000:7.1f} ms  (n={len(ts)})")
    finally:
        client.close()
        real.close()
        ours.stop()
        theirs.cleanup()
        reg.stop()
        subprocess.run(["rm", "-rf", str(base)], check=False)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
