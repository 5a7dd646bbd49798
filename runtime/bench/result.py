"""A benchmark result: the JSON document, the targets it is checked against, and its views.

The document (``schema`` ``pyctrd-bench/1``) is plain JSON; :class:`BenchResult` wraps it and
renders the same tables as markdown (``results/*.md``, the README), rich (``pyctr bench``),
HTML (a notebook shows the object) and a matplotlib figure (:meth:`BenchResult.plot`).

**Ratios are costs, pyctrd over containerd**, so lower is better and 1.0 is parity: for times
``pyctrd / containerd``; for rates (lifecycles per second) ``containerd / pyctrd``, taken
round by round (the median of each alternated round's ratio) when the rounds are recorded.

>>> r = BenchResult({"schema": SCHEMA, "mode": "compare", "lifecycle": {"1": {
...     "containerd/go": {"rate": 10.0, "phases": {}}, "pyctrd/py": {"rate": 8.0, "phases": {}}}}})
>>> [c for c in r.checks() if c.figure.startswith("lifecycles/s")][0]
<Check lifecycles/s, 1 worker, our shim: ratio 1.25 (<= 1.25) met>
"""
from __future__ import annotations

import html
import json
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .stats import ratio

__all__ = ["LEAK_BOUNDS", "SCHEMA", "BenchResult", "Check", "validate"]

SCHEMA = "pyctrd-bench/1"
#: How much may grow over the leak check's lifecycles (RSS in KiB; the rest must not grow).
LEAK_BOUNDS = {"rss_kib": 8192, "fds": 0, "processes": 0, "mounts": 0}
SHIMS = {"pyctrd/py": ("our shim", 1.25), "pyctrd/go": ("Go shim", 1.10)}
#: Leak checks by subject ("pyctrd": a document from before the Go shim had one).
LEAK_SHIMS = {"pyctrd/py": "our shim", "pyctrd/go": "Go shim", "pyctrd": "our shim"}
PULL_FIGURE = "pull + unpack of the 3-layer sample, median ms"
PULL_BOUND = 1.25
Table = tuple[str, list[str], list[list[str]]]


@dataclass(frozen=True)
class Check:
    """One target: the two figures, their ratio (or the absolute value), the bound, the verdict."""

    figure: str
    pyctrd: float | None
    containerd: float | None
    ratio: float | None
    bound: str
    met: bool | None

    def __repr__(self) -> str:
        verdict = "n/a" if self.met is None else ("met" if self.met else "MISSED")
        value = f"ratio {self.ratio:.2f}" if self.ratio is not None else f"value {self.pyctrd}"
        return f"<Check {self.figure}: {value} ({self.bound}) {verdict}>"


