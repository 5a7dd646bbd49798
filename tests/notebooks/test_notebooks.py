"""Every notebook runs top to bottom against a real daemon of its own, and is stored clean.

The same check from the command line: ``pytest --nbmake --nbmake-timeout=120 notebooks/``.
"""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from pyctrd.lab.procs import PidDir

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT = 120


def _tracked() -> list[Path]:
    out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "notebooks/*.ipynb"], capture_output=True,
                         text=True, check=False).stdout.split()
    return [ROOT / p for p in out] or NOTEBOOKS


def test_there_are_notebooks() -> None:
    assert [p.name[:3] for p in NOTEBOOKS][:2] == ["00-", "01-"]


@pytest.mark.parametrize("path", _tracked(), ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [c.id for c in nb.cells if c.cell_type == "code" and (c.outputs or c.execution_count is not None)]
    assert not dirty, (f"{path.name}: cells {dirty} keep outputs; strip them "
                       "(python -m pyctrd.lab.jupyter strip notebooks/*.ipynb)")
    assert "widgets" not in nb.metadata, f"{path.name} stores widget state"


@pytest.mark.parametrize("path", _tracked(), ids=lambda p: p.name)
def test_notebook_has_goal_exercises_and_a_check(path: Path) -> None:
    text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
    for heading in ("**Goal:**", "## Exercises", "## How to check your work"):
        assert heading in text, f"{path.name} lacks {heading!r}"


@pytest.mark.timeout(600)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("PYCTRD_ADDRESS", "PYCTRD_ROOT", "PYCTRD_STATE"):
        monkeypatch.delenv(var, raising=False)  # the notebook must manage on its own
    pids = PidDir(tmp_path / "pids")
    monkeypatch.setenv("PYCTRD_LAB_PIDS", str(pids.dir))  # Lab records the daemons it starts here
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    nb = nbformat.read(path, as_version=4)
    t0 = time.monotonic()
    NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    took = time.monotonic() - t0
    for cell in nb.cells:
        if "raises-exception" in cell.metadata.get("tags", []):
            assert any(o.output_type == "error" for o in cell.outputs), f"cell {cell.id} was meant to fail"
    assert took < 90, f"{path.name} took {took:.0f}s: keep notebooks fast"
    left = {name: rec for name, rec in pids.records().items() if rec.alive()}
    pids.stop_all()
    assert not left, f"{path.name} left daemons running: {left}"
