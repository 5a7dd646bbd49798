"""What the real containerd printed, for notebooks to show beside pyctrd's answers.

The files live in the repository's ``notebooks/data/containerd-1.6/`` (see the README there:
where they came from, which command made each).

>>> "DIGEST" in reference("content-ls").splitlines()[0]
True
"""
from __future__ import annotations

from pathlib import Path

from ..errdefs import NotFound

__all__ = ["REFERENCE_DIR", "reference"]

#: ``<repo>/notebooks/data/containerd-1.6`` (this file is ``runtime/lab/reference.py``)
REFERENCE_DIR = Path(__file__).resolve().parents[2] / "notebooks" / "data" / "containerd-1.6"


def reference(name: str) -> str:
    """The text of ``<name>.txt`` (e.g. ``"content-ls"``, ``"snapshots-mounts-c1"``).

    Raises:
        NotFound: no such reference file (or the repository's notebooks/ is not there).
    """
    path = REFERENCE_DIR / f"{name}.txt"
    try:
        return path.read_text()
    except FileNotFoundError:
        raise NotFound(f"reference output {name!r} ({path})") from None
