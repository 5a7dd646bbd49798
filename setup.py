"""Package layout: runtime/ -> pyctrd, diagrams/ -> pyctrd.diagrams, widgets/ -> pyctrd.widgets.

The generated API (runtime/_api, never committed) is built here when it is missing, so both
``pip install -e .`` and ``pip install .`` give a working package from a fresh clone.
"""
from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
# the mapping lives in pyproject.toml ([tool.setuptools.package-dir]); read it, never repeat it
ROOTS: dict[str, str] = tomllib.loads((HERE / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]


def ensure_api() -> None:
    if not (HERE / "runtime" / "_api" / "__init__.py").exists():
        subprocess.run([sys.executable, str(HERE / "scripts" / "gen_api.py")], check=True)


def find_packages() -> list[str]:
    ensure_api()
    packages = []
    for name, folder in ROOTS.items():
        for init in sorted((HERE / folder).rglob("__init__.py")):
            rel = init.parent.relative_to(HERE / folder)
            if any(p.startswith(".") or p == "__pycache__" for p in rel.parts):
                continue
            packages.append(".".join((name, *rel.parts)) if rel.parts else name)
    return packages


class BuildPy(build_py):
    def run(self) -> None:
        ensure_api()
        super().run()


setup(packages=find_packages(), cmdclass={"build_py": BuildPy})
