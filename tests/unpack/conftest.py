"""Fixtures for pulling and unpacking: the sample images in the REAL registry, a daemon."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.inprocess import InProcessDaemon, inprocess_daemon


@pytest.fixture
def daemon(short_tmp: Path) -> Iterator[InProcessDaemon]:
    """A pyctrd in this process (real gRPC over a unix socket; GC only when asked)."""
    with inprocess_daemon(short_tmp) as d:
        yield d


def file_tree(root: Path) -> dict[str, str]:
    """{relative path: "dir 755" | "file 644 <sha256 prefix>" | "link -> x" | "char 0/0"} of a tree."""
    import hashlib
    import os
    import stat

    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            st = p.lstat()
            rel, mode = str(p.relative_to(root)), f"{st.st_mode & 0o7777:o} {st.st_uid}:{st.st_gid}"
            if stat.S_ISLNK(st.st_mode):
                out[rel] = f"link -> {os.readlink(p)}"
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = f"dir {mode}"
            elif stat.S_ISREG(st.st_mode):
                out[rel] = f"file {mode} {hashlib.sha256(p.read_bytes()).hexdigest()[:16]}"
            else:
                out[rel] = f"special {stat.S_IFMT(st.st_mode):o} {os.major(st.st_rdev)}/{os.minor(st.st_rdev)}"
    return out
