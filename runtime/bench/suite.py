"""The benchmark run: one daemon (``run``) or pyctrd against a private containerd (``compare``).

``compare`` starts Debian's containerd and pyctrd on private paths, both at once, and takes
every figure from both in the same run, *alternating*: each round runs the subjects in
order and the next round in reverse (A B C C B A …), so a slow minute on a shared machine
hurts all of them alike. The subjects of the lifecycle benchmark:

==================  ====================================================
``containerd/go``   containerd 1.6 + Debian's Go shim (io.containerd.runc.v2)
``pyctrd/py``       pyctrd + our shim (io.containerd.pyrunc.v1)
``pyctrd/go``       pyctrd + the Go shim
``containerd/py``   containerd + our shim (with ``containerd_pyrunc``)
``runc``            runc alone on prepared bundles (the floor)
==================  ====================================================
"""
from __future__ import annotations

import os
import platform
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..client.containers import DEFAULT_RUNTIME, RUNC_RUNTIME
from . import images, probes
from .daemons import PrivateContainerd, PrivateDaemon, PrivatePyctrd, cleanup_namespace, rss_kib
from .floor import run_floor
from .lifecycle import LifecycleRun, Workload, run_lifecycles
from .result import SCHEMA, BenchResult
from .rootfs import make_rootfs
from .stats import Summary

__all__ = ["SAMPLE", "Options", "compare", "run"]

#: ``Options.image`` value for the busybox sample, pushed to a loopback registry (compare only).
SAMPLE = "sample"
#: Debian's Go shim for ``io.containerd.runc.v2`` (the leak check runs with it when installed).
GO_SHIM_BINARY = "containerd-shim-runc-v2"

Log = Callable[[str], None]


@dataclass
class Options:
    """What to measure and how much. The defaults are the full comparison (``make bench``)."""

    workers: tuple[int, ...] = (1, 4, 8)
    iterations: int = 10          # lifecycles per worker per round
    rounds: int = 4               # alternated rounds per figure
    rpc_calls: int = 500          # of each RPC per round
    cold_starts: int = 5          # per daemon
    growth: tuple[int, ...] = (10, 100, 1000)
    leak_lifecycles: int = 1000   # 0: skip the leak check
    floor: bool = True            # runc alone
    containerd_pyrunc: bool = False
    go_shim: bool = True          # pyctrd/go in the comparison
    runtimes: tuple[str, ...] = (DEFAULT_RUNTIME,)  # for `run` against one daemon
    io: str = "null"
    image: str = ""               # run containers from this image (pulled), not the rootfs; "sample"
    images: bool = True           # pull / import / layers figures (when the client can)
    image_runs: int = 3
    layers: tuple[int, ...] = (1, 10, 50)

    @classmethod
    def quick(cls, **kw: Any) -> Options:
        """A smoke-test size: seconds, not minutes."""
        base: dict[str, Any] = {"workers": (1, 2), "iterations": 2, "rounds": 1, "rpc_calls": 20, "cold_starts": 1,
                                "growth": (5,), "leak_lifecycles": 8, "image_runs": 1, "layers": (1, 3)}
        return cls(**{**base, **kw})


def _machine() -> dict[str, Any]:
    def version(cmd: list[str]) -> str:
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False).stdout
        except OSError:
            return ""
        return out.splitlines()[0].strip() if out else ""

    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from .. import __file__ as package_file

    # an editable install (source tree) or a regular one (site-packages): each Python process,
    # shims included, starts ~10 ms slower with an editable install's import finder
    install = "regular" if "site-packages" in Path(package_file).parts else "editable"
    return {"hostname": platform.node(), "cpus": os.cpu_count(), "cpu": model, "kernel": platform.release(),
            "install": install,
            "python": platform.python_version(), "containerd": version(["/usr/bin/containerd", "--version"]),
            "runc": version(["runc", "--version"]), "load_before": round(os.getloadavg()[0], 2)}


def _lifecycle_json(run: LifecycleRun) -> dict[str, Any]:
    cpu = round(run.cpu_ms / len(run.total), 2) if run.cpu_ms and run.total else None
    return {"rate": round(run.rate, 3), "round_rates": [round(r, 3) for r in run.round_rates or [run.rate]],
            "n": len(run.total), "errors": len(run.errors), "cpu_ms": cpu,
            "error_samples": run.errors[:3], "wall_s": round(run.wall, 3),
            "peak_rss_kib": run.peak_rss_kib or None,
            "phases": {k: v.to_json() for k, v in run.summaries().items()}}


