"""Daemon restart: running tasks survive a crashed daemon, dead ones are cleaned up at boot."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.fixtures.registry import Registry

from .conftest import BOTH_RUNTIMES, Env, EventLog, needs_runc, one_runtime, shim_pids, wait_exit, wait_for

pytestmark = needs_runc


@pytest.fixture(params=BOTH_RUNTIMES)
def runtime(request: pytest.FixtureRequest) -> str:
    """Every test here runs on both shims: Debian's Go shim and ours (pyctrd's default)."""
    return request.param  # type: ignore[no-any-return]


def test_three_tasks_survive_a_killed_daemon(rt: Env) -> None:
    ids = ["r1", "r2", "r3"]
    pids = {}
    for id in ids:
        rt.container(id, "sleep", "1000")
        task = rt.client.tasks.create(id)
        pids[id] = task.start()
    shims = sorted(shim_pids(rt.namespace))
    assert len(shims) == 3

    rt.restart_daemon(signal.SIGKILL)

    assert sorted(shim_pids(rt.namespace)) == shims  # the very same shims
    states = {s.id: (s.pid, s.status) for s in rt.client.tasks.list()}
    assert states == {id: (pids[id], "running") for id in ids}
    assert "reconnected to shim of task" in rt.daemon.log_text()

    r1 = rt.client.tasks.get("r1")
    p = r1.exec("e1", {**rt.spec("r1")["process"], "args": ["sh", "-c", "echo still here"]}, io=rt.capture())
    p.start()
    assert p.wait().status == 0 and p.io.stdout.getvalue() == b"still here\n"  # type: ignore[union-attr]
    p.delete()
    assert r1.metrics().pids.current == 1  # type: ignore[attr-defined]

    log = EventLog(rt.daemon.address, 'topic=="/tasks/exit"')
    try:
        for id in ids:
            t = rt.client.tasks.get(id)
            t.kill(signal.SIGKILL)
            assert t.wait().status == 137
            assert t.delete().status == 137
            rt.client.containers.delete(id)
        # the reloaded shims still forward their events to the new daemon's ttrpc socket
        assert {e.event.container_id for e in log.wait("/tasks/exit", 3)} == set(ids)  # type: ignore[union-attr]
    finally:
        log.close()
    for pid in shims:
        wait_exit(pid)
    assert not shim_pids(rt.namespace)
    assert not os.listdir(rt.state) and not os.listdir(rt.work)


def test_a_shim_that_died_while_the_daemon_was_down_is_cleaned_up(rt: Env) -> None:
    rt.container("alive", "sleep", "1000")
    rt.client.tasks.create("alive").start()
    rt.container("dead", "sleep", "1000")
    rt.client.tasks.create("dead").start()
    rt.container("made", "true")
    rt.client.tasks.create("made")  # created, never started
    bundles = sorted(os.listdir(rt.state))
    assert bundles == ["alive", "dead", "made"]
    dead_shim = next(pid for pid in shim_pids(rt.namespace)
                     if b"dead" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0"))
    address = (rt.state / "dead" / "address").read_text().removeprefix("unix://")

    rt.daemon.stop(signal.SIGKILL)
    os.kill(dead_shim, signal.SIGKILL)
    wait_exit(dead_shim)
    (rt.work / "orphan-work").mkdir()  # a work dir whose bundle vanished (as after a reboot)
    rt.restart_daemon(signal.SIGKILL)

    assert {s.id: s.status for s in rt.client.tasks.list()} == {"alive": "running", "made": "created"}
    assert sorted(os.listdir(rt.state)) == ["alive", "made"]
    assert sorted(os.listdir(rt.work)) == ["alive", "made"]
    assert not os.path.exists(address), "the dead shim's socket was left"
    if rt.go_shim:  # runc state of the dead container is gone too (the shim binary's `delete` ran)
        assert sorted(os.listdir(f"/run/containerd/runc/{rt.namespace}")) == ["alive", "made"]
    log = rt.daemon.log_text()
    assert "shim gone while the daemon was down" in log and "cleaning up dead shim" in log

    for id in ("alive", "made"):
        rt.client.tasks.get(id).delete(force=True)
    for id in ("alive", "dead", "made"):
        rt.client.containers.delete(id)


@one_runtime  # the shims see no difference between a SIGTERM and a SIGKILL of the daemon
def test_graceful_stop_leaves_tasks_running(rt: Env) -> None:
    rt.container("c1", "sleep", "1000")
    pid = rt.client.tasks.create("c1").start()
    rt.restart_daemon(signal.SIGTERM)
    [state] = rt.client.tasks.list()
    assert (state.id, state.pid, state.status) == ("c1", pid, "running")
    rt.client.tasks.get("c1").delete(force=True)
    rt.client.containers.delete("c1")


def _mount_points() -> set[str]:
    """Mount points in this mount namespace (the shims mount rootfs in the host's)."""
    return {line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()}


def _shim_of(rt: Env, id: str) -> int:
    return next(pid for pid in shim_pids(rt.namespace)
                if id.encode() in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0"))


def test_overlay_rootfs_tasks_after_a_killed_daemon(rt: Env, pushed: Registry) -> None:
    """Containers on overlayfs snapshots (a rootfs mounted in each bundle): after kill -9 of the
    daemon the live ones are reconnected and still work; the one whose shim died meanwhile leaves
    no mount, bundle or work dir; a reconnected shim that dies later is cleaned up as well.

    The boot-time cleanup publishes no ``/tasks/exit``: as containerd's ``cleanupAfterDeadShim``,
    events go out only for a task the manager knew (and no client could subscribe before the
    daemon serves); the exit of the shim that dies after the restart is checked instead."""
    ref = f"{pushed.host}/busybox:latest"
    rt.client.pull(ref, plain_http=True)
    ids = ("live", "dead", "later")
    for id in ids:
        rt.client.new_container(id, ref, args=["sleep", "1000"], runtime=rt.runtime)
        rt.client.tasks.create(id).start()
    rootfs = {id: str(rt.state / id / "rootfs") for id in ids}
    assert set(rootfs.values()) <= _mount_points()
    dead_shim = _shim_of(rt, "dead")

    rt.daemon.stop(signal.SIGKILL)
    os.kill(dead_shim, signal.SIGKILL)
    wait_exit(dead_shim)
    assert rootfs["dead"] in _mount_points()  # a killed shim unmounts nothing
    rt.restart_daemon(signal.SIGKILL)

    assert {s.id: s.status for s in rt.client.tasks.list()} == {"live": "running", "later": "running"}
    assert rootfs["dead"] not in _mount_points(), "the dead task's rootfs is still mounted"
    assert not (rt.state / "dead").exists() and not (rt.work / "dead").exists()
    assert {rootfs["live"], rootfs["later"]} <= _mount_points()
    live = rt.client.tasks.get("live")
    p = live.exec("e1", {**rt.client.containers.spec("live")["process"],
                         "args": ["sh", "-c", "echo kept > /tmp/f; cat /tmp/f /etc/os-release | head -1"]},
                  io=rt.capture())
    p.start()
    assert p.wait(timeout=30).status == 0
    assert p.io.stdout.getvalue().startswith(b"kept\n")  # type: ignore[union-attr]  # the overlay still writes
    p.delete()

    log = EventLog(rt.daemon.address, 'topic=="/tasks/exit"')
    try:
        os.kill(_shim_of(rt, "later"), signal.SIGKILL)  # a reconnected shim dying: watched too
        [exit] = log.wait("/tasks/exit")
        assert exit.event.container_id == "later"  # type: ignore[union-attr]
        wait_for(lambda: rootfs["later"] not in _mount_points() and not (rt.state / "later").exists(),
                 what="the cleanup after the later shim")
        live.kill(signal.SIGKILL)
        assert live.wait(timeout=30).status == 137
        assert live.delete().status == 137
        assert [e.event.container_id for e in log.wait("/tasks/exit", 2)] == ["later", "live"]  # type: ignore[union-attr]
    finally:
        log.close()
    assert not set(rootfs.values()) & _mount_points()
    assert rt.client.tasks.list() == [] and not os.listdir(rt.state) and not os.listdir(rt.work)
    for id in ids:  # the records kept their snapshots through it all
        assert str(rt.client.snapshotter("overlayfs").stat(id).kind) == "Active"
        rt.client.containers.delete(id, snapshot_cleanup=True)
