"""The real ``ctr`` (containerd 1.6's client) running containers through pyctrd.

``ctr run`` and ``ctr tasks exec`` create a lease first (``Leases/Create``): those tests need
the leases service and are skipped on a daemon without it. ``ctr containers`` needs none.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import RUNTIME, Env, needs_go_shim

pytestmark = [*needs_go_shim, pytest.mark.needs_ctr]


def _needs_leases(rt: Env) -> None:
    if not any(p.type == "io.containerd.grpc.v1" and p.id == "leases" for p in rt.client.plugins()):
        pytest.skip("ctr run needs the leases service (Leases/Create), not in this daemon")


def test_ctr_run_rm_prints_and_exits(rt: Env) -> None:
    _needs_leases(rt)
    r = rt.ctr("run", "--runtime", RUNTIME, "--rm", "--rootfs", str(rt.rootfs), "t1", "/bin/echo", "hi")
    assert r.stdout == "hi\n"
    r = rt.ctr("run", "--runtime", RUNTIME, "--rm", "--rootfs", str(rt.rootfs), "t2", "/bin/sh", "-c", "exit 3",
               check=False)
    assert r.returncode == 3
    assert rt.ctr("containers", "ls", "-q").stdout == ""


def test_ctr_detached_lifecycle(rt: Env) -> None:
    _needs_leases(rt)
    rt.ctr("run", "--runtime", RUNTIME, "-d", "--rootfs", str(rt.rootfs), "c1", "/bin/sleep", "1000")
    lines = rt.ctr("containers", "ls").stdout.splitlines()
    assert lines[0].split() == ["CONTAINER", "IMAGE", "RUNTIME"]
    assert lines[1].split() == ["c1", "-", RUNTIME]

    ls = rt.ctr("tasks", "ls").stdout.splitlines()
    task = rt.client.tasks.get("c1")
    pid, fifo_dir = task.pid, Path(task.status().io.stdout).parent
    assert str(fifo_dir).startswith("/run/containerd/fifo/")  # ctr's FIFOs, named in the task
    assert [line.split() for line in ls] == [["TASK", "PID", "STATUS"], ["c1", str(pid), "RUNNING"]]
    assert ls[1].index(str(pid)) == ls[0].index("PID") == 8  # tabwriter columns, as containerd's
    assert [line.split() for line in rt.ctr("tasks", "ps", "c1").stdout.splitlines()] == [["PID", "INFO"],
                                                                                          [str(pid), "-"]]

    assert rt.ctr("tasks", "exec", "--exec-id", "e1", "c1", "/bin/echo", "hi").stdout == "hi\n"
    metrics = rt.ctr("tasks", "metrics", "c1").stdout.splitlines()
    assert metrics[0].split() == ["ID", "TIMESTAMP"] and metrics[1].startswith("c1 ")
    assert [line.split()[0] for line in metrics[3:]] == [
        "METRIC", "memory.usage_in_bytes", "memory.limit_in_bytes", "memory.stat.cache", "cpuacct.usage",
        "cpuacct.usage_percpu", "pids.current", "pids.limit"]
    data = json.loads(rt.ctr("tasks", "metrics", "--format", "json", "c1").stdout)
    assert data["pids"]["current"] == 1

    rt.ctr("tasks", "pause", "c1")
    assert rt.ctr("tasks", "ls").stdout.split()[-1] == "PAUSED"
    rt.ctr("tasks", "resume", "c1")
    rt.ctr("tasks", "kill", "-s", "SIGKILL", "c1")
    rt.client.tasks.get("c1").wait(timeout=10)
    assert rt.ctr("tasks", "ls").stdout.split()[-1] == "STOPPED"
    r = rt.ctr("tasks", "rm", "c1")
    assert "task c1 exit with non-zero exit code 137" in r.stderr
    rt.ctr("containers", "rm", "c1")
    assert rt.ctr("containers", "ls", "-q").stdout == ""
    assert rt.client.tasks.list() == []
    assert not fifo_dir.exists()  # ctr tasks rm loaded the task's FIFO set and removed it


def test_ctr_sees_containers_made_by_pyctrd(rt: Env) -> None:
    rt.container("c1", "true", labels={"team": "red"})
    info = json.loads(rt.ctr("containers", "info", "c1").stdout)
    assert info["ID"] == "c1" and info["Labels"] == {"team": "red"}
    options = {"type_url": "containerd.runc.v1.Options"} if RUNTIME == "io.containerd.runc.v2" else None
    assert info["Runtime"] == {"Name": RUNTIME, "Options": options}  # runc v2 gets runc options, as from ctr
    assert info["Spec"]["process"]["args"] == ["true"]
    assert rt.ctr("containers", "ls", "labels.team==red", "-q").stdout == "c1\n"  # ListStream, filtered
    assert rt.ctr("containers", "ls", "-q", "labels.team==blue").stdout == ""
    assert rt.ctr("containers", "label", "c1", "team=blue").stdout == "team=blue\n"
    rt.ctr("containers", "rm", "c1")
    assert rt.client.containers.list() == []