def _get(doc: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(doc, dict) or key not in doc:
            return None
        doc = doc[key]
    return doc


def _fmt(v: Any, digits: int = 1) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


class BenchResult:
    """The result of :func:`pyctrd.bench.compare` or :func:`pyctrd.bench.run`."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def __repr__(self) -> str:
        checks = [c for c in self.checks() if c.met is not None]
        met = sum(bool(c.met) for c in checks)
        return f"<BenchResult {self.data.get('mode')} {self.data.get('date', '')} targets {met}/{len(checks)} met>"

    # -- targets -----------------------------------------------------------------------------------------
    def checks(self) -> list[Check]:
        """Every target that this result has figures for."""
        d, out = self.data, []
        for workers, subjects in sorted((d.get("lifecycle") or {}).items(), key=lambda kv: int(kv[0])):
            theirs = _get(subjects, "containerd/go", "rate")
            for name, (shim, bound) in SHIMS.items():
                ours = _get(subjects, name, "rate")
                if ours is None or theirs is None:
                    continue
                r = _paired_ratio(_get(subjects, "containerd/go", "round_rates"), _get(subjects, name, "round_rates")) \
                    or ratio(theirs, ours)
                label = f"lifecycles/s, {workers} worker{'s' if workers != '1' else ''}, {shim}"
                out.append(Check(label, ours, theirs, r, f"<= {bound}", None if r is None else r <= bound))
        for call in ("Version", "Server"):
            ours, theirs = _get(d, "rpc", "pyctrd", call, "median"), _get(d, "rpc", "containerd", call, "median")
            if ours is not None and theirs is not None:
                r = ratio(ours, theirs)
                out.append(Check(f"{call} RPC latency, median ms", ours, theirs, r, "<= 2.5",
                                 None if r is None else r <= 2.5))
        cold = _get(d, "cold_start_ms", "pyctrd", "median")
        if cold is not None:
            out.append(Check("cold start to first RPC, median ms", cold, _get(d, "cold_start_ms", "containerd", "median"),
                             None, "<= 1000 ms", cold <= 1000))
        ours, theirs = _get(d, "rss_idle_kib", "pyctrd"), _get(d, "rss_idle_kib", "containerd")
        if ours and theirs:
            r = ratio(ours, theirs)
            out.append(Check("idle RSS, KiB", ours, theirs, r, "<= 3", None if r is None else r <= 3))
        ours, theirs = _get(d, "images", "pull", "pyctrd", "total", "median"), \
            _get(d, "images", "pull", "containerd", "total", "median")
        if ours is not None and theirs is not None:
            r = ratio(ours, theirs)
            out.append(Check(PULL_FIGURE, ours, theirs, r, f"<= {PULL_BOUND}", None if r is None else r <= PULL_BOUND))
        for name, leak in (d.get("leaks") or {}).items():
            grew = _get(leak, "growth")
            if not isinstance(grew, dict):
                continue
            shim = LEAK_SHIMS.get(name, name)
            for key, bound in LEAK_BOUNDS.items():
                out.append(Check(f"{key} growth after {_get(leak, 'lifecycles')} lifecycles, {shim}", grew.get(key),
                                 None, None, f"<= {bound}", grew.get(key, 0) <= bound))
        return out

    def ratios(self) -> dict[str, dict[str, float | None]]:
        """Every figure measured on both daemons: ``{figure: {"pyctrd", "containerd", "ratio"}}``.

        Ratios are costs (see the module docstring): times and sizes ``pyctrd / containerd``,
        lifecycles per second ``containerd / pyctrd`` (paired by round when rounds are
        recorded). Per-phase medians stay in the lifecycle tables. Empty for a ``run``.

        >>> BenchResult({"rss_idle_kib": {"pyctrd": 60000, "containerd": 40000}}).ratios()
        {'idle RSS, KiB': {'pyctrd': 60000, 'containerd': 40000, 'ratio': 1.5}}
        """
        d = self.data
        out: dict[str, dict[str, float | None]] = {}

        def pair(figure: str, ours: Any, theirs: Any, r: float | None = None) -> None:
            if isinstance(ours, int | float) and isinstance(theirs, int | float):
                out[figure] = {"pyctrd": ours, "containerd": theirs,
                               "ratio": r if r is not None else ratio(ours, theirs)}

        for workers, subjects in sorted((d.get("lifecycle") or {}).items(), key=lambda kv: int(kv[0])):
            ctrd, at = subjects.get("containerd/go") or {}, f"{workers} worker{'s' if workers != '1' else ''}"
            for name, (shim, _) in SHIMS.items():
                s = subjects.get(name) or {}
                rate, theirs = s.get("rate"), ctrd.get("rate")
                pair(f"lifecycles/s, {at}, {shim}", rate, theirs,
                     _paired_ratio(ctrd.get("round_rates"), s.get("round_rates")) or ratio(theirs, rate))
                pair(f"lifecycle median ms, {at}, {shim}", _get(s, "phases", "lifecycle", "median"),
                     _get(ctrd, "phases", "lifecycle", "median"))
                pair(f"CPU per lifecycle ms, {at}, {shim}", s.get("cpu_ms"), ctrd.get("cpu_ms"))
        for call in ("Version", "Server"):
            pair(f"{call} RPC latency, median ms", _get(d, "rpc", "pyctrd", call, "median"),
                 _get(d, "rpc", "containerd", call, "median"))
        pair("cold start to first RPC, median ms", _get(d, "cold_start_ms", "pyctrd", "median"),
             _get(d, "cold_start_ms", "containerd", "median"))
        pair("idle RSS, KiB", _get(d, "rss_idle_kib", "pyctrd"), _get(d, "rss_idle_kib", "containerd"))
        pair("peak RSS under the most workers, KiB", _get(d, "rss_load_kib", "pyctrd"),
             _get(d, "rss_load_kib", "containerd"))
        growth = d.get("growth") or {}
        theirs_by_size = {g.get("containers"): g for g in growth.get("containerd") or []}
        for g in growth.get("pyctrd") or []:
            c = theirs_by_size.get(g.get("containers")) or {}
            for what in ("create", "list"):
                pair(f"growth: {what} at {g.get('containers')} containers, median ms",
                     _get(g, f"{what}_ms", "median"), _get(c, f"{what}_ms", "median"))
        imgs = d.get("images") or {}
        for part in ("total", "fetch", "unpack"):
            figure = PULL_FIGURE if part == "total" else f"pull of the 3-layer sample: {part}, median ms"
            pair(figure, _get(imgs, "pull", "pyctrd", part, "median"), _get(imgs, "pull", "containerd", part, "median"))
        pair("import + unpack of the 3-layer sample archive, median ms", _get(imgs, "import", "pyctrd", "median"),
             _get(imgs, "import", "containerd", "median"))
        layers = imgs.get("layers")
        for count in sorted((layers.get("pyctrd") or {}) if isinstance(layers, dict) else {}, key=int):
            pair(f"import + unpack of {count} small layer(s), median ms", _get(layers, "pyctrd", count, "median"),
                 _get(layers, "containerd", count, "median"))
        return out

    @property
    def ok(self) -> bool:
        """Every target with figures met."""
        return all(c.met for c in self.checks() if c.met is not None)

    # -- tables ----------------------------------------------------------------------------------------------
    def tables(self) -> list[Table]:
        """``(title, header, rows)`` for every section with figures."""
        d, out = self.data, []
        checks = self.checks()
        if checks:
            out.append(("Targets (ratio = pyctrd cost / containerd cost; lower is better)",
                        ["figure", "pyctrd", "containerd", "ratio", "target", "met"],
                        [[c.figure, _fmt(c.pyctrd, 2), _fmt(c.containerd, 2), _fmt(c.ratio, 2), c.bound,
                          {True: "yes", False: "NO", None: "-"}[c.met]] for c in checks]))
        pairs = self.ratios()
        if pairs:
            out.append(("Ratios: every figure measured on both (pyctrd cost / containerd cost; lower is better)",
                        ["figure", "pyctrd", "containerd", "ratio"],
                        [[f, _fmt(v["pyctrd"], 2), _fmt(v["containerd"], 2), _fmt(v["ratio"], 2)]
                         for f, v in pairs.items()]))
        for workers, subjects in sorted((d.get("lifecycle") or {}).items(), key=lambda kv: int(kv[0])):
            phases = sorted({p for s in subjects.values() for p in (s.get("phases") or {}) if p != "lifecycle"},
                            key=_PHASE_ORDER.index if all(p in _PHASE_ORDER for p in _PHASE_ORDER) else str)
            rows = []
            for name, s in subjects.items():
                life = (s.get("phases") or {}).get("lifecycle") or {}
                rows.append([name, _fmt(s.get("rate"), 2), str(s.get("n", "")), str(s.get("errors", 0)),
                             _fmt(s.get("cpu_ms")),
                             f"{_fmt(life.get('median'))} / {_fmt(life.get('p90'))} / {_fmt(life.get('max'))}",
                             *[_fmt(_get(s, "phases", p, "median")) for p in phases]])
            title = (f"Lifecycles, {workers} worker(s): rate, CPU per lifecycle (daemon + shims + runc), "
                     "ms (lifecycle median / p90 / max; phase medians)")
            out.append((title, ["subject", "per s", "n", "errors", "CPU ms", "lifecycle ms", *phases], rows))
        rpc = d.get("rpc") or {}
        if rpc:
            out.append(("Unary RPC latency, ms (median / p90 / max)", ["daemon", "Version", "Server"],
                        [[n, *[_triple(_get(r, c)) for c in ("Version", "Server")]] for n, r in rpc.items()]))
        rows = []
        for n in sorted(set(d.get("cold_start_ms") or {}) | set(d.get("rss_idle_kib") or {})):
            rows.append([n, _triple(_get(d, "cold_start_ms", n)), _fmt(_get(d, "rss_idle_kib", n)),
                         _fmt(_get(d, "rss_load_kib", n))])
        if rows:
            out.append(("Daemon: cold start (exec to first answer) and RSS", ["daemon", "cold start ms", "idle RSS KiB",
                                                                              "peak RSS KiB (most workers)"], rows))
        rows = [[n, str(g["containers"]), _triple(g.get("create_ms")), _triple(g.get("list_ms"))]
                for n, gs in (d.get("growth") or {}).items() for g in gs]
        if rows:
            out.append(("Growth: creating containers (no tasks) and listing them, ms (median / p90 / max)",
                        ["daemon", "containers", "create", "list"], rows))
        for n, leak in (d.get("leaks") or {}).items():
            keys = ["rss_kib", "fds", "threads", "processes", "mounts"]
            out.append((f"Leak check: {n} after {leak.get('lifecycles')} lifecycles ({leak.get('errors')} errors)",
                        ["", *keys], [[row, *[_fmt(_get(leak, row, k)) for k in keys]]
                                      for row in ("before", "after", "growth")]))
        out += self._image_tables()
        return out

    def _image_tables(self) -> list[Table]:
        imgs = self.data.get("images") or {}
        out: list[Table] = []
        rows = []
        for what in ("pull", "import"):
            v = imgs.get(what)
            if isinstance(v, str):
                rows.append([what, v, "", ""])
            if not isinstance(v, dict):
                continue
            for n, s in v.items():
                rows.append([what, n, _triple(s.get("total") if what == "pull" else s),
                             f"fetch {_fmt(_get(s, 'fetch', 'median'))}, unpack {_fmt(_get(s, 'unpack', 'median'))}"
                             if what == "pull" else ""])
        layers = imgs.get("layers")
        if isinstance(layers, dict):
            for n, by_count in layers.items():
                for count, s in by_count.items():
                    rows.append([f"import {count} layer(s)", n, _triple(s), ""])
        elif isinstance(layers, str):
            rows.append(["layers", layers, "", ""])
        if rows:
            title = ("Images: pull + unpack of the 3-layer sample (loopback registry), archive import, "
                     "N small layers, ms (median / p90 / max)")
            out.append((title, ["what", "daemon", "ms", ""], rows))
        return out

    # -- renderings ----------------------------------------------------------------------------------------
    def header(self) -> str:
        m = self.data.get("machine") or {}
        return (f"{self.data.get('date', '')} on {m.get('hostname', '?')} ({m.get('cpus', '?')} CPUs, "
                f"{m.get('cpu', '')}; kernel {m.get('kernel', '')}; {m.get('containerd', '')}; "
                f"{m.get('runc', '')}; Python {m.get('python', '?')}, {m.get('install', '?')} install; "
                f"load {m.get('load_before', '?')} -> {m.get('load_after', '?')})")

    def markdown(self) -> str:
        parts = [f"# pyctrd benchmark ({self.data.get('mode')})", "", self.header(), ""]
        for title, head, rows in self.tables():
            parts += [f"## {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            parts += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
            parts.append("")
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        out = [f"<div><b>pyctrd benchmark</b> ({html.escape(str(self.data.get('mode')))}) "
               + f"<small>{html.escape(self.header())}</small>"]
        for title, head, rows in self.tables():
            out.append(f"<h4>{html.escape(title)}</h4><table><tr>"
                       + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>")
            for r in rows:
                out.append("<tr>" + "".join(f"<td>{_html_cell(c)}</td>" for c in r) + "</tr>")
            out.append("</table>")
        return "".join(out) + "</div>"

    def rich_tables(self) -> list[Any]:
        """The tables as ``rich.table.Table`` objects (what ``pyctr bench`` prints)."""
        from rich.table import Table as RichTable

        out = []
        for title, head, rows in self.tables():
            t = RichTable(title=title, title_justify="left")
            for i, h in enumerate(head):
                t.add_column(h, justify="left" if i == 0 else "right")
            for r in rows:
                t.add_row(*[("[red]NO[/red]" if c == "NO" else c) for c in r])
            out.append(t)
        return out

    def plot(self, ax: Any = None) -> Any:
        """Lifecycles per second by subject and worker count (grouped bars); the matplotlib Figure."""
        import matplotlib.pyplot as plt

        life = self.data.get("lifecycle") or {}
        workers = sorted(life, key=int)
        subjects = list(dict.fromkeys(s for w in workers for s in life[w]))
        if ax is None:
            fig, ax = plt.subplots(figsize=(7, 3.5))
        else:
            fig = ax.figure
        width = 0.8 / max(1, len(subjects))
        for i, s in enumerate(subjects):
            xs = [j + i * width for j in range(len(workers))]
            ax.bar(xs, [_get(life, w, s, "rate") or 0 for w in workers], width, label=s)
        ax.set_xticks([j + width * (len(subjects) - 1) / 2 for j in range(len(workers))], [f"{w} worker(s)"
                                                                                            for w in workers])
        ax.set_ylabel("lifecycles / s")
        ax.set_title("container lifecycles per second (higher is better)")
        ax.legend(fontsize="small")
        return fig

    # -- files ---------------------------------------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(self.data, indent=2, sort_keys=False) + "\n"

    def save(self, out: str | Path, stem: str | None = None) -> tuple[Path, Path]:
        """Write ``<stem>.json`` and ``<stem>.md`` into ``out`` (stem: mode and date); the paths."""
        d = Path(out)
        d.mkdir(parents=True, exist_ok=True)
        stem = stem or f"bench-{self.data.get('mode')}-{str(self.data.get('date', '')).replace(':', '')}"
        j, m = d / f"{stem}.json", d / f"{stem}.md"
        j.write_text(self.to_json())
        m.write_text(self.markdown())
        return j, m

    @classmethod
    def load(cls, path: str | Path) -> BenchResult:
        return cls(json.loads(Path(path).read_text()))


_PHASE_ORDER = ["container create", "task create", "task start", "task kill", "task wait", "task delete",
                "container delete"]


def _paired_ratio(theirs: Any, ours: Any) -> float | None:
    """The median over rounds of each round's ``theirs / ours``: subjects of one round ran
    seconds apart, so a busy minute on a shared machine cancels out of the ratio.

    >>> _paired_ratio([10.0, 5.0, 10.0], [8.0, 5.0, 9.0])  # rounds: 1.25, 1.0, 1.111
    1.111
    """
    if not isinstance(theirs, list) or not isinstance(ours, list) or len(theirs) != len(ours) or not ours:
        return None
    ratios = [float(t) / float(o) for t, o in zip(theirs, ours, strict=True) if o]
    if len(ratios) != len(ours):
        return None
    return round(statistics.median(ratios), 3)


def _triple(s: Any) -> str:
    if not isinstance(s, dict):
        return "-"
    return f"{_fmt(s.get('median'), 2)} / {_fmt(s.get('p90'), 2)} / {_fmt(s.get('max'), 2)}"


def _html_cell(c: str) -> str:
    text = html.escape(c)
    return f"<b style='color:#c62828'>{text}</b>" if c == "NO" else text


def _need(doc: Any, path: Iterable[str], kind: type | tuple[type, ...], problems: list[str], where: str = "") -> Any:
    keys = list(path)
    v = _get(doc, *keys)
    if not isinstance(v, kind):
        names = "/".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        problems.append(f"{where}{'.'.join(keys)}: expected {names}, got {type(v).__name__}")
    return v


def validate(doc: dict[str, Any]) -> list[str]:
    """What is wrong with a result document (empty: it has the schema's shape)."""
    problems: list[str] = []
    if doc.get("schema") != SCHEMA:
        problems.append(f"schema: expected {SCHEMA!r}, got {doc.get('schema')!r}")
    _need(doc, ["date"], str, problems)
    _need(doc, ["machine", "cpus"], int, problems)
    life = _need(doc, ["lifecycle"], dict, problems) or {}
    for workers, subjects in life.items():
        if not workers.isdigit():
            problems.append(f"lifecycle.{workers}: not a worker count")
        for name, s in (subjects or {}).items():
            where = f"lifecycle.{workers}.{name}."
            _need(s, ["rate"], (int, float), problems, where)
            _need(s, ["n"], int, problems, where)
            _need(s, ["errors"], int, problems, where)
            for phase, summary in (s.get("phases") or {}).items():
                for k in ("n", "median", "p90", "max"):
                    _need(summary, [k], (int, float), problems, f"{where}phases.{phase}.")
    for name, calls in (_need(doc, ["rpc"], dict, problems) or {}).items():
        for call in ("Version", "Server"):
            _need(calls, [call, "median"], (int, float), problems, f"rpc.{name}.")
    if doc.get("mode") == "compare":
        for key in ("cold_start_ms", "rss_idle_kib", "growth", "images"):
            _need(doc, [key], dict, problems)
        for figure, pair in (_need(doc, ["ratios"], dict, problems) or {}).items():
            for k in ("pyctrd", "containerd"):
                _need(pair, [k], (int, float), problems, f"ratios.{figure}.")
            if _get(pair, "ratio") is not None:  # None: containerd's figure was 0
                _need(pair, ["ratio"], (int, float), problems, f"ratios.{figure}.")
    return problems