@dataclass
class _Subject:
    name: str
    daemon: PrivateDaemon | None  # None: the runc floor
    runtime: str
    namespace: str = field(default_factory=lambda: f"bench-{secrets.token_hex(3)}")


def _rss_sampler(daemon: PrivateDaemon | None) -> Callable[[], int] | None:
    if daemon is None:
        return None
    pid = daemon.pid
    return lambda: rss_kib(pid)


def _lifecycles(subjects: list[_Subject], w: Workload, opts: Options, base: Path, log: Log,
                image: images.ImageRootfs | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for workers in opts.workers:
        merged: dict[str, LifecycleRun] = {}
        for r in range(opts.rounds):
            order = subjects if r % 2 == 0 else list(reversed(subjects))
            for s in order:
                if s.daemon is None:
                    run = run_floor(w, base / f"floor-{workers}-{r}", s.namespace, workers=workers,
                                    iterations=opts.iterations)
                else:
                    s.daemon.namespaces.add(s.namespace)
                    meter = s.daemon.meter
                    cpu0 = meter.usage_ms() if meter else 0.0
                    run = run_lifecycles(Workload(w.rootfs, s.runtime, w.image, w.args, w.io, w.fifo_dir),
                                         s.daemon.address, s.namespace, workers=workers,
                                         iterations=opts.iterations, prefix=f"r{r}w{workers}",
                                         image=image, sample=_rss_sampler(s.daemon))
                    if meter is not None:
                        time.sleep(0.2)  # the last shims are exiting
                        run.cpu_ms += meter.usage_ms() - cpu0
                if s.name in merged:
                    merged[s.name].merge(run)
                else:
                    merged[s.name] = run
                log(f"lifecycles  {s.name:14} workers={workers} round={r + 1}: {run.rate:6.2f}/s"
                    f"{f'  errors={len(run.errors)}' if run.errors else ''}")
        out[str(workers)] = {name: _lifecycle_json(run) for name, run in merged.items()}
    return out


def _alternate(names: list[str], rounds: int, fn: Callable[[str], list[float]]) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for n in names if r % 2 == 0 else list(reversed(names)):
            samples[n] += fn(n)
    return samples


def _images(daemons: dict[str, PrivateDaemon], opts: Options, base: Path, log: Log,
            registry: images.Registry | None) -> dict[str, Any]:
    if not images.available():
        return {"pull": "not available", "import": "not available", "layers": "not available"}
    out: dict[str, Any] = {}
    try:
        registry = registry or images.Registry(base / "registry")
        ref = registry.ref("layered")
        pulls: dict[str, list[dict[str, float]]] = {n: [] for n in daemons}
        for r in range(opts.image_runs):
            for n in daemons if r % 2 == 0 else list(reversed(list(daemons))):
                pulls[n].append(images.bench_pull(daemons[n].address, ref))
        out["pull"] = {n: {k: Summary.of([p[k] for p in ps]).to_json() for k in ("total", "fetch", "unpack")}
                       for n, ps in pulls.items()}
        log("images      pull: " + ", ".join(f"{n} {out['pull'][n]['total']['median']:.0f} ms" for n in daemons))
    except Exception as exc:
        out["pull"] = f"failed: {exc}"
    finally:
        if registry is not None:
            registry.stop()
    try:
        archive = images.sample_archive(base / "archives")
        imports = _alternate(list(daemons), opts.image_runs, lambda n: [images.bench_import(daemons[n].address,
                                                                                             archive)])
        out["import"] = {n: Summary.of(v).to_json() for n, v in imports.items()}
        layers: dict[str, dict[str, Any]] = {n: {} for n in daemons}
        for count in opts.layers:
            path = images.layers_archive(base / "archives", count)
            def one(n: str, path: str = path) -> list[float]:
                return [images.bench_import(daemons[n].address, path)]
            got = _alternate(list(daemons), opts.image_runs, one)
            for n, v in got.items():
                layers[n][str(count)] = Summary.of(v).to_json()
        out["layers"] = layers
        log("images      import and layers done")
    except Exception as exc:
        out.setdefault("import", f"failed: {exc}")
        out.setdefault("layers", f"failed: {exc}")
    return out


def _short_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="pyctrd-bench-", dir="/tmp"))


