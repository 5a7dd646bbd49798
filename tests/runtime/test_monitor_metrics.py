"""The cgroups task monitor's Prometheus metrics, and the daemon's trees with a task running."""
from __future__ import annotations

import os
import urllib.request

import pytest

from .conftest import RUNTIME, TASK_DIR, Env, needs_go_shim

pytestmark = needs_go_shim


@pytest.fixture
def rt_config() -> str:
    return 'version = 2\n[metrics]\naddress = "127.0.0.1:0"\n'


def _scrape(rt: Env) -> str:
    line = next(x for x in rt.daemon.log_text().splitlines() if "metrics served" in x)
    port = int(line.rsplit(":", 1)[1].strip('"'))
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/metrics", timeout=5).read().decode()


def test_task_cgroup_metrics_and_trees(rt: Env) -> None:
    rt.container("c1", "sleep", "1000")
    task = rt.client.tasks.create("c1")
    task.start()
    body = _scrape(rt)
    tags = f'container_id="c1",namespace="{rt.namespace}",runtime="{RUNTIME}"'
    assert f"container_pids_current{{{tags}}} 1" in body
    usage = next(line for line in body.splitlines() if line.startswith(f"container_memory_usage_usage_bytes{{{tags}}}"))
    assert int(usage.rsplit(" ", 1)[1]) > 0

    # the shape of containerd's trees (reference tree-state-deep.txt, tree-root-deep.txt)
    state, root = rt.daemon.state, rt.daemon.root
    assert {"pyctrd.sock", "pyctrd.sock.ttrpc", TASK_DIR} <= set(os.listdir(state))
    assert os.listdir(state / TASK_DIR / rt.namespace) == ["c1"]
    assert os.listdir(root / TASK_DIR / rt.namespace) == ["c1"]
    assert os.listdir(root / TASK_DIR / rt.namespace / "c1") == []

    task.delete(force=True)
    assert "container_pids_current" not in _scrape(rt)  # the monitor let go of it
    # after the delete, as containerd: the namespace directory stays, empty
    assert os.listdir(state / TASK_DIR) == [rt.namespace] and os.listdir(state / TASK_DIR / rt.namespace) == []
    rt.client.containers.delete("c1")
