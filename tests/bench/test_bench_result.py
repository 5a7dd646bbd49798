"""The result document: targets, ratios, schema and its views (no daemons needed)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pyctrd.bench import SCHEMA, BenchResult, validate
from pyctrd.bench.stats import Summary


def _phases(ms: float) -> dict[str, Any]:
    return {"task create": Summary.of([ms, ms * 1.5, ms * 2]).to_json(),
            "lifecycle": Summary.of([ms * 2, ms * 3, ms * 4]).to_json()}


def _doc() -> dict[str, Any]:
    life = {w: {"containerd/go": {"rate": 10.0, "n": 3, "errors": 0, "phases": _phases(50.0)},
                "pyctrd/py": {"rate": 7.0, "n": 3, "errors": 0, "phases": _phases(80.0)},
                "pyctrd/go": {"rate": 9.5, "n": 3, "errors": 1, "phases": _phases(55.0)},
                "runc": {"rate": 20.0, "n": 3, "errors": 0, "phases": _phases(30.0)}} for w in ("1", "4")}
    rpc = {"containerd": {"Version": Summary.of([0.2]).to_json(), "Server": Summary.of([0.2]).to_json()},
           "pyctrd": {"Version": Summary.of([0.6]).to_json(), "Server": Summary.of([0.4]).to_json()}}
    return {"schema": SCHEMA, "mode": "compare", "date": "2026-01-01T00:00:00+00:00",
            "machine": {"hostname": "h", "cpus": 2, "load_before": 0.5, "load_after": 0.7},
            "lifecycle": life, "rpc": rpc,
            "cold_start_ms": {"containerd": Summary.of([50.0]).to_json(), "pyctrd": Summary.of([600.0]).to_json()},
            "rss_idle_kib": {"containerd": 40000, "pyctrd": 70000}, "rss_load_kib": {"pyctrd": 72000},
            "growth": {"pyctrd": [{"containers": 10, "listed": 10, "create_ms": Summary.of([1.0]).to_json(),
                                   "list_ms": Summary.of([2.0]).to_json()}]},
            "leaks": {"pyctrd": {"lifecycles": 1000, "errors": 0,
                                 "before": {"rss_kib": 1, "fds": 20, "threads": 9, "processes": 1, "mounts": 0},
                                 "after": {"rss_kib": 2, "fds": 21, "threads": 9, "processes": 1, "mounts": 0},
                                 "growth": {"rss_kib": 1, "fds": 1, "threads": 0, "processes": 0, "mounts": 0}}},
            "images": {"pull": "not available", "import": "not available", "layers": "not available"}}


def test_checks_are_cost_ratios_with_verdicts() -> None:
    checks = {c.figure: c for c in BenchResult(_doc()).checks()}
    ours = checks["lifecycles/s, 4 workers, our shim"]
    assert (ours.pyctrd, ours.containerd, ours.ratio, ours.met) == (7.0, 10.0, 1.429, False)
    assert repr(ours) == "<Check lifecycles/s, 4 workers, our shim: ratio 1.43 (<= 1.25) MISSED>"
    assert checks["lifecycles/s, 1 worker, Go shim"].ratio == 1.053
    assert checks["Version RPC latency, median ms"].ratio == 3.0
    assert checks["Server RPC latency, median ms"].met is True
    assert checks["cold start to first RPC, median ms"].met is True
    assert checks["idle RSS, KiB"].ratio == 1.75
    assert checks["fds growth after 1000 lifecycles"].met is False
    assert checks["rss_kib growth after 1000 lifecycles"].met is True
    r = BenchResult(_doc())
    assert not r.ok
    assert repr(r) == "<BenchResult compare 2026-01-01T00:00:00+00:00 targets 8/12 met>"


def test_views_and_files(tmp_path: Path) -> None:
    r = BenchResult(_doc())
    md = r.markdown()
    assert "| lifecycles/s, 4 workers, our shim | 7.00 | 10.00 | 1.43 | <= 1.25 | NO |" in md
    assert "| pyctrd/go | 9.50 | 3 | 1 | - | 165.0 / 220.0 / 220.0 | 82.5 |" in md
    assert "| pull | not available |" in md
    html = r._repr_html_()
    assert html.count("<table>") == len(r.tables()) and "<b style='color:#c62828'>NO</b>" in html
    json_path, md_path = r.save(tmp_path, "x")
    assert BenchResult.load(json_path).data == json.loads(r.to_json())
    assert md_path.read_text() == md
    assert next(t.title for t in r.rich_tables()).startswith("Targets")


def test_plot_draws_a_bar_per_subject_and_worker_count() -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    fig = BenchResult(_doc()).plot()
    ax = fig.axes[0]
    assert len(ax.patches) == 2 * 4 and ax.get_ylabel() == "lifecycles / s"
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_validate_names_what_is_missing() -> None:
    assert validate(_doc()) == []
    doc = _doc()
    doc["schema"] = "other"
    del doc["lifecycle"]["1"]["runc"]["rate"]
    doc["lifecycle"]["4"]["pyctrd/py"]["phases"]["task create"].pop("p90")
    doc.pop("cold_start_ms")
    assert validate(doc) == [
        "schema: expected 'pyctrd-bench/1', got 'other'",
        "lifecycle.1.runc.rate: expected int/float, got NoneType",
        "lifecycle.4.pyctrd/py.phases.task create.p90: expected int/float, got NoneType",
        "cold_start_ms: expected dict, got NoneType",
    ]
