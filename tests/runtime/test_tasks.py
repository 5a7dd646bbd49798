"""Real containers through pyctrd's client, tasks service, runtime v2 manager and each shim."""
from __future__ import annotations

import io
import os
import signal
import stat
from pathlib import Path

import pytest

from pyctrd import errdefs
from pyctrd._api.cgroups.stats.v1 import metrics_pb2 as v1
from pyctrd.client import cio
from pyctrd.core import oci

from .conftest import BOTH_RUNTIMES, RUNTIME, SHIM, Env, EventLog, needs_runc, one_runtime, shim_pids

pytestmark = needs_runc


@pytest.fixture(params=BOTH_RUNTIMES)
def runtime(request: pytest.FixtureRequest) -> str:
    """Every test here runs on both shims: Debian's Go shim and ours (pyctrd's default)."""
    return request.param  # type: ignore[no-any-return]


def test_output_exit_code_and_stdin(rt: Env) -> None:
    exit, out, err = rt.run("c1", "sh", "-c", "echo out; echo err >&2; read line; echo got $line; exit 7",
                            stdin=b"hello\n")
    assert (exit.status, out, err) == (7, b"out\ngot hello\n", b"err\n")
    assert exit.pid > 1 and exit.timestamp is not None


def test_bundle_matches_containerds_while_running(rt: Env) -> None:
    rt.container("c1", "sleep", "1000")
    task = rt.client.tasks.create("c1")
    b = rt.state / "c1"
    # what containerd 1.6's bundle holds (reference bundle-ls.txt), each with its mode
    modes = {p.name: stat.filemode(p.lstat().st_mode) for p in b.iterdir()}
    daemons = {"config.json": "-rw-r--r--", "log": "prwx------", "rootfs": "drwx--x--x",
               "shim-binary-path": "-rw-------", "work": "lrwxrwxrwx"}
    shims = {"address": "-rw-r--r--", "init.pid": "-rw-r--r--", "log.json": "-rw-r--r--",
             "options.json": "-rw-------", "runtime": "-rw-------"}
    assert modes == {**daemons, **shims} if rt.go_shim else daemons.items() <= modes.items()
    assert stat.filemode(b.stat().st_mode) == "drwx------"
    assert os.readlink(b / "work") == str(rt.work / "c1") and (rt.work / "c1").is_dir()
    assert (b / "shim-binary-path").read_text() == rt.shim
    assert (b / "address").read_text().startswith("unix://")
    if rt.go_shim:
        assert int((b / "init.pid").read_text()) == task.pid
        assert (b / "options.json").read_text() == "{}"  # empty runc options, as ctr sends them
    assert task.status().status == "created"
    task.delete()
    assert not b.exists() and not (rt.work / "c1").exists()
    rt.client.containers.delete("c1")


def test_exec_ps_metrics_pause_resume_kill(rt: Env) -> None:
    rt.container("c1", "sleep", "1000")
    task = rt.client.tasks.create("c1")
    task.start()
    assert task.status().status == "running"
    assert [(s.id, s.pid, s.status) for s in rt.client.tasks.list()] == [("c1", task.pid, "running")]

    p = task.exec("e1", {**rt.spec("c1")["process"], "args": ["sh", "-c", "echo in exec; exit 3"]},
                  io=rt.capture())
    p.start()
    assert p.wait().status == 3
    assert p.io is not None and p.io.stdout.getvalue() == b"in exec\n"  # type: ignore[union-attr]
    assert p.delete().status == 3
    with pytest.raises(errdefs.NotFound):
        p.status()

    long = task.exec("e2", {**rt.spec("c1")["process"], "args": ["sleep", "100"]})
    long.start()
    pids = {info.pid: info for info in task.pids()}
    assert set(pids) == {task.pid, long.pid}
    assert pids[task.pid].info is None
    if rt.go_shim:
        assert pids[long.pid].info is not None  # the shim's ProcessDetails

    m = task.metrics()
    assert isinstance(m, v1.Metrics) and m.pids.current == 2 and m.memory.usage.usage > 0

    task.pause()
    assert task.status().status == "paused"
    task.resume()
    assert task.status().status == "running"

    long.kill(signal.SIGKILL)
    assert long.wait().status == 137
    long.delete()
    with pytest.raises(errdefs.FailedPrecondition):
        task.delete()  # still running
    task.kill(signal.SIGKILL)
    assert task.wait().status == 137
    assert task.status().status == "stopped"
    assert task.delete().status == 137
    rt.client.containers.delete("c1")


def test_terminal(rt: Env) -> None:
    rt.container("c1", "sh", "-c", "tty; stty size", tty=True)
    task = rt.client.tasks.create("c1", io=rt.capture(terminal=True))
    assert task.io is not None and task.io.fifos is not None and not task.io.fifos.stderr  # a pty has no stderr
    task.start()
    task.resize(80, 24)
    assert task.wait().status == 0
    out = task.io.stdout.getvalue()  # type: ignore[union-attr]
    assert out.startswith(b"/dev/pts/0\r\n")
    task.delete()
    rt.client.containers.delete("c1")


def test_events_come_once_each_from_the_shim(rt: Env) -> None:
    log = EventLog(rt.daemon.address, f'namespace=="{rt.namespace}"')
    try:
        rt.run("c1", "true")
        log.wait("/containers/delete")
        topics = log.topics(rt.namespace)
        assert topics == ["/containers/create", "/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete",
                          "/containers/delete"]
        exit = next(e.event for e in log.envelopes if e.topic == "/tasks/exit")
        assert exit.container_id == "c1" and exit.exit_status == 0  # type: ignore[union-attr]
    finally:
        log.close()


