"""``make lab`` (``python -m pyctrd.lab``): daemon + registry + JupyterLab, recorded and stopped by PID."""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from pyctrd.cgroups import Cgroup, remove_namespace_cgroups
from pyctrd.client import Client
from pyctrd.errdefs import FailedPrecondition, PyctrdError, Unavailable
from pyctrd.lab import Lab
from pyctrd.lab.procs import PidDir, ProcessRecord, mounts_under, stop_pid
from pyctrd.lab.registry import LocalRegistry
from pyctrd.lab.teardown import TASK_DIR, shim_pid
from pyctrd.plugins.runtime.v2.binary import resolve_runtime


class LabRun:
    """``python -m pyctrd.lab`` as a child process, read line by line until it is ready."""

    def __init__(self, directory: Path, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "pyctrd.lab", "--dir", str(directory), *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        for line in self.proc.stdout:  # type: ignore[union-attr]
            self.lines.append(line.rstrip("\n"))
            if line.startswith(("Ctrl-C stops the lab.", "lab: ")):
                break
        self.pids = PidDir(directory / "pids").records()

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def interrupt(self, timeout: float = 60) -> str:
        self.proc.send_signal(signal.SIGINT)
        out, _ = self.proc.communicate(timeout=timeout)
        self.lines += out.splitlines()
        return out

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture
def runs() -> Iterator[list[LabRun]]:
    started: list[LabRun] = []
    yield started
    for r in started:
        r.kill()
        for rec in r.pids.values():
            stop_pid(rec, sig=signal.SIGKILL, timeout=5)


def test_registry_runs_on_loopback_and_is_recorded(short_tmp: Path, runs: list[LabRun]) -> None:
    run = LabRun(short_tmp / "lab", "--no-jupyter")
    runs.append(run)
    m = re.search(r"registry at (127\.0\.0\.1:\d+)", run.text)
    assert m, run.text
    assert (short_tmp / "lab" / "registry.address").read_text().strip() == m.group(1)
    with urllib.request.urlopen(f"http://{m.group(1)}/v2/_catalog", timeout=5) as r:
        assert json.load(r) == {"repositories": ["busybox", "layered"]}
    assert set(run.pids) == {"pyctrd", "registry"} and all(r.alive() for r in run.pids.values())
    assert f"sample images: {m.group(1)}/busybox:latest, {m.group(1)}/layered:latest" in run.text
    run.interrupt()
    assert run.proc.returncode == 0 and not any(r.alive() for r in run.pids.values())
    assert not (short_tmp / "lab" / "registry.address").exists()
    assert not list((short_tmp / "lab" / "pids").glob("*.pid"))


def test_a_killed_lab_is_cleaned_up_by_the_next_run(short_tmp: Path, runs: list[LabRun]) -> None:
    first = LabRun(short_tmp / "lab", "--no-jupyter")
    runs.append(first)
    first.proc.kill()  # no clean-up at all: daemon and registry are orphans now
    first.proc.communicate()
    assert all(r.alive() for r in first.pids.values())
    second = LabRun(short_tmp / "lab", "--no-jupyter")
    runs.append(second)
    assert second.lines[0].startswith("pyctrd is serving on ")
    for name, rec in first.pids.items():
        assert f"stopped leftover {name} (pid {rec.pid})" in second.text
        assert not rec.alive()
    second.interrupt()
    assert second.proc.returncode == 0


def test_jupyterlab_serves_the_notebooks_with_a_token_and_strips_outputs_on_save(
        short_tmp: Path, runs: list[LabRun]) -> None:
    books = short_tmp / "books"
    books.mkdir()
    run = LabRun(short_tmp / "lab", "--no-registry", "--notebooks", str(books))
    runs.append(run)
    m = re.search(r"(http://127\.0\.0\.1:\d+)/lab\?token=(\w+)", run.text)
    assert m, run.text
    base, token = m.groups()
    assert token not in Path(f"/proc/{run.pids['jupyter'].pid}/cmdline").read_text()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1", execution_count=1, outputs=[
        nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=1)])])
    req = urllib.request.Request(f"{base}/api/contents/x.ipynb", method="PUT",
                                 data=json.dumps({"type": "notebook", "content": nb}).encode(),
                                 headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status in (200, 201)
    saved = nbformat.read(books / "x.ipynb", as_version=4)
    assert saved.cells[0].outputs == [] and saved.cells[0].execution_count is None
    kernel = urllib.request.Request(f"{base}/api/kernels", method="POST", data=b"{}",
                                    headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(kernel, timeout=30) as r:
        assert json.load(r)["name"] == "python3"
    jupyter = run.pids["jupyter"]
    kids = [int(p) for p in Path(f"/proc/{jupyter.pid}/task/{jupyter.pid}/children").read_text().split()]
    assert kids, "no kernel process"
    kernels = [ProcessRecord.of(p) for p in kids]
    env = Path(f"/proc/{kids[0]}/environ").read_bytes().split(b"\0")
    assert f"PYCTRD_ADDRESS={short_tmp}/lab/state/pyctrd.sock".encode() in env
    run.interrupt()
    assert run.proc.returncode == 0
    assert not any(r.alive() for r in [*run.pids.values(), *kernels])


def test_notebook_daemons_are_stopped_with_the_lab(short_tmp: Path, runs: list[LabRun],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A daemon a kernel started and never stopped (the kernel died hard) goes with Ctrl-C."""
    run = LabRun(short_tmp / "lab", "--no-jupyter", "--no-registry")
    runs.append(run)
    monkeypatch.setenv("PYCTRD_LAB_PIDS", str(short_tmp / "lab" / "pids" / "notebooks"))
    orphan = Lab(short_tmp / "nb")
    orphan.launch()
    rec = PidDir(short_tmp / "lab" / "pids" / "notebooks").records()[f"pyctrd-{orphan.pid}"]
    assert rec.alive()
    try:
        run.interrupt()
        assert f"stopped pyctrd-{orphan.pid} (pid {orphan.pid})" in run.text and not rec.alive()
    finally:
        orphan.stop()


def test_attach_uses_a_daemon_without_owning_it(short_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    owner = Lab(short_tmp / "lab")
    owner.launch()
    try:
        monkeypatch.setenv("PYCTRD_ADDRESS", owner.address)
        monkeypatch.setenv("PYCTRD_ROOT", str(owner.root))
        monkeypatch.setenv("PYCTRD_STATE", str(owner.state))
        lab = Lab.find_or_start()
        assert lab.attached and lab.root == owner.root and lab.state == owner.state
        assert repr(lab) == f"<Lab {owner.address} attached running>"
        assert lab.client().version().version.startswith("1.6.20")
        with pytest.raises(FailedPrecondition, match="not ours to restart"):
            lab.restart()
        lab.destroy()
        assert owner.running and lab.running
        monkeypatch.setenv("PYCTRD_ADDRESS", str(short_tmp / "nothing.sock"))
        private = Lab.find_or_start()
        try:
            assert not private.attached and private.address != owner.address
        finally:
            private.destroy()
    finally:
        owner.destroy()


def test_a_bad_config_names_file_line_and_key(short_tmp: Path) -> None:
    lab = Lab(short_tmp / "lab", config_text='version = 2\n[plugins."io.containerd.snapshotter.v1.overlayfs"]\n'
                                             'upperdir_label = "yes"\n')
    with pytest.raises(Unavailable, match=r"config\.toml:3: plugins\.io\.containerd\.snapshotter\.v1\.overlayfs"
                                          r"\.upperdir_label: expected a boolean"):
        lab.launch()
    assert not lab.running


def test_pid_records_survive_reuse(short_tmp: Path) -> None:
    p = subprocess.Popen(["sleep", "60"])
    d = PidDir(short_tmp / "pids")
    rec = d.record("sleeper", p.pid)
    assert d.records() == {"sleeper": rec} and repr(rec) == f"<ProcessRecord pid={p.pid} alive>"
    assert not stop_pid(ProcessRecord(p.pid, rec.start_time + 1))  # another process with that PID: untouched
    assert p.poll() is None
    assert d.stop_all() == [f"sleeper (pid {p.pid})"] and not rec.alive()
    assert d.records() == {}
    p.wait(5)


def test_registry_binary_missing_is_not_found(short_tmp: Path) -> None:
    from pyctrd.errdefs import NotFound

    with pytest.raises(NotFound, match="no-such-registry binary"):
        LocalRegistry(short_tmp / "r", binary="no-such-registry").start()
    assert not os.path.exists(short_tmp / "r" / "config.yml")


def test_a_second_lab_on_the_same_directory_is_refused(short_tmp: Path, runs: list[LabRun]) -> None:
    first = LabRun(short_tmp / "lab", "--no-jupyter", "--no-registry")
    runs.append(first)
    second = subprocess.run([sys.executable, "-m", "pyctrd.lab", "--dir", str(short_tmp / "lab"), "--no-jupyter"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert second.returncode == 1
    assert f"a lab is already running in {short_tmp / 'lab'} (pid {first.proc.pid})" in second.stdout
    assert all(r.alive() for r in first.pids.values())  # untouched
    first.interrupt()
    assert first.proc.returncode == 0


# -- Ctrl-C tears the containers down too (issue 6: "no mounts, shims or daemons behind") --------

#: Our shim and Debian's Go shim: the lab must stop the tasks of both.
RUNTIMES = ("io.containerd.pyrunc.v1", "io.containerd.runc.v2")


def _missing() -> str:
    for runtime in RUNTIMES:
        try:
            resolve_runtime(runtime)
        except PyctrdError:
            return f"the shim of {runtime} is not installed"
    return ", ".join(f"{exe} is not installed" for exe in ("runc", "docker-registry") if not shutil.which(exe))


runtimes_installed = pytest.mark.skipif(bool(_missing()), reason=_missing() or "-")


@dataclass
class Running:
    """A task the test started: what must be gone once the lab has stopped."""

    namespace: str
    id: str
    shim: ProcessRecord
    init: ProcessRecord
    cgroup: Cgroup

    def cgroup_dirs(self) -> list[str]:
        return [d for d in self.cgroup.directories if os.path.isdir(d)]

    def assert_gone(self) -> None:
        assert not self.shim.alive() and not self.init.alive(), self
        assert not self.cgroup_dirs(), self


@pytest.fixture
def namespace() -> Iterator[str]:
    """A namespace of the test's own (cgroups and the Go shim's runc state are host-wide);
    what it leaves on the host is removed afterwards."""
    ns = f"labstop{secrets.token_hex(3)}"
    yield ns
    shutil.rmtree(f"/run/containerd/runc/{ns}", ignore_errors=True)
    remove_namespace_cgroups(ns)


@pytest.fixture
def tasks() -> Iterator[list[Running]]:
    """Tasks a test started: killed by PID afterwards if the test failed before the lab did it."""
    started: list[Running] = []
    yield started
    for t in started:
        stop_pid(t.init, sig=signal.SIGKILL, timeout=5)
        stop_pid(t.shim, sig=signal.SIGKILL, timeout=5)


def run_tasks(address: str, state: Path, image: str, namespace: str, prefix: str, runtimes: tuple[str, ...],
              started: list[Running]) -> list[Running]:
    """Pull ``image`` and run ``sleep 1000`` in a container per runtime (``<prefix>-<n>``)."""
    out = []
    with Client(address, namespace) as c:
        c.pull(image, plain_http=True)
        for n, runtime in enumerate(runtimes):
            id = f"{prefix}-{n}"
            c.new_container(id, image, args=["sleep", "1000"], runtime=runtime)
            task = c.tasks.create(id)
            task.start()
            bundle = state / TASK_DIR / namespace / id
            shim = shim_pid(bundle)
            assert shim is not None, f"no shim found for {bundle}"
            r = Running(namespace, id, ProcessRecord.of(shim), ProcessRecord.of(task.pid),
                        Cgroup.from_spec(json.loads((bundle / "config.json").read_text())))
            assert r.shim.alive() and r.init.alive() and r.cgroup_dirs(), r
            started.append(r)
            out.append(r)
    return out


def _registry(run: LabRun) -> str:
    m = re.search(r"registry at (127\.0\.0\.1:\d+)", run.text)
    assert m, run.text
    return m.group(1)


@pytest.mark.requires_root
@runtimes_installed
def test_ctrl_c_stops_every_task_and_a_rerun_shows_the_containers(
        short_tmp: Path, runs: list[LabRun], namespace: str, tasks: list[Running],
        monkeypatch: pytest.MonkeyPatch) -> None:
    lab_dir = short_tmp / "lab"
    run = LabRun(lab_dir, "--no-jupyter")
    runs.append(run)
    image = f"{_registry(run)}/busybox:latest"
    address, state = str(lab_dir / "state" / "pyctrd.sock"), lab_dir / "state"
    ours = run_tasks(address, state, image, namespace, "lab", RUNTIMES, tasks)
    # a daemon a notebook started and never stopped (its kernel died hard), with a task of its own
    monkeypatch.setenv("PYCTRD_LAB_PIDS", str(lab_dir / "pids" / "notebooks"))
    nb = Lab(short_tmp / "nb")
    nb.launch()
    try:
        theirs = run_tasks(nb.address, nb.state, image, namespace, "nb", RUNTIMES[:1], tasks)
        run.interrupt()
    finally:
        nb.stop()
    assert run.proc.returncode == 0, run.text
    for t in [*ours, *theirs]:
        assert f"stopped task {namespace}/{t.id} (shim {t.shim.pid})" in run.text
        t.assert_gone()
    assert f"stopped pyctrd-{nb.pid} (pid {nb.pid})" in run.text
    assert "killed leftover" not in run.text and "unmounted" not in run.text  # the normal path did it all
    assert mounts_under(short_tmp) == []
    assert not any((state / TASK_DIR / namespace).iterdir())  # bundles removed by task delete

    again = LabRun(lab_dir, "--no-jupyter", "--no-registry")
    runs.append(again)
    with Client(address, namespace) as c:
        assert sorted(x.id for x in c.containers.list()) == ["lab-0", "lab-1"]  # records stay, as containerd's
        assert c.tasks.list() == []
    again.interrupt()
    assert again.proc.returncode == 0 and "stopped task" not in again.text


@pytest.mark.requires_root
@runtimes_installed
def test_shims_a_dead_daemon_left_are_killed_by_pid(short_tmp: Path, runs: list[LabRun], namespace: str,
                                                    tasks: list[Running]) -> None:
    """The safety net: the daemon died (nobody to delete the tasks), its shims are found from
    their bundles and killed; the next daemon start finishes the clean-up; Lab.destroy stops
    the tasks of the daemon it owns."""
    lab_dir = short_tmp / "lab"
    run = LabRun(lab_dir, "--no-jupyter")
    runs.append(run)
    state = lab_dir / "state"
    started = run_tasks(str(state / "pyctrd.sock"), state, f"{_registry(run)}/busybox:latest", namespace, "lab",
                        RUNTIMES, tasks)
    os.kill(run.pids["pyctrd"].pid, signal.SIGKILL)
    out, _ = run.proc.communicate(timeout=60)
    run.lines += out.splitlines()
    assert "pyctrd exited: stopping the lab" in run.text
    for t in started:
        assert f"killed leftover shim of {namespace}/{t.id} (pid {t.shim.pid})" in run.text
        t.assert_gone()
    assert mounts_under(short_tmp) == []

    lab = Lab(lab_dir)  # the next start cleans up after the dead shims: runc delete, bundles removed
    lab.launch()
    try:
        assert not any((state / TASK_DIR / namespace).iterdir())
        with Client(lab.address, namespace) as c:
            task = c.tasks.create("lab-0")
            task.start()
        shim = shim_pid(state / TASK_DIR / namespace / "lab-0")
        assert shim is not None
        shim_record, init_record = ProcessRecord.of(shim), ProcessRecord.of(task.pid)
        assert shim_record.alive() and init_record.alive()
        lab.destroy()
        assert not shim_record.alive() and not init_record.alive()
        assert mounts_under(short_tmp) == [] and not any((state / TASK_DIR / namespace).iterdir())
    finally:
        lab.destroy()
