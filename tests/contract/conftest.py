"""Contract suites: one per interface, every implementation run through it.

The ``dump_tree`` fixture is a list: append directories to it and, when the test fails,
their trees are printed in the teardown, so a broken case shows what a store left on disk.
"""
from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
def dump_tree(request: pytest.FixtureRequest) -> Iterator[list[Path]]:
    paths: list[Path] = []
    yield paths
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        for path in paths:
            _print_tree(path)


def _print_tree(path: Path) -> None:
    print(f"--- tree of {path} ---")
    for dirpath, _dirnames, filenames in sorted(os.walk(path)):
        rel = Path(dirpath).relative_to(path)
        depth = len(rel.parts)
        print(f"{'  ' * depth}{rel.name or '.'}/")
        for name in sorted(filenames):
            size = (Path(dirpath) / name).stat().st_size
            print(f"{'  ' * (depth + 1)}{name} ({size}B)")
