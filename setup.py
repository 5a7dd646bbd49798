"""Package layout: runtime/ -> pyctrd, diagrams/ -> pyctrd.diagrams, widgets/ -> pyctrd.widgets.

The generated API (runtime/_api, never committed) is built here when it is missing, so both
``pip install -e .`` and ``pip install .`` give a working package from a fresh clone.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
ROOTS = {"pyctrd": "runtime", "pyctrd.diagrams": "diagrams", "pyctrd.widgets": "widgets"}


def ensure_api() -> None:
    if not (HERE / "runtime" / "_api" / "__init__.py").exists():
        subprocess.run([sys.executable, str(HERE / "scripts" / "gen_api.py")], check=True)


def find_packages() -> tuple[list[str], dict[str, str]]:
    ensure_api()
    packages, package_dir = [], {}
    for name, folder in ROOTS.items():
        package_dir[name] = folder
        for init in sorted((HERE / folder).rglob("__init__.py")):
            rel = init.parent.relative_to(HERE / folder)
            if any(p.startswith(".") or p == "__pycache__" for p in rel.parts):
                continue
            packages.append(".".join((name, *rel.parts)) if rel.parts else name)
    return packages, package_dir


class BuildPy(build_py):
    def run(self) -> None:
        ensure_api()
        super().run()


packages, package_dir = find_packages()
setup(packages=packages, package_dir=package_dir, cmdclass={"build_py": BuildPy})
