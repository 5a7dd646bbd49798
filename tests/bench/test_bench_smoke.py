"""``pyctr bench`` end to end with tiny counts: a private pyctrd against a private containerd,
and one running pyctrd. Never the full run (that is ``make bench``)."""
from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pyctrd.bench import validate
from tests.fixtures.daemon import DaemonProcess

pytestmark = [
    pytest.mark.requires_root,
    pytest.mark.skipif(not os.path.exists("/usr/bin/containerd") or shutil.which("runc") is None
                       or not os.path.exists("/usr/bin/busybox"),
                       reason="needs Debian's containerd, runc and busybox-static"),
]
PYCTR = [sys.executable, "-m", "pyctrd.cmd.pyctr"]
SUBJECTS = {"containerd/go", "pyctrd/py", "pyctrd/go", "runc"}


def _bench_shims() -> list[str]:
    """Shim processes of a benchmark namespace (``-namespace bench-…``) still running."""
    left = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                args = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace").split("\0")
            except OSError:
                continue
            if any(a == "-namespace" and b.startswith("bench-") for a, b in itertools.pairwise(args)):
                left.append(f"{entry}: {' '.join(args)}")
    return left


def test_compare_quick_writes_a_document_with_every_figure(tmp_path: Path) -> None:
    done = subprocess.run([*PYCTR, "bench", "--compare", "--quick", "--out", str(tmp_path)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    [json_file] = tmp_path.glob("bench-compare-*.json")
    doc = json.loads(json_file.read_text())
    assert validate(doc) == []
    assert json_file.with_suffix(".md").read_text().startswith("# pyctrd benchmark (compare)")
    assert sorted(doc["lifecycle"]) == ["1", "2"]
    for workers, subjects in doc["lifecycle"].items():
        assert set(subjects) == SUBJECTS
        for name, s in subjects.items():
            assert (s["errors"], s["n"]) == (0, 2 * int(workers)), (name, s.get("error_samples"))
            assert s["phases"]["lifecycle"]["median"] > s["phases"]["task create"]["median"] > 0
    assert doc["rpc"]["pyctrd"]["Version"]["median"] > 0 and doc["rpc"]["containerd"]["Server"]["n"] == 20
    assert doc["cold_start_ms"]["pyctrd"]["n"] == 1 and doc["rss_idle_kib"]["containerd"] > 0
    assert [g["listed"] for g in doc["growth"]["pyctrd"]] == [5]
    go_shim = shutil.which("containerd-shim-runc-v2") is not None  # Debian's containerd brings it
    assert set(doc["leaks"]) == ({"pyctrd/py", "pyctrd/go"} if go_shim else {"pyctrd/py"})
    for leak in doc["leaks"].values():
        assert leak["lifecycles"] == 8 and leak["errors"] == 0 and leak["growth"]["processes"] <= 0
    ratios = doc["ratios"]
    assert ratios["growth: list at 5 containers, median ms"]["ratio"] > 0
    assert ratios["lifecycles/s, 2 workers, Go shim"]["ratio"] > 0
    if shutil.which("docker-registry"):
        assert doc["images"]["pull"]["pyctrd"]["total"]["median"] > 0, doc["images"]
        assert set(doc["images"]["layers"]["containerd"]) == {"1", "3"}
        assert ratios["import + unpack of 3 small layer(s), median ms"]["ratio"] > 0
        assert "pull + unpack of the 3-layer sample" in done.stdout.split("Ratios:")[0]  # a target
    # the terminal shows the tables; nothing of the run is left behind
    assert "Targets (ratio" in done.stdout
    base = re.search(r"in (/tmp/pyctrd-bench-\S+)", done.stderr)
    assert base and not os.path.exists(base.group(1))
    assert not _bench_shims()


def test_run_against_one_daemon_measures_each_runtime(pyctrd: DaemonProcess) -> None:
    done = subprocess.run([*PYCTR, "--address", pyctrd.address, "bench", "--quick", "--workers", "1",
                           "--runtime", "io.containerd.runc.v2", "--runtime", "io.containerd.pyrunc.v1",
                           "--growth", "3", "--json"], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads(done.stdout)
    assert validate(doc) == [] and doc["mode"] == "run" and doc["daemon_pid"] == pyctrd.pid
    assert set(doc["lifecycle"]["1"]) == {"daemon/io.containerd.runc.v2", "daemon/io.containerd.pyrunc.v1"}
    assert all(s["errors"] == 0 and s["n"] == 2 for s in doc["lifecycle"]["1"].values())
    assert doc["rss_idle_kib"]["daemon"] > 0
    c = pyctrd.client()
    left = {ns: c.with_namespace(ns).containers.list() for ns in c.namespaces.list()}
    assert left and not any(left.values())  # every lifecycle and the growth deleted what they made
