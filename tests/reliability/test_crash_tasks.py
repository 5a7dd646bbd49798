"""kill -9 the daemon while containers and tasks are being created, started and removed (both shims).

After each restart: the database is intact; every task acknowledged as started (and not
removed) is running again under the same pid; whatever was half-made (a task created but not
started, a container without its task) can be listed and removed. After cleaning up, no shim
process, bundle, mount or runc state is left for the round - and at the end the ``rt``
fixture checks the same for the whole test (FIFOs and cgroups too).
"""
from __future__ import annotations

import contextlib
import os
import random
import signal
import threading
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from pyctrd import errdefs
from pyctrd.cgroups import Hierarchies
from pyctrd.client import Client
from pyctrd.plugins.runtime.v2.binary import resolve_runtime
from pyctrd.plugins.runtime.v2.orphans import listening_sockets
from tests.fixtures.daemon import start_daemon
from tests.reliability.crash import Killer, integrity, run_workers
from tests.reliability.figures import record, scaled
from tests.runtime.conftest import Env, needs_go_shim, shim_pids, wait_exit, wait_for

pytestmark = needs_go_shim
ROUNDS = scaled(2, 15)


@dataclass
class Tasks:
    started: dict[str, int] = field(default_factory=dict)
    removed: set[str] = field(default_factory=set)
    uncertain: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _lifecycles(address: str, ns: str, spec: Any, runtime: str, rnd: int, led: Tasks, killer: Killer,
                i: int) -> None:
    cl = Client(address, ns)
    try:
        for n in range(8):
            id = f"t{rnd}-{i}-{n}"
            with led.lock:
                led.uncertain.add(id)
            cl.containers.create(id, spec=spec(id), runtime=runtime)
            killer.ack()
            task = cl.tasks.create(id)
            killer.ack()
            pid = task.start()
            with led.lock:
                led.started[id] = pid
            killer.ack()
            if n % 2:
                task.kill(signal.SIGKILL)
                task.wait(timeout=30)
                task.delete()
                cl.containers.delete(id)
                with led.lock:
                    led.removed.add(id)
            with led.lock:
                led.uncertain.discard(id)
            killer.ack()
    finally:
        cl.close()


def _sleeper(rt: Env, id: str) -> dict[str, Any]:
    return rt.spec(id, "sleep", "1000")


def _clean_round(rt: Env, prefix: str) -> None:
    for st in rt.client.tasks.list():
        if st.id.startswith(prefix):
            rt.client.tasks.get(st.id).delete(force=True)
    for c in rt.client.containers.list():
        if c.id.startswith(prefix):
            rt.client.containers.delete(c.id)
    for pid in shim_pids(rt.namespace):
        wait_exit(pid, 10)
    wait_for(lambda: not shim_pids(rt.namespace), 10, "the round's shims to exit")
    left = [p for p in (rt.state, rt.work) if p.is_dir() and [e for e in os.listdir(p) if e.startswith(prefix)]]
    assert not left, f"bundles left: {[os.listdir(p) for p in left]}"
    mounts = [m for m in Path("/proc/self/mountinfo").read_text().splitlines() if f"/{prefix}" in m]
    assert not mounts, mounts
    h = Hierarchies.discover()
    cgroups = [str(p) for mnt in h.mountpoints
               for p in (Path(mnt) / rt.namespace).glob(f"{prefix}*")]
    assert not cgroups, cgroups[:5]


@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["io.containerd.runc.v2", "io.containerd.pyrunc.v1"])
def test_kill_during_container_and_task_lifecycles(rt: Env, runtime: str) -> None:
    try:
        resolve_runtime(runtime)
    except errdefs.NotFound:
        pytest.skip(f"{runtime}'s shim is not installed")
    recovered = mid = 0
    for rnd in range(ROUNDS):
        rng = random.Random(3000 + rnd)
        led = Tasks()
        killer = Killer(rt.daemon.pid, at=rng.randrange(3, 50))
        work = partial(_lifecycles, rt.daemon.address, rt.namespace, partial(_sleeper, rt), runtime, rnd, led,
                       killer)
        assert not run_workers(3, work, killer)
        mid += killer.finish()
        rt.restart_daemon(signal.SIGKILL)
        assert integrity(rt.daemon.root) == "ok"
        states = {s.id: s for s in rt.client.tasks.list()}
        for id, pid in led.started.items():
            if id in led.removed or id in led.uncertain:
                continue
            assert id in states, f"task {id} acknowledged as started was lost"
            assert (states[id].status, states[id].pid) == ("running", pid), states[id]
            recovered += 1
        assert all(s.status in ("created", "running", "stopped") for s in states.values()), states
        _clean_round(rt, f"t{rnd}-")
    record("faults", f"kill -9 during task lifecycles/{runtime}", ROUNDS, "crashes survived")
    record("faults", f"running tasks recovered after a crash/{runtime}", recovered, "tasks")
    assert mid >= ROUNDS - 1