def compare(opts: Options | None = None, *, log: Log = lambda s: None, **overrides: Any) -> BenchResult:
    """pyctrd against a private containerd, every figure alternated (see the module docstring).
    ``overrides`` replace fields of ``opts`` (``compare(workers=(1,), iterations=3)``).

    Needs root, ``/usr/bin/containerd``, ``runc`` and busybox-static.
    """
    opts = replace(opts or Options(), **overrides)
    base = _short_dir()
    try:
        return _compare(opts, base, log)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _compare(opts: Options, base: Path, log: Log) -> BenchResult:
    data: dict[str, Any] = {"schema": SCHEMA, "mode": "compare", "date": datetime.now(UTC).isoformat(timespec="seconds"),
                            "machine": _machine(), "options": asdict(opts)}
    ctrd, pyd = PrivateContainerd(base / "c"), PrivatePyctrd(base / "p")
    daemons: dict[str, PrivateDaemon] = {"containerd": ctrd, "pyctrd": pyd}
    registry: images.Registry | None = None
    try:
        rootfs = make_rootfs(base / "rootfs")
        w = Workload(str(rootfs), "", opts.image, io=opts.io, fifo_dir=str(base / "fifo"))
        cold: dict[str, list[float]] = {n: [] for n in daemons}
        for n, d in daemons.items():
            cold[n].append(d.start(meter=True) * 1e3)
        log(f"started     containerd pid {ctrd.pid}, pyctrd pid {pyd.pid} in {base}")
        time.sleep(1.0)
        data["rss_idle_kib"] = {n: rss_kib(d.pid) for n, d in daemons.items()}
        data["rpc"] = {}
        rpc = {n: probes.rpc_latency(d.address, opts.rpc_calls) for n, d in daemons.items()}
        data["rpc"] = {n: {k: v.to_json() for k, v in r.items()} for n, r in rpc.items()}
        log("rpc         " + ", ".join(f"{n} Version {r['Version'].median:.3f} ms" for n, r in rpc.items()))
        subjects = [_Subject("containerd/go", ctrd, RUNC_RUNTIME), _Subject("pyctrd/py", pyd, DEFAULT_RUNTIME)]
        if opts.go_shim:
            subjects.append(_Subject("pyctrd/go", pyd, RUNC_RUNTIME))
        if opts.containerd_pyrunc:
            subjects.append(_Subject("containerd/py", ctrd, DEFAULT_RUNTIME))
        if opts.floor:
            subjects.append(_Subject("runc", None, ""))
        if opts.image == SAMPLE:  # the busybox sample from a loopback registry of our own
            registry = images.Registry(base / "registry")
        image = images.ImageRootfs(registry.ref("busybox") if registry else opts.image) if opts.image else None
        for s in subjects:  # untimed: first-use costs (a fork server, page cache) are not the figure
            if s.daemon is not None:
                s.daemon.namespaces.add(s.namespace)
                run_lifecycles(Workload(w.rootfs, s.runtime, w.image, w.args, w.io, w.fifo_dir), s.daemon.address,
                               s.namespace, iterations=1, prefix="warmup", image=image)
        data["lifecycle"] = _lifecycles(subjects, w, opts, base, log, image)
        data["rss_load_kib"] = {n: max((data["lifecycle"][str(max(opts.workers))].get(s.name, {}).get("peak_rss_kib")
                                        or 0) for s in subjects if s.daemon is d) for n, d in daemons.items()}
        data["growth"] = {n: _growth_json(probes.growth(d.address, f"bench-grow-{secrets.token_hex(3)}", w,
                                                        opts.growth)) for n, d in daemons.items()} \
            if opts.growth else {}
        log("growth      done")
        if opts.leak_lifecycles:
            data["leaks"] = _leaks(pyd, w, opts, log)
        data["images"] = _images(daemons, opts, base, log, registry) if opts.images else {}
        registry = None  # stopped by _images
    finally:
        if registry is not None:
            registry.stop()
        for d in daemons.values():
            d.cleanup()
    makers: dict[str, Callable[[Path], PrivateDaemon]] = {"containerd": PrivateContainerd, "pyctrd": PrivatePyctrd}
    more = _alternate(list(makers), max(0, opts.cold_starts - 1),
                      lambda n: probes.cold_start(makers[n], base / "cold" / n, 1))
    data["cold_start_ms"] = {n: Summary.of(cold[n] + more[n]).to_json() for n in makers}
    log("cold start  " + ", ".join(f"{n} {v['median']:.0f} ms" for n, v in data["cold_start_ms"].items()))
    data["machine"]["load_after"] = round(os.getloadavg()[0], 2)
    data["ratios"] = BenchResult(data).ratios()
    return BenchResult(data)


