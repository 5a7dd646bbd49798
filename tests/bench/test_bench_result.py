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
    doc = {"schema": SCHEMA, "mode": "compare", "date": "2026-01-01T00:00:00+00:00",
           "machine": {"hostname": "h", "cpus": 2, "load_before": 0.5, "load_after": 0.7},
           "lifecycle": life, "rpc": rpc,
           "cold_start_ms": {"containerd": Summary.of([50.0]).to_json(), "pyctrd": Summary.of([600.0]).to_json()},
           "rss_idle_kib": {"containerd": 40000, "pyctrd": 70000}, "rss_load_kib": {"pyctrd": 72000},
           "growth": {"pyctrd": [{"containers": 10, "listed": 10, "create_ms": Summary.of([1.0]).to_json(),
                                  "list_ms": Summary.of([2.0]).to_json()}]},
           "leaks": {"pyctrd/py": {"lifecycles": 1000, "errors": 0,
                                   "before": {"rss_kib": 1, "fds": 20, "threads": 9, "processes": 1, "mounts": 0},
                                   "after": {"rss_kib": 2, "fds": 21, "threads": 9, "processes": 1, "mounts": 0},
                                   "growth": {"rss_kib": 1, "fds": 1, "threads": 0, "processes": 0, "mounts": 0}}},
            "images": {"pull": "not available", "import": "not available", "layers": "not available"}}
    doc["ratios"] = BenchResult(doc).ratios()  # as compare() stores them
    return doc


def _compared() -> dict[str, Any]:
    """A fuller comparison: both leak checks, growth and images on both daemons, CPU figures."""
    doc = _doc()
    for w, cpu in (("1", 70.0), ("4", 60.0)):
        doc["lifecycle"][w]["containerd/go"]["cpu_ms"] = cpu
        doc["lifecycle"][w]["pyctrd/py"]["cpu_ms"] = cpu * 1.2
    doc["lifecycle"]["1"]["containerd/go"]["round_rates"] = [10.0, 12.0]
    doc["lifecycle"]["1"]["pyctrd/py"]["round_rates"] = [8.0, 12.0]  # rounds 1.25, 1.0: median 1.125
    doc["rss_load_kib"] = {"pyctrd": 80000, "containerd": 50000}
    doc["growth"]["containerd"] = [{"containers": 10, "listed": 10, "create_ms": Summary.of([0.5]).to_json(),
                                    "list_ms": Summary.of([1.0]).to_json()}]
    doc["leaks"]["pyctrd/go"] = {**doc["leaks"]["pyctrd/py"],
                                 "growth": {"rss_kib": 9000, "fds": 0, "threads": 0, "processes": 0, "mounts": 0}}

    def pull(total: float) -> dict[str, Any]:
        return {"total": Summary.of([total]).to_json(), "fetch": Summary.of([total / 4]).to_json(),
                "unpack": Summary.of([total / 2]).to_json()}
    doc["images"] = {"pull": {"containerd": pull(150.0), "pyctrd": pull(195.0)},
                     "import": {"containerd": Summary.of([140.0]).to_json(), "pyctrd": Summary.of([161.0]).to_json()},
                     "layers": {n: {"1": Summary.of([ms]).to_json(), "10": Summary.of([ms * 4]).to_json()}
                                for n, ms in (("containerd", 50.0), ("pyctrd", 60.0))}}
    doc["ratios"] = BenchResult(doc).ratios()
    return doc


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
    assert checks["fds growth after 1000 lifecycles, our shim"].met is False
    assert checks["rss_kib growth after 1000 lifecycles, our shim"].met is True
    assert not [f for f in checks if f.startswith("pull")]  # no pull figures: no pull target
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