@one_runtime  # the daemon's own checks
def test_errors(rt: Env) -> None:
    with pytest.raises(errdefs.NotFound, match="container"):
        rt.client.tasks.create("nope")
    rt.container("c1", "true")
    with pytest.raises(errdefs.NotFound, match="task c1 not found"):
        rt.client.tasks.get("c1")
    task = rt.client.tasks.create("c1")
    with pytest.raises(errdefs.AlreadyExists):
        rt.client.tasks.create("c1")
    with pytest.raises(errdefs.InvalidArgument):
        task.exec("", {"args": ["true"]})
    with pytest.raises(errdefs.FailedPrecondition, match="has a task"):
        rt.client.containers.delete("c1", tasks=rt.client.tasks)
    with pytest.raises(errdefs.NotImplemented, match="checkpoint"):
        from pyctrd._api.containerd.api.services.tasks.v1 import tasks_pb2

        task._tasks._stub.Checkpoint(tasks_pb2.CheckpointTaskRequest(container_id="c1"))
    task.delete()
    rt.client.containers.delete("c1")


def test_a_failed_create_leaves_nothing(rt: Env) -> None:
    rt.container("c1", "/no/such/program")
    with pytest.raises(errdefs.PyctrdError, match="no such file"):
        rt.client.tasks.create("c1", io=rt.capture())
    assert rt.client.tasks.list() == []
    assert not os.listdir(rt.state) and not os.listdir(rt.work)
    assert not shim_pids(rt.namespace)
    rt.client.containers.delete("c1")


@one_runtime  # no shim starts
def test_missing_runtime_binary(rt: Env) -> None:
    rt.client.containers.create("c1", spec=rt.spec("c1", "true"), runtime="io.containerd.nosuch.v9")
    with pytest.raises(errdefs.NotFound, match="containerd-shim-nosuch-v9"):
        rt.client.tasks.create("c1")
    assert not rt.state.exists() or not os.listdir(rt.state)
    rt.client.containers.delete("c1")


def test_a_shim_that_dies_is_cleaned_up_and_its_exit_announced(rt: Env) -> None:
    log = EventLog(rt.daemon.address, 'topic~="/tasks/"')
    try:
        rt.container("c1", "sleep", "1000")
        task = rt.client.tasks.create("c1")
        task.start()
        socket = Path((rt.state / "c1" / "address").read_text().removeprefix("unix://"))
        assert _listening(socket)
        [shim] = shim_pids(rt.namespace)
        os.kill(shim, signal.SIGKILL)
        [exit] = log.wait("/tasks/exit")
        assert exit.event.exit_status == 137  # type: ignore[union-attr]  # runc delete --force killed it
        log.wait("/tasks/delete")
        with pytest.raises(errdefs.NotFound):
            rt.client.tasks.get("c1")
        assert not os.listdir(rt.state)
        # this shim's own socket: /run/containerd/s is shared with every other daemon on the host
        assert not socket.exists(), "the dead shim's socket was left"
    finally:
        log.close()
    rt.client.containers.delete("c1")


def _listening(path: Path) -> bool:
    import socket

    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()


def test_with_streams_and_cio_cleanup(rt: Env) -> None:
    rt.container("c1", "cat")
    out = io.BytesIO()
    task = rt.client.tasks.create("c1", io=cio.with_streams(io.BytesIO(b"a\nb\n"), out, io.BytesIO(),
                                                             fifo_dir=rt.fifo_dir))
    assert task.io is not None and task.io.fifos is not None
    fifo_set = Path(task.io.fifos.dir)
    assert sorted(os.listdir(fifo_set)) == ["c1-stderr", "c1-stdin", "c1-stdout"]
    task.start()
    assert task.wait().status == 0 and out.getvalue() == b"a\nb\n"  # EOF on our stdin reached cat
    task.delete()
    assert not fifo_set.exists()
    rt.client.containers.delete("c1")


def test_runtime_name_is_required_to_match_a_binary() -> None:
    from pyctrd.plugins.runtime.v2.binary import binary_name, resolve_runtime

    assert binary_name("io.containerd.runc.v2") == "containerd-shim-runc-v2"
    assert resolve_runtime(RUNTIME) == SHIM
    with pytest.raises(errdefs.InvalidArgument):
        resolve_runtime("runc")


def test_memory_limit_from_the_spec_and_by_update(rt: Env) -> None:
    rt.container("c1", "sleep", "1000", opts=(oci.with_memory_limit(64 << 20),))
    task = rt.client.tasks.create("c1")
    task.start()
    assert task.metrics().memory.usage.limit == 64 << 20  # type: ignore[attr-defined]
    task.update({"memory": {"limit": 32 << 20}})  # Tasks.Update: LinuxResources JSON, to the shim
    assert task.metrics().memory.usage.limit == 32 << 20  # type: ignore[attr-defined]
    task.delete(force=True)
    rt.client.containers.delete("c1")


def test_each_shim_runs_execs_and_survives_a_daemon_crash(rt: Env) -> None:
    rt.container("c1", "sh", "-c", "echo started; exec sleep 1000")
    task = rt.client.tasks.create("c1", io=rt.capture())
    task.start()
    rt.restart_daemon(signal.SIGKILL)
    [state] = rt.client.tasks.list()
    assert (state.id, state.pid, state.status) == ("c1", task.pid, "running")
    p = rt.client.tasks.get("c1").exec("e1", {**rt.spec("c1")["process"], "args": ["echo", "hi"]}, io=rt.capture())
    p.start()
    assert p.wait().status == 0 and p.io.stdout.getvalue() == b"hi\n"  # type: ignore[union-attr]
    p.delete()
    assert rt.client.tasks.get("c1").delete(force=True).status == 137
    assert task.io is not None and task.io.stdout.getvalue() == b"started\n"  # type: ignore[union-attr]
    task.io.close()
    rt.client.containers.delete("c1")
