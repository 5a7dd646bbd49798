"""Run the doctests of every pyctrd module, imported under its real name (pyctrd.*)."""
from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import pyctrd

SKIP_PREFIXES = ("pyctrd._api", "pyctrd.widgets", "pyctrd.cmd.pyctr.__main__")


def _modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(pyctrd.__path__, "pyctrd."):
        if not info.name.startswith(SKIP_PREFIXES):
            names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_doctests(name: str) -> None:
    try:
        mod = importlib.import_module(name)
    except ImportError as exc:  # optional extras (jupyter) may be absent
        pytest.skip(f"{name}: {exc}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"
