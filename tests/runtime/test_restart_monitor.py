"""The restart monitor keeps labelled containers' tasks running (or stopped)."""
from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from pyctrd.plugins.internal.restart.monitor import STATUS_LABEL, RestartMonitor
from pyctrd.plugins.metadata.sqlite.metadata import Metadata

from .conftest import Env, EventLog, go_shim_installed, wait_for


@pytest.fixture
def rt_config() -> str:
    return 'version = 2\n[plugins."io.containerd.internal.v1.restart"]\n  interval = "100ms"\n'


@pytest.mark.requires_root
@go_shim_installed
def test_labelled_container_is_restarted_then_stopped(rt: Env) -> None:
    log = EventLog(rt.daemon.address, 'topic~="/tasks/"', f'namespace=="{rt.namespace}"')
    try:
        rt.container("c1", "sleep", "1000", labels={STATUS_LABEL: "running"})
        [start] = log.wait("/tasks/start")
        first = start.event.pid  # type: ignore[union-attr]
        assert rt.client.tasks.get("c1").status().status == "running"

        rt.client.tasks.get("c1").kill(signal.SIGKILL)  # it dies: the monitor replaces the task
        starts = log.wait("/tasks/start", 2)
        assert starts[1].event.pid != first  # type: ignore[union-attr]
        assert wait_for(lambda: rt.client.tasks.get("c1").status().status == "running", 5, "running again")

        rt.client.containers.label("c1", **{STATUS_LABEL: "stopped"})
        log.wait("/tasks/delete", 2)
        wait_for(lambda: rt.client.tasks.list() == [], 5, "the task to go")
        rt.client.containers.label("c1", **{STATUS_LABEL: ""})
    finally:
        log.close()
    rt.client.containers.delete("c1")


def test_the_loop_sleeps_the_interval_between_rounds(tmp_path: Path) -> None:
    md = Metadata(tmp_path / "meta.db")
    md.namespaces.create("quiet")
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 3:
            raise asyncio.CancelledError  # the clock stops the test, not time

    monitor = RestartMonitor(md.containers, None, md.namespaces, interval=2.5, sleep=fake_sleep)
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(monitor.run())
    assert (slept, monitor.rounds) == ([2.5, 2.5, 2.5], 3)
    assert repr(monitor) == "<RestartMonitor every 2.5s rounds=3>"
    md.close()
