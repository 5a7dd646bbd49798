"""Reliability suites (issue 8): hostile input, faults, load, isolation - with figures.

Counts scale with ``PYCTRD_SOAK`` (see :mod:`tests.reliability.figures`); the figures every
suite records are printed at the end of the session.
"""
from __future__ import annotations

import pytest

from tests.reliability.figures import FIGURES, SOAK
from tests.reliability.served import served  # noqa: F401 - a daemon per module
from tests.runtime.conftest import busybox_rootfs, rt, rt_config, runtime  # noqa: F401 - the runtime tests' fixtures


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES.rows:
        return
    terminalreporter.write_sep("-", f"reliability figures ({'soak' if SOAK else 'CI'} counts)")
    for line in FIGURES.lines():
        terminalreporter.write_line(line)
