"""Packaging: dependencies in step, the wheel carries every subpackage, the API is generated."""
from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

import pyctrd

ROOT = Path(__file__).resolve().parent.parent


def _names(reqs: list[str]) -> dict[str, str]:
    return {re.split(r"[<>=!~ \[]", r, maxsplit=1)[0].lower(): r for r in reqs}


def test_environment_yml_matches_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        wanted += extra
    text = (ROOT / "environment.yml").read_text()
    listed = [line.strip()[2:] for line in text.splitlines()
              if line.strip().startswith("- ") and line.startswith("      ")]
    listed = [x for x in listed if x != "-e ."]
    assert _names(listed) == _names(wanted)


def test_protobuf_uses_the_fast_upb_backend() -> None:
    from google.protobuf.internal import api_implementation

    assert api_implementation.Type() == "upb"


def test_generated_api_is_not_committed() -> None:
    tracked = subprocess.run(["git", "-C", str(ROOT), "ls-files", "runtime/_api"], capture_output=True,
                             text=True).stdout
    assert tracked == ""
    from pyctrd._api.containerd.runtime.v2.task import shim_pb2
    assert "Task" in shim_pb2.DESCRIPTOR.services_by_name


def _public_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(pyctrd.__path__, "pyctrd.")
                  if not m.name.startswith(("pyctrd._api", "pyctrd.widgets")) and ".__main__" not in m.name)


@pytest.mark.parametrize("name", _public_modules())
def test_dunder_all_matches_public_names(name: str) -> None:
    try:
        mod = importlib.import_module(name)
    except ImportError as exc:
        pytest.skip(str(exc))
    if not hasattr(mod, "__all__"):
        return
    missing = [n for n in mod.__all__ if not hasattr(mod, n)]
    assert not missing, f"{name}.__all__ names what does not exist: {missing}"
    src = inspect.getsource(mod)
    defined = {node.name for node in ast.parse(src).body
               if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
               and not node.name.startswith("_")}
    assert defined <= set(mod.__all__), f"{name}: public but not in __all__: {sorted(defined - set(mod.__all__))}"


@pytest.mark.slow
def test_wheel_has_every_subpackage_and_imports(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    (wheel,) = tmp_path.glob("pyctrd-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for must in ("pyctrd/__init__.py", "pyctrd/diagrams/__init__.py", "pyctrd/widgets/__init__.py",
                 "pyctrd/plugin/registry.py", "pyctrd/_api/containerd/api/services/version/v1/version_pb2.py"):
        assert must in names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = ("import pyctrd, pyctrd.diagrams, pyctrd.builtins, pyctrd.client; "
             "print(pyctrd.__file__)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path,
                         env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(str(site))
