"""Summaries of timings: median, p90, max - the figures every benchmark table shows.

Percentiles use the nearest-rank method (the value below which ``p`` % of the samples fall,
always one of the samples), so a p90 of 10 runs is the 9th smallest, never an interpolation.

>>> s = Summary.of([5.0, 1.0, 3.0, 2.0, 4.0])
>>> s
<Summary n=5 median=3.00 p90=5.00 max=5.00>
>>> percentile([1.0, 2.0, 3.0, 4.0], 50), percentile([1.0, 2.0, 3.0, 4.0], 90)
(2.0, 4.0)
>>> ratio(2.0, 1.6)
1.25
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Summary", "percentile", "ratio"]


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank ``p``-th percentile of ``values`` (0 < p <= 100).

    Raises:
        ValueError: no values, or ``p`` out of range.
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 < p <= 100:
        raise ValueError(f"percentile {p} not in (0, 100]")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def ratio(ours: float | None, theirs: float | None) -> float | None:
    """``ours / theirs`` rounded to 3 places; None when either is missing or theirs is 0."""
    if ours is None or theirs is None or theirs == 0:
        return None
    return round(ours / theirs, 3)


@dataclass(frozen=True)
class Summary:
    """``n`` samples (milliseconds unless said otherwise) reduced to the usual figures."""

    n: int
    median: float
    p90: float
    max: float
    mean: float
    min: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Summary:
        """Raises ValueError: no values."""
        v = list(values)
        if not v:
            raise ValueError("summary of no values")
        return cls(len(v), statistics.median(v), percentile(v, 90), max(v), statistics.fmean(v), min(v))

    def __repr__(self) -> str:
        return f"<Summary n={self.n} median={self.median:.2f} p90={self.p90:.2f} max={self.max:.2f}>"

    def to_json(self) -> dict[str, Any]:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Summary:
        return cls(int(doc["n"]), *(float(doc[k]) for k in ("median", "p90", "max", "mean", "min")))
