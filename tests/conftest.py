"""Shared fixtures and markers.

- ``@pytest.mark.requires_root``: skipped unless running as root (mounts, runc, overlayfs).
- ``@pytest.mark.needs_ctr``: skipped unless Debian's ``ctr`` is installed.
- ``short_tmp``: a short directory under /tmp (unix socket paths must stay < 108 bytes).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["tests.fixtures.daemon", "tests.fixtures.registry", "tests.fixtures.samples",
                  "tests.fixtures.stores"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = os.geteuid() == 0
    ctr = shutil.which("ctr") is not None
    for item in items:
        if "requires_root" in item.keywords and not root:
            item.add_marker(pytest.mark.skip(reason="needs root"))
        if "needs_ctr" in item.keywords and not ctr:
            item.add_marker(pytest.mark.skip(reason="needs Debian's ctr (apt-get install containerd)"))
        if "needs_dot" in item.keywords and shutil.which("dot") is None:
            item.add_marker(pytest.mark.skip(reason="needs graphviz's dot"))


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A fresh short directory under /tmp, removed afterwards (unmounting nothing)."""
    d = Path(tempfile.mkdtemp(prefix="pyctrd-t-", dir="/tmp"))
    try:
        yield d
    finally:
        # Never follow mounts out of the tree: unmount leftovers first, then remove.
        out = subprocess.run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True, text=True).stdout
        for target in sorted((t for t in out.split() if t.startswith(str(d))), reverse=True):
            subprocess.run(["umount", "-l", target], check=False)
        shutil.rmtree(d, ignore_errors=True)

