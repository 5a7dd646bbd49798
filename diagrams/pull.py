"""A pull as it happened: one bar per blob, from the progress events ``client.pull`` reports.

A pull resolves the reference, fetches the manifest, then fetches its children - the config
and the layers - a few at a time. Each blob goes ``waiting`` -> ``downloading`` (offsets
growing) -> ``done`` (or ``exists``, when the store had it already). :class:`PullTimeline`
records each event with the time it arrived (the clock is injectable) and draws the blobs
as a text listing shaped like ``ctr images pull``'s, as HTML progress bars, or as an SVG
Gantt chart::

    tl = PullTimeline()
    client.pull(ref, progress=tl.add)
    tl                                  # the chart; tl.text() for a terminal

>>> from pyctrd.core.remotes import Progress
>>> t = [0.0]
>>> tl = PullTimeline(clock=lambda: t[0])
>>> for when, ev in [(0.0, Progress("r/x:1", "resolving")), (0.01, Progress("r/x:1", "resolved")),
...                  (0.02, Progress("layer-sha256:" + "a" * 64, "waiting", 0, 2048)),
...                  (0.03, Progress("layer-sha256:" + "a" * 64, "downloading", 1024, 2048)),
...                  (0.05, Progress("layer-sha256:" + "a" * 64, "done", 2048, 2048))]:
...     t[0] = when
...     _ = tl.add(ev)
>>> print(tl.text(bar=10))
r/x:1                            resolved     |++++++++++|
layer-sha256:aaaaaaaaaaaa…       done         |++++++++++|  2.0 KiB  30-50 ms
elapsed: 0.05 s  total: 2.0 KiB
"""
from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..core.remotes import Progress
from .dirtree import human_size
from .snapshots import short_key

__all__ = ["BlobProgress", "PullTimeline"]

_KIND_COLOUR = {"manifest": "#6a1b9a", "index": "#6a1b9a", "config": "#00838f", "layer": "#1565c0"}


@dataclass
class BlobProgress:
    """One blob of a pull: where it stands and when each phase began (seconds, clock time)."""

    ref: str
    total: int = 0
    offset: int = 0
    status: str = "waiting"
    host: str = ""
    waiting_at: float | None = None
    started_at: float | None = None
    done_at: float | None = None
    events: int = 0

    @property
    def kind(self) -> str:
        """``layer``, ``config``, ``manifest``, ``index`` (the part of the ref before the digest)."""
        return self.ref.partition("-")[0]

    @property
    def digest(self) -> str:
        return self.ref.partition("-")[2]

    @property
    def fraction(self) -> float:
        if self.status in ("done", "exists"):
            return 1.0
        return self.offset / self.total if self.total else 0.0

    def __repr__(self) -> str:
        return f"<BlobProgress {self.kind} {short_key(self.digest)} {self.status} {self.offset}/{self.total}>"