def _leaks(pyd: PrivatePyctrd, w: Workload, opts: Options, log: Log) -> dict[str, Any]:
    """The leak check on pyctrd with each shim: ours, and the Go shim when it is installed."""
    shims = [("pyctrd/py", DEFAULT_RUNTIME)]
    if opts.go_shim and shutil.which(GO_SHIM_BINARY):
        shims.append(("pyctrd/go", RUNC_RUNTIME))
    out: dict[str, Any] = {}
    for name, runtime in shims:
        ns = f"bench-leak-{secrets.token_hex(3)}"
        pyd.namespaces.add(ns)
        leak = out[name] = probes.leak_check(
            pyd.address, pyd.pid, ns, Workload(w.rootfs, runtime, io=w.io, fifo_dir=w.fifo_dir),
            lifecycles=opts.leak_lifecycles, warmup=min(40, opts.leak_lifecycles), dirs=[pyd.dir])
        log(f"leaks       {name} after {leak['lifecycles']}: {leak['growth']}")
    return out


def _growth_json(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: (v.to_json() if isinstance(v, Summary) else v) for k, v in row.items()} for row in rows]


def run(address: str, opts: Options | None = None, *, log: Log = lambda s: None, **overrides: Any) -> BenchResult:
    """Measure the one daemon at ``address`` (any containerd-API socket): lifecycles for each
    of ``opts.runtimes``, RPC latency, growth; its RSS too when it runs on this machine.
    ``overrides`` replace fields of ``opts``::

        bench.run(lab.address, bench.Options.quick(), runtimes=("io.containerd.runc.v2",))
    """
    opts = replace(opts or Options(), **overrides)
    base = _short_dir()
    pid = probes.peer_pid(address)
    data: dict[str, Any] = {"schema": SCHEMA, "mode": "run", "address": address,
                            "date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": _machine(),
                            "options": asdict(opts), "daemon_pid": pid}
    namespaces: list[str] = []
    try:
        rootfs = make_rootfs(base / "rootfs")
        w = Workload(str(rootfs), "", opts.image, io=opts.io, fifo_dir=str(base / "fifo"))
        data["rss_idle_kib"] = {"daemon": rss_kib(pid)} if pid else {}
        data["rpc"] = {"daemon": {k: v.to_json() for k, v in probes.rpc_latency(address, opts.rpc_calls).items()}}
        image = images.ImageRootfs(opts.image) if opts.image else None
        lifecycle: dict[str, Any] = {}
        for workers in opts.workers:
            lifecycle[str(workers)] = {}
            for runtime in opts.runtimes:
                ns = f"bench-{secrets.token_hex(3)}"
                namespaces.append(ns)
                merged: LifecycleRun | None = None
                for r in range(opts.rounds):
                    one = run_lifecycles(Workload(w.rootfs, runtime, w.image, w.args, w.io, w.fifo_dir), address, ns,
                                         workers=workers, iterations=opts.iterations, prefix=f"r{r}", image=image,
                                         sample=(lambda: rss_kib(pid)) if pid else None)
                    if merged is None:
                        merged = one
                    else:
                        merged.merge(one)
                assert merged is not None
                lifecycle[str(workers)][f"daemon/{runtime}"] = _lifecycle_json(merged)
                log(f"lifecycles  {runtime} workers={workers}: {merged.rate:.2f}/s")
        data["lifecycle"] = lifecycle
        if opts.growth:
            ns = f"bench-grow-{secrets.token_hex(3)}"
            data["growth"] = {"daemon": _growth_json(probes.growth(address, ns, w, opts.growth))}
    finally:
        for ns in namespaces:  # runc state of the Go shim, and of ours (beside the daemon's socket)
            cleanup_namespace(ns, Path(address.removeprefix("unix://")).parent / "runc")
        shutil.rmtree(base, ignore_errors=True)
    return BenchResult(data)