def test_pull_and_unpack_is_a_target() -> None:
    doc = _compared()
    pull = {c.figure: c for c in BenchResult(doc).checks()}["pull + unpack of the 3-layer sample, median ms"]
    assert (pull.pyctrd, pull.containerd, pull.ratio, pull.bound, pull.met) == (195.0, 150.0, 1.3, "<= 1.25", False)
    doc["images"]["pull"]["pyctrd"]["total"]["median"] = 180.0
    r = BenchResult(doc)
    assert "| pull + unpack of the 3-layer sample, median ms | 180.00 | 150.00 | 1.20 | <= 1.25 | yes |" in r.markdown()


def test_leak_checks_of_both_shims_are_targets() -> None:
    checks = {c.figure: c for c in BenchResult(_compared()).checks()}
    assert checks["rss_kib growth after 1000 lifecycles, Go shim"].met is False  # 9000 KiB > 8192
    assert checks["fds growth after 1000 lifecycles, Go shim"].met is True
    assert checks["fds growth after 1000 lifecycles, our shim"].met is False
    md = BenchResult(_compared()).markdown()
    assert "## Leak check: pyctrd/py after 1000 lifecycles" in md and "## Leak check: pyctrd/go after 1000" in md
    old = _doc()  # a document from before: one leak check, keyed "pyctrd"
    old["leaks"] = {"pyctrd": old["leaks"].pop("pyctrd/py")}
    assert {c.figure for c in BenchResult(old).checks()} >= {"fds growth after 1000 lifecycles, our shim"}


def test_every_paired_figure_has_its_ratio_in_tables_and_json(tmp_path: Path) -> None:
    doc = _compared()
    ratios = doc["ratios"]
    assert ratios["lifecycles/s, 1 worker, our shim"] == {"pyctrd": 7.0, "containerd": 10.0, "ratio": 1.125}  # paired
    assert ratios["lifecycles/s, 4 workers, Go shim"]["ratio"] == 1.053  # containerd / pyctrd: a cost
    assert ratios["lifecycle median ms, 4 workers, our shim"]["ratio"] == 1.6  # 240 / 150
    assert ratios["CPU per lifecycle ms, 1 worker, our shim"]["ratio"] == 1.2
    assert "CPU per lifecycle ms, 1 worker, Go shim" not in ratios  # measured on one side only
    assert ratios["growth: create at 10 containers, median ms"]["ratio"] == 2.0
    assert ratios["growth: list at 10 containers, median ms"]["ratio"] == 2.0
    assert ratios["peak RSS under the most workers, KiB"]["ratio"] == 1.6
    assert ratios["pull + unpack of the 3-layer sample, median ms"]["ratio"] == 1.3
    assert ratios["pull of the 3-layer sample: unpack, median ms"]["ratio"] == 1.3
    assert ratios["import + unpack of the 3-layer sample archive, median ms"]["ratio"] == 1.15
    assert [ratios[f"import + unpack of {n} small layer(s), median ms"]["ratio"] for n in ("1", "10")] == [1.2, 1.2]
    assert ratios["cold start to first RPC, median ms"]["ratio"] == 12.0
    assert validate(doc) == []
    r = BenchResult(doc)
    md = r.markdown()
    assert "## Ratios: every figure measured on both" in md
    assert "| growth: list at 10 containers, median ms | 2.00 | 1.00 | 2.00 |" in md
    assert "| import + unpack of 10 small layer(s), median ms | 240.00 | 200.00 | 1.20 |" in md
    json_path, _ = r.save(tmp_path, "x")
    assert json.loads(json_path.read_text())["ratios"] == ratios
    assert BenchResult({"schema": SCHEMA, "mode": "run", "rss_idle_kib": {"daemon": 1}}).ratios() == {}


def test_validate_checks_the_ratios() -> None:
    doc = _compared()
    doc["ratios"]["idle RSS, KiB"]["containerd"] = "40000"
    doc["ratios"]["Version RPC latency, median ms"]["ratio"] = "3"
    assert validate(doc) == ["ratios.Version RPC latency, median ms.ratio: expected int/float, got str",
                             "ratios.idle RSS, KiB.containerd: expected int/float, got str"]
    del doc["ratios"]
    assert validate(doc) == ["ratios: expected dict, got NoneType"]
