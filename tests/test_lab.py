"""The Lab helper: a notebook's own daemon, started and stopped by PID."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from pyctrd.lab import Lab


def test_lab_start_reach_stop() -> None:
    lab = Lab.start()
    try:
        assert lab.running and repr(lab).startswith(f"<Lab {lab.dir} running pid=")
        assert lab.client().version().version.startswith("1.6.20+pyctrd")
        assert (lab.root / "io.containerd.metadata.v1.sqlite" / "meta.db").exists()
    finally:
        lab.destroy()
    assert not lab.running and lab.proc is not None and lab.proc.returncode == 0
    assert not lab.dir.exists()


def test_python_m_pyctrd_lab_prints_how_to_reach_it_and_stops_on_sigint(short_tmp) -> None:  # type: ignore[no-untyped-def]
    p = subprocess.Popen([sys.executable, "-m", "pyctrd.lab", "--dir", str(short_tmp / "lab"), "--no-jupyter"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        first = p.stdout.readline()  # type: ignore[union-attr]
        assert first.startswith("pyctrd is serving on ") and first.strip().endswith("/lab/state/pyctrd.sock")
        assert os.path.exists(short_tmp / "lab" / "state" / "pyctrd.sock")
        time.sleep(0.2)
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode == 0 and "pyctrd stopped (0)" in out
    assert not os.path.exists(short_tmp / "lab" / "state" / "pyctrd.sock")


def test_registry_with_samples_serves_both_images_and_goes_with_the_lab(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from pyctrd.lab.procs import PidDir
    from pyctrd.lab.registry import registry_answers

    monkeypatch.delenv("PYCTRD_REGISTRY", raising=False)
    lab = Lab.start()
    pids = PidDir(lab.dir / "pids-test")
    monkeypatch.setenv("PYCTRD_LAB_PIDS", str(pids.dir))
    try:
        address = lab.registry_with_samples()
        assert lab.registry is not None and lab.registry.catalog() == ["busybox", "layered"]
        assert lab.registry_with_samples() == address  # the same registry, not a second one
        assert [n for n in pids.records()] == [f"registry-{lab.registry.proc.pid}"]  # type: ignore[union-attr]
        lab.restart()  # a daemon restart keeps the registry
        assert registry_answers(address)
        pulled = lab.client().pull(f"{address}/layered:latest")
        assert pulled.image.name == f"{address}/layered:latest" and len(pulled.unpacked) == 1
        monkeypatch.setenv("PYCTRD_REGISTRY", address)  # what make lab exports: used as it is
        other = Lab.start()
        try:
            assert other.registry_with_samples() == address and other.registry is None
        finally:
            other.destroy()
    finally:
        lab.destroy()
    assert not registry_answers(address) and not pids.records()


def test_pyctr_and_ctr_run_against_the_lab() -> None:
    import shutil

    with Lab.start() as lab:
        lab.client("tools").namespaces.create("tools")
        assert "tools" in lab.pyctr("namespaces", "ls")
        assert lab.pyctr("images", "rm", "nope", namespace="tools") == "pyctr: nope: image not found\n"
        if shutil.which("ctr"):
            assert "tools" in lab.ctr("namespaces", "ls")


def test_a_new_client_reaches_a_relaunched_daemon_at_once() -> None:
    """A call made while the daemon was down must not make the next client fail (grpc's shared
    subchannel would still be backing off)."""
    import pytest

    from pyctrd.errdefs import Unavailable

    with Lab.start() as lab:
        old = lab.client()
        lab.proc.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
        lab.proc.wait()  # type: ignore[union-attr]
        with pytest.raises(Unavailable):
            old.version()
        lab.launch()
        assert lab.client().version().version.startswith("1.6.20")
