"""pyctrd.diagrams and pyctrd.widgets live outside runtime/: run their doctests and check __all__."""
from __future__ import annotations

import ast
import doctest
import importlib
import inspect
import pkgutil

import pytest

import pyctrd.diagrams
import pyctrd.widgets


def _modules() -> list[str]:
    names = []
    for pkg in (pyctrd.diagrams, pyctrd.widgets):
        names.append(pkg.__name__)
        names += [m.name for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")]
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_doctests_and_dunder_all(name: str) -> None:
    mod = importlib.import_module(name)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert hasattr(mod, "__all__"), f"{name} has no __all__"
    assert all(hasattr(mod, n) for n in mod.__all__)
    tree = ast.parse(inspect.getsource(mod))
    public = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and not n.name.startswith("_")}
    assert public <= set(mod.__all__), sorted(public - set(mod.__all__))
