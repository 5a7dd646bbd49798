"""``pyctrd.bench``: measure pyctrd against the real containerd, the same way, side by side.

What bucketbench and containerd-stress do for containerd, through pyctrd's own client, so
the one code path measures any containerd-API socket::

    from pyctrd import bench
    result = bench.compare(bench.Options.quick())      # private containerd + private pyctrd
    result                                               # tables in a notebook (_repr_html_)
    result.plot()                                        # lifecycles/s by subject and workers
    [c for c in result.checks() if not c.met]            # targets missed
    result.save("results")                               # results/bench-compare-<date>.json/.md
    bench.run("/run/pyctrd/pyctrd.sock")                 # one running daemon

``pyctr bench`` is the command line (``pyctr bench --compare --out results``, ``make bench``).

Modules: :mod:`.lifecycle` (the timed lifecycle), :mod:`.floor` (runc alone),
:mod:`.daemons` (private containerd and pyctrd, /proc readings), :mod:`.probes` (RPC
latency, cold start, growth, leaks), :mod:`.images` (pull, import, layers, containers from
an image), :mod:`.suite` (the alternated comparison), :mod:`.result` (targets and views),
:mod:`.stats` (median, p90, max), :mod:`.rootfs` (the busybox root filesystem).
"""
from __future__ import annotations

from .result import SCHEMA, BenchResult, Check, validate
from .suite import Options, compare, run

__all__ = ["SCHEMA", "BenchResult", "Check", "Options", "compare", "run", "validate"]
