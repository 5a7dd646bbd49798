"""The hostile corpus (hostile.py) against apply_tar: a clear error of the right kind or a
confined result, and in every case nothing outside the root changed."""
from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest
from difftrees import outside_state
from hostile import FAMILIES, SMALL, Case

from pyctrd.core.diff import apply_tar
from pyctrd.core.diff.rootfs import remove_tree
from pyctrd.errdefs import PyctrdError

pytestmark = pytest.mark.requires_root  # owners, devices and the real privileges a daemon has

HOST = ["/etc/passwd", "/etc/shadow", "/etc/hostname", "/evil", "/pwned"]


def run_case(case: Case, work: Path) -> str | None:
    """Run one case in ``work``; returns a failure description or None."""
    base = work / "case"
    root, outside = base / "root", base / "outside"
    for d in (root, outside / "dir"):
        d.mkdir(parents=True)
    (outside / "canary").write_text("precious")
    (outside / "dir/secret").write_text("secret")
    os.chmod(outside / "canary", 0o640)
    (base / "sibling").write_text("sibling")
    try:
        blob = case.build(outside)
        if case.setup:
            case.setup(root, outside)
        before = outside_state([work, *HOST], skip=root)
        err: PyctrdError | None = None
        try:
            apply_tar(io.BytesIO(blob), root, limits=case.limits or SMALL)
        except PyctrdError as exc:
            err = exc
        after = outside_state([work, *HOST], skip=root)
        if after != before:
            changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
            return f"changed outside the root: {changed}"
        if case.expect is None and err is not None:
            return f"unexpected {err!r}"
        if case.expect is not None:
            if not isinstance(err, case.expect):
                return f"expected {case.expect.__name__}, got {err!r}"
            if not re.search(case.match, str(err)):
                return f"message {str(err)!r} does not match {case.match!r}"
            if not hasattr(err, "stats"):
                return "error does not report what was applied"
        if case.check:
            try:
                case.check(root, outside)
            except AssertionError as exc:
                return f"check failed: {exc}"
        return None
    finally:
        fd = os.open(work, os.O_PATH)
        try:
            remove_tree(fd, "case")  # (shutil.rmtree recurses: some cases build trees 4000 levels deep)
        finally:
            os.close(fd)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_hostile_family(family: str, tmp_path: Path) -> None:
    cases = FAMILIES[family]()
    failures = []
    for case in cases:
        problem = run_case(case, tmp_path)
        if problem:
            failures.append(f"{case.name}: {problem}")
    print(f"hostile {family}: {len(cases)} cases tried, {len(cases) - len(failures)} safe")
    assert not failures, "\n".join(failures)
    assert len(cases) >= 4


def test_every_family_counts(capsys: pytest.CaptureFixture[str]) -> None:
    counts = {f: len(make()) for f, make in FAMILIES.items()}
    with capsys.disabled():
        print("\nhostile corpus: " + ", ".join(f"{f}={n}" for f, n in counts.items())
              + f" (total {sum(counts.values())})")
    assert sum(counts.values()) > 200