class PullTimeline:
    """Progress events of one pull, kept per blob; :meth:`add` may be called from any thread."""

    def __init__(self, ref: str = "", *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ref, self.clock = ref, clock
        self._blobs: dict[str, BlobProgress] = {}
        self._lock = threading.Lock()
        self.t0: float | None = None
        self.resolved_at: float | None = None
        self.status = "new"
        self.events = 0

    def add(self, p: Progress, at: float | None = None) -> BlobProgress | None:
        """Record one event (``at``: when it happened; default: now). Returns the blob's record
        (None for the resolve events)."""
        now = self.clock() if at is None else at
        with self._lock:
            self.events += 1
            if self.t0 is None:
                self.t0 = now
            if p.status in ("resolving", "resolved"):
                self.ref, self.status = p.ref, p.status
                if p.status == "resolved":
                    self.resolved_at = now
                return None
            b = self._blobs.get(p.ref)
            if b is None:
                b = self._blobs[p.ref] = BlobProgress(p.ref, waiting_at=now)
            b.events += 1
            b.total = p.total or b.total
            b.offset, b.status, b.host = p.offset, p.status, p.host or b.host
            if p.status == "downloading" and b.started_at is None:
                b.started_at = now
            if p.status in ("done", "exists"):
                b.done_at = now
                b.started_at = now if b.started_at is None else b.started_at
            return b

    @property
    def blobs(self) -> list[BlobProgress]:
        """Every blob, in the order the pull first mentioned it."""
        with self._lock:
            return list(self._blobs.values())

    @property
    def done(self) -> bool:
        blobs = self.blobs
        return bool(blobs) and all(b.status in ("done", "exists") for b in blobs)

    @property
    def elapsed(self) -> float:
        ends = [b.done_at for b in self.blobs if b.done_at is not None] + [self.resolved_at or 0.0]
        return max(ends) - self.t0 if self.t0 is not None else 0.0

    @property
    def total_bytes(self) -> int:
        return sum(b.total for b in self.blobs if b.status == "done")

    def __repr__(self) -> str:
        return self.summary()

    def summary(self) -> str:
        n_done = sum(b.status in ("done", "exists") for b in self.blobs)
        return (f"<PullTimeline {self.ref or '-'} {n_done}/{len(self.blobs)} blobs "
                f"{human_size(self.total_bytes)} in {self.elapsed:.2f}s>")[:110]

    def _ms(self, t: float | None) -> str:
        return "-" if t is None or self.t0 is None else f"{(t - self.t0) * 1000:.0f}"

    def text(self, bar: int = 30) -> str:
        """``ctr images pull``'s shape: a line per blob with a bar, then elapsed and total."""
        lines = []
        if self.ref:
            full = "+" * bar if self.status == "resolved" else " " * bar
            lines.append(f"{self.ref:32} {self.status:12} |{full}|")
        for b in self.blobs:
            filled = round(b.fraction * bar)
            size = f"  {human_size(b.total)}" if b.total else ""
            when = f"  {self._ms(b.started_at)}-{self._ms(b.done_at)} ms" if b.done_at is not None else ""
            lines.append(f"{b.kind + '-' + short_key(b.digest):32} {b.status:12} "
                         f"|{'+' * filled}{' ' * (bar - filled)}|{size}{when}")
        lines.append(f"elapsed: {self.elapsed:.2f} s  total: {human_size(self.total_bytes)}")
        return "\n".join(lines)

    def html(self) -> str:
        """A progress bar per blob (for the PullProgress widget)."""
        rows = []
        for b in self.blobs:
            colour = _KIND_COLOUR.get(b.kind, "#546e7a")
            pct = f"{b.fraction * 100:.0f}%"
            rows.append(
                f"<tr><td><code>{html.escape(b.kind)}</code></td><td><code>{html.escape(short_key(b.digest))}"
                f"</code></td><td style='width:220px'><div style='background:#eceff1;height:10px'>"
                f"<div style='background:{colour};width:{pct};height:10px'></div></div></td>"
                f"<td>{html.escape(b.status)}</td><td style='text-align:right'>{human_size(b.offset)} / "
                f"{human_size(b.total)}</td></tr>")
        head = (f"<b>{html.escape(self.ref or 'pull')}</b> <span style='color:#607d8b;font-size:11px'>"
                f"{html.escape(self.status)} · {self.elapsed:.2f} s · {human_size(self.total_bytes)}</span>")
        return f"{head}<table style='font-size:11px'>{''.join(rows)}</table>"

    def svg(self, width: int = 640, lane: int = 18) -> str:
        """A Gantt chart: per blob, waiting (light) then downloading (dark) up to done."""
        blobs = self.blobs
        height = lane * (len(blobs) + 1) + 10
        parts = [(f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
                 "font-family='Helvetica' font-size='10'>")]
        span = max(self.elapsed, 1e-3)
        left, right = 200, width - 10
        t0 = self.t0 or 0.0

        def x(t: float) -> float:
            return left + (right - left) * (t - t0) / span

        for i, b in enumerate(blobs):
            y = 4 + lane * i
            colour = _KIND_COLOUR.get(b.kind, "#546e7a")
            label = f"{b.kind} {short_key(b.digest, 8)}"
            parts.append(f"<text x='2' y='{y + 12}' fill='{colour}'>{html.escape(label)}</text>")
            start = b.waiting_at if b.waiting_at is not None else t0
            began = b.started_at if b.started_at is not None else start
            end = b.done_at if b.done_at is not None else self.clock()
            parts.append(f"<rect class='waiting' x='{x(start):.1f}' y='{y + 3}' width='{max(x(began) - x(start), 0):.1f}'"
                         f" height='{lane - 6}' fill='{colour}' opacity='0.25'/>")
            parts.append(f"<rect class='{b.status}' x='{x(began):.1f}' y='{y + 3}' "
                         f"width='{max(x(end) - x(began), 1.5):.1f}' height='{lane - 6}' fill='{colour}'>"
                         f"<title>{html.escape(b.ref)} {b.status} {b.offset}/{b.total}</title></rect>")
        y = 4 + lane * len(blobs) + 12
        parts.append(f"<text x='{left}' y='{y}' fill='#607d8b'>0 ms</text>"
                     f"<text x='{right - 60}' y='{y}' fill='#607d8b'>{span * 1000:.0f} ms</text></svg>")
        return "".join(parts)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/plain": self.text(), "text/html": self.svg() + self.html()}
