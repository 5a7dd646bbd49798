"""Figures the reliability suites report: how many cases each family tried, crashes survived, ...

Suites call :func:`record`; the numbers are printed as each family finishes (visible with
``pytest -s``) and again, all together, in pytest's terminal summary (tests/reliability/conftest.py).
:func:`scaled` picks the CI count or, with ``PYCTRD_SOAK=1`` (``make soak``), the full one.

>>> scaled(10, 200) in (10, 200)
True
"""
from __future__ import annotations

import os
import threading
from collections import Counter
from dataclasses import dataclass, field

__all__ = ["FIGURES", "SOAK", "Figures", "record", "scaled"]

#: ``make soak`` sets PYCTRD_SOAK=1: the long runs with their full counts.
SOAK = os.environ.get("PYCTRD_SOAK", "") not in ("", "0")


def scaled(ci: int, soak: int) -> int:
    """``soak`` under ``make soak``, else ``ci`` (what ``make test`` can afford)."""
    return soak if SOAK else ci


@dataclass
class Figures:
    """``(section, name) -> count`` (and its unit), added up over the session."""

    rows: Counter[tuple[str, str]] = field(default_factory=Counter)
    units: dict[tuple[str, str], str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, section: str, name: str, n: int, unit: str = "cases") -> None:
        with self._lock:
            self.rows[section, name] += n
            self.units[section, name] = unit
        print(f"\n[figures] {section}/{name}: {n} {unit}", flush=True)

    def lines(self) -> list[str]:
        width = max((len(f"{s}/{n}") for s, n in self.rows), default=0)
        return [f"{f'{s}/{n}':<{width}}  {count:>7} {self.units[s, n]}"
                for (s, n), count in sorted(self.rows.items())]


FIGURES = Figures()


def record(section: str, name: str, n: int, unit: str = "cases") -> None:
    FIGURES.record(section, name, n, unit)