async def _delete_in_the_shim(address: str, id: str) -> None:
    from pyctrd import ttrpc
    from pyctrd._api.containerd.runtime.v2.task import shim_pb2

    async with await ttrpc.connect(address) as client:
        task = ttrpc.Stub(client, shim_pb2.DESCRIPTOR.services_by_name["Task"])
        await task.Delete(shim_pb2.DeleteRequest(id=id), timeout=10)


@pytest.mark.parametrize("runtime", ["io.containerd.runc.v2", "io.containerd.pyrunc.v1"])
def test_a_shim_left_without_its_task_is_removed_on_restart(rt: Env, runtime: str) -> None:
    """The daemon died after the shim deleted the task but before it told the shim to shut
    down: the restarted daemon reconnected to a shim whose task no one could see or delete,
    and the shim and its bundle stayed forever."""
    import asyncio

    try:
        resolve_runtime(runtime)
    except errdefs.NotFound:
        pytest.skip(f"{runtime}'s shim is not installed")
    rt.client.containers.create("half", spec=rt.spec("half", "sleep", "1000"), runtime=runtime)
    task = rt.client.tasks.create("half")
    task.start()
    task.kill(signal.SIGKILL)
    task.wait(timeout=30)
    asyncio.run(_delete_in_the_shim((rt.state / "half" / "address").read_text().strip(), "half"))
    [shim] = shim_pids(rt.namespace)
    rt.restart_daemon(signal.SIGKILL)
    wait_exit(shim, 10)
    assert not shim_pids(rt.namespace) and not (rt.state / "half").exists() and not (rt.work / "half").exists()
    assert rt.client.tasks.list() == []
    rt.client.containers.delete("half")


SLOW_START = """#!/bin/sh
# The Go shim, except that `start` stops after the server is up and before the daemon learns its
# address (the window a daemon killed mid-start leaves): the address file is not there yet.
for a in "$@"; do
  if [ "$a" = "start" ]; then
    {real} "$@" > /dev/null
    rm -f address
    echo $$ > {pidfile}
    exec sleep 30
  fi
done
exec {real} "$@"
"""


def test_a_shim_started_by_a_killed_daemon_is_not_left_running(rt: Env, short_tmp: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The daemon died while a shim's ``start`` was running: the shim server was up but its
    address never reached the bundle. The restarted daemon removed the bundle as a dead
    shim's, and the live shim server stayed, with nothing left that knew it."""
    import shutil

    real = shutil.which("containerd-shim-runc-v2")
    assert real is not None
    bin_dir = short_tmp / "bin"
    bin_dir.mkdir()
    slow = bin_dir / "containerd-shim-slowstart-v1"
    pidfile = short_tmp / "sleeping.pid"
    slow.write_text(SLOW_START.format(real=real, pidfile=pidfile))
    slow.chmod(0o755)
    rt.client.close()
    rt.daemon.stop()
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    rt.daemon = start_daemon(rt.daemon.root.parent)
    rt.client = rt.daemon.client(rt.namespace)
    rt.client.containers.create("ss", spec=rt.spec("ss", "sleep", "1000"), runtime="io.containerd.slowstart.v1")
    creating = threading.Thread(target=_try_create, args=(rt,), daemon=True)
    creating.start()
    wait_for(pidfile.exists, 20, "the shim server up, its address not written")
    [server] = shim_pids(rt.namespace)
    sockets = [Path(p) for p in listening_sockets(server)]
    assert sockets
    rt.restart_daemon(signal.SIGKILL)  # the daemon dies mid-start
    with contextlib.suppress(ProcessLookupError):
        os.kill(int(pidfile.read_text()), signal.SIGKILL)  # the interrupted `start` (a sleep now)
    creating.join(30)
    wait_exit(server, 10)
    assert not shim_pids(rt.namespace), "the stray shim was left running"
    assert not [p for p in sockets if p.exists()], "its socket was left"
    assert not (rt.state / "ss").exists()
    rt.client.containers.delete("ss")


def _try_create(rt: Env) -> None:
    with contextlib.suppress(errdefs.PyctrdError):
        rt.client.tasks.create("ss")


def test_a_bundle_delete_cut_off_by_a_crash_is_finished_on_restart(rt: Env) -> None:
    """A delete renames the bundle to ``.<id>`` and then removes it; killed in between, the
    hidden directory was skipped by every later start and stayed for good. (Built by hand:
    the on-disk state such a crash leaves, rootfs mount point included.)"""
    rt.client.containers.create("hb", spec=rt.spec("hb", "sleep", "1000"))
    task = rt.client.tasks.create("hb")
    task.start()  # makes the namespace's bundle directory
    hidden = rt.state / ".gone"
    (hidden / "rootfs").mkdir(parents=True)
    (hidden / "config.json").write_text("{}")
    rt.restart_daemon(signal.SIGKILL)
    assert not hidden.exists()
    again = rt.client.tasks.get("hb")
    assert again.status().status == "running"  # the live task is left alone
    again.delete(force=True)
    rt.client.containers.delete("hb")
