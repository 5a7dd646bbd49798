"""Our shim driven directly, as containerd drives it: ``start``, then ttrpc Task calls.

Each test starts ``containerd-shim-pyrunc-v1 … start`` in a bundle, connects with our ttrpc
client, runs real containers through runc and receives the shim's events on a ttrpc Events
server of ours (``TTRPC_ADDRESS``). At the end nothing may be left: no mount, socket, runc
state, cgroup or process.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import any_pb2

from pyctrd import errdefs, ttrpc
from pyctrd._api.cgroups.stats.v1 import metrics_pb2
from pyctrd._api.containerd.api.types import mount_pb2
from pyctrd._api.containerd.api.types.task import task_pb2 as types
from pyctrd._api.containerd.runtime.v2.runc.options import oci_pb2
from pyctrd._api.containerd.runtime.v2.task import shim_pb2 as api
from pyctrd.core import oci, typeurl
from pyctrd.runc.io import read_until_eof
from tests.shim.conftest import EventSink, ShimLab, cgroup_dirs, reap

pytestmark = pytest.mark.requires_root
TASK = api.DESCRIPTOR.services_by_name["Task"]
T = 20  # seconds: every call's deadline


def fifo(path: Path) -> str:
    os.mkfifo(path)
    return str(path)


def mounted(path: Path) -> bool:
    """Is ``path`` a mount point? (``os.path.ismount`` misses binds of the same filesystem.)"""
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == str(path) for line in f)


def reader(path: str) -> int:
    return os.open(path, os.O_RDONLY | os.O_NONBLOCK)


async def read_exactly(fd: int, n: int) -> bytes:
    """``n`` bytes from a non-blocking fd (waits for them; the test's timeout bounds it)."""
    data = b""
    while len(data) < n:
        try:
            chunk = os.read(fd, n - len(data))
        except BlockingIOError:
            chunk = b""
        if not chunk:
            await asyncio.sleep(0.01)
        data += chunk
    return data


def exec_spec(*args: str) -> Any:
    process = {"args": list(args), "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}}
    return typeurl.pack_json(typeurl.OCI_PROCESS_URL, process)


def bind_rootfs(lab: ShimLab, cid: str) -> list[mount_pb2.Mount]:
    return [mount_pb2.Mount(type="bind", source=str(lab.dir / f"{cid}-rootfs"), options=["rbind", "rw"])]


def assert_nothing_left(lab: ShimLab, bundle: Path, address: str) -> None:
    assert not mounted(bundle / "rootfs")
    assert not os.path.exists(address.removeprefix("unix://"))
    assert os.listdir(lab.runc_root) == []
    assert cgroup_dirs(lab.namespace) == []


async def test_container_lifecycle_exec_pause_stats_kill_and_events(shim_lab: ShimLab) -> None:
    lab = shim_lab
    sink, events_server = await EventSink.serve(lab.dir / "ev.sock")
    bundle = lab.bundle("c1", oci.with_process_args("sh", "-c", "echo hello; exec sleep 100"))
    out = fifo(lab.dir / "c1-out")
    address = lab.start(bundle, "c1", env=lab.env(TTRPC_ADDRESS=str(lab.dir / "ev.sock")))
    assert address == f"unix://{lab.dir}/s/" + address.rsplit("/", 1)[1]
    assert (bundle / "address").read_text() == address
    shim_pid = lab.shim_pid(bundle)

    async with await ttrpc.connect(address, timeout=T) as client:
        task = ttrpc.Stub(client, TASK)
        connected = await task.Connect(api.ConnectRequest(id="c1"), timeout=T)
        assert (connected.shim_pid, connected.task_pid) == (shim_pid, 0)
        with pytest.raises(errdefs.NotFound, match="container not created"):
            await task.State(api.StateRequest(id="c1"), timeout=T)

        created = await task.Create(api.CreateTaskRequest(
            id="c1", bundle=str(bundle), rootfs=bind_rootfs(lab, "c1"), stdout=out), timeout=T)
        pid = created.pid
        assert mounted(bundle / "rootfs")
        assert int((bundle / "init.pid").read_text()) == pid
        assert json.loads((bundle / "options.json").read_text()) == {}
        state = await task.State(api.StateRequest(id="c1"), timeout=T)
        assert (state.status, state.pid, state.stdout, state.bundle) == (types.CREATED, pid, out, str(bundle))
        assert state.exited_at.seconds == -62135596800  # Go's zero time: not exited

        out_fd = reader(out)
        assert (await task.Start(api.StartRequest(id="c1"), timeout=T)).pid == pid
        assert await read_exactly(out_fd, 6) == b"hello\n"
        assert (await task.Connect(api.ConnectRequest(id="c1"), timeout=T)).task_pid == pid

        # exec e1: runs, prints, exits 0; its own stdout FIFO
        e1_out = fifo(lab.dir / "e1-out")
        await task.Exec(api.ExecProcessRequest(id="c1", exec_id="e1", stdout=e1_out,
                                               spec=exec_spec("echo", "from-exec")), timeout=T)
        with pytest.raises(errdefs.AlreadyExists):
            await task.Exec(api.ExecProcessRequest(id="c1", exec_id="e1", spec=exec_spec("true")), timeout=T)
        e1_fd = reader(e1_out)
        e1_pid = (await task.Start(api.StartRequest(id="c1", exec_id="e1"), timeout=T)).pid
        waited = await task.Wait(api.WaitRequest(id="c1", exec_id="e1"), timeout=T)
        assert waited.exit_status == 0 and waited.exited_at.seconds > 0
        assert await read_until_eof(e1_fd) == b"from-exec\n"
        with pytest.raises(errdefs.NotFound, match="process already finished"):
            await task.Kill(api.KillRequest(id="c1", exec_id="e1", signal=signal.SIGTERM), timeout=T)
        deleted = await task.Delete(api.DeleteRequest(id="c1", exec_id="e1"), timeout=T)
        assert (deleted.pid, deleted.exit_status) == (e1_pid, 0)
        assert not (bundle / "e1.pid").exists()

        # exec e2 keeps running: Pids names it, pause/resume freeze it with the container
        await task.Exec(api.ExecProcessRequest(id="c1", exec_id="e2", spec=exec_spec("sleep", "100")),
                        timeout=T)
        e2_pid = (await task.Start(api.StartRequest(id="c1", exec_id="e2"), timeout=T)).pid
        pids = (await task.Pids(api.PidsRequest(id="c1"), timeout=T)).processes
        assert {p.pid for p in pids} == {pid, e2_pid}
        info = next(p.info for p in pids if p.pid == e2_pid)
        assert info.type_url == "containerd.runc.v1.ProcessDetails"
        assert oci_pb2.ProcessDetails.FromString(info.value).exec_id == "e2"

        await task.Pause(api.PauseRequest(id="c1"), timeout=T)
        for exec_id in ("", "e2"):
            state = await task.State(api.StateRequest(id="c1", exec_id=exec_id), timeout=T)
            assert state.status == types.PAUSED
        with pytest.raises(errdefs.FailedPrecondition, match="cannot exec in a paused state"):
            await task.Exec(api.ExecProcessRequest(id="c1", exec_id="e3", spec=exec_spec("true")), timeout=T)
        await task.Resume(api.ResumeRequest(id="c1"), timeout=T)
        assert (await task.State(api.StateRequest(id="c1"), timeout=T)).status == types.RUNNING

        stats = (await task.Stats(api.StatsRequest(id="c1"), timeout=T)).stats
        assert stats.type_url == "io.containerd.cgroups.v1.Metrics"
        metrics = metrics_pb2.Metrics.FromString(stats.value)
        assert metrics.pids.current == 2 and metrics.memory.usage.usage > 0
        await task.Update(api.UpdateTaskRequest(id="c1", resources=typeurl.pack_json(
            typeurl.OCI_RESOURCES_URL, {"pids": {"limit": 42}})), timeout=T)
        pids_dir = next(d for d in cgroup_dirs(lab.namespace) if "/pids/" in d)
        assert Path(pids_dir, "pids.max").read_text().strip() == "42"

        with pytest.raises(errdefs.NotImplemented, match="checkpoint"):
            await task.Checkpoint(api.CheckpointTaskRequest(id="c1", path="/x"), timeout=T)
        with pytest.raises(errdefs.FailedPrecondition, match="cannot delete a running process"):
            await task.Delete(api.DeleteRequest(id="c1"), timeout=T)

        # kill init: the kernel ends e2 with it (own PID namespace); both exits are reported
        await task.Kill(api.KillRequest(id="c1", signal=signal.SIGKILL), timeout=T)
        for exec_id in ("", "e2"):
            waited = await task.Wait(api.WaitRequest(id="c1", exec_id=exec_id), timeout=T)
            assert waited.exit_status == 137
        with pytest.raises(errdefs.NotFound, match="process already finished"):
            await task.Kill(api.KillRequest(id="c1", signal=signal.SIGKILL), timeout=T)
        await task.Delete(api.DeleteRequest(id="c1", exec_id="e2"), timeout=T)
        deleted = await task.Delete(api.DeleteRequest(id="c1"), timeout=T)
        assert (deleted.pid, deleted.exit_status) == (pid, 137)
        assert not mounted(bundle / "rootfs")
        assert await read_until_eof(out_fd) == b""

        await task.Shutdown(api.ShutdownRequest(id="c1"), timeout=T)
    assert reap(shim_pid) == 0
    assert_nothing_left(lab, bundle, address)
    await events_server.close()

    # the events, in containerd's order and with its fields
    assert sink.topics[:9] == [
        "/tasks/create", "/tasks/start", "/tasks/exec-added", "/tasks/exec-started", "/tasks/exit",
        "/tasks/exec-added", "/tasks/exec-started", "/tasks/paused", "/tasks/resumed"]
    assert sorted(sink.topics[9:11]) == ["/tasks/exit", "/tasks/exit"]
    assert sink.topics[11:] == ["/tasks/delete"]
    assert {e.namespace for e in sink.envelopes} == {lab.namespace}
    create = sink.events("/tasks/create")[0]
    assert (create.container_id, create.bundle, create.pid, create.io.stdout) == ("c1", str(bundle), pid, out)
    assert create.rootfs[0].source == str(lab.dir / "c1-rootfs")
    assert sink.events("/tasks/start")[0].pid == pid
    started = sink.events("/tasks/exec-started")
    assert [(e.exec_id, e.pid) for e in started] == [("e1", e1_pid), ("e2", e2_pid)]
    exits = {e.id: e for e in sink.events("/tasks/exit")}
    assert (exits["e1"].pid, exits["e1"].exit_status) == (e1_pid, 0)
    assert (exits["c1"].container_id, exits["c1"].pid, exits["c1"].exit_status) == ("c1", pid, 137)
    assert exits["e2"].exit_status == 137
    delete = sink.events("/tasks/delete")[0]
    assert (delete.container_id, delete.pid, delete.exit_status, delete.id) == ("c1", pid, 137, "")
    assert delete.exited_at == exits["c1"].exited_at


async def test_short_lived_container_start_comes_before_exit(shim_lab: ShimLab) -> None:
    """``echo`` may be done before Start returns; /tasks/start must still come first."""
    lab = shim_lab
    sink, events_server = await EventSink.serve(lab.dir / "ev.sock")
    bundle = lab.bundle("c2", oci.with_process_args("echo", "hi"), rootfs_in_bundle=True)
    out = fifo(lab.dir / "c2-out")
    address = lab.start(bundle, "c2", env=lab.env(TTRPC_ADDRESS=str(lab.dir / "ev.sock")))
    async with await ttrpc.connect(address, timeout=T) as client:
        task = ttrpc.Stub(client, TASK)
        await task.Create(api.CreateTaskRequest(id="c2", bundle=str(bundle), stdout=out), timeout=T)
        out_fd = reader(out)
        await task.Start(api.StartRequest(id="c2"), timeout=T)
        assert (await task.Wait(api.WaitRequest(id="c2"), timeout=T)).exit_status == 0
        assert await read_until_eof(out_fd) == b"hi\n"
        await task.Delete(api.DeleteRequest(id="c2"), timeout=T)
        await sink.wait_for("/tasks/delete")
        await task.Shutdown(api.ShutdownRequest(id="c2"), timeout=T)
    assert reap(lab.shim_pid(bundle)) == 0
    await events_server.close()
    assert sink.topics == ["/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete"]
    assert os.path.isdir(bundle / "rootfs/bin")  # not ours to mount: left alone
    assert_nothing_left(lab, bundle, address)


async def test_stdin_and_closeio(shim_lab: ShimLab) -> None:
    """The container sees stdin's EOF only after CloseIO, as with containerd's shim."""
    lab = shim_lab
    bundle = lab.bundle("c3", oci.with_process_args("cat"))
    stdin, out = fifo(lab.dir / "c3-in"), fifo(lab.dir / "c3-out")
    # No TTRPC_ADDRESS: events go through the publish binary, here a script that keeps them.
    publish = lab.dir / "publish"
    publish.write_text(f"#!/bin/sh\nf=$(mktemp -p {lab.dir} ev.XXXXXX)\ncat > $f\n"
                       f"echo \"$f $*\" >> {lab.dir}/published\n")
    publish.chmod(0o755)
    address = lab.start(bundle, "c3", publish_binary=str(publish))
    async with await ttrpc.connect(address, timeout=T) as client:
        task = ttrpc.Stub(client, TASK)
        await task.Create(api.CreateTaskRequest(id="c3", bundle=str(bundle), rootfs=bind_rootfs(lab, "c3"),
                                                stdin=stdin, stdout=out), timeout=T)
        out_fd = reader(out)
        await task.Start(api.StartRequest(id="c3"), timeout=T)
        writer = os.open(stdin, os.O_WRONLY | os.O_NONBLOCK)
        os.write(writer, b"ping\n")
        os.close(writer)  # the shim still holds a writer: cat sees no EOF yet
        assert await read_exactly(out_fd, 5) == b"ping\n"
        assert (await task.State(api.StateRequest(id="c3"), timeout=T)).status == types.RUNNING
        await task.CloseIO(api.CloseIORequest(id="c3", stdin=True), timeout=T)
        assert (await task.Wait(api.WaitRequest(id="c3"), timeout=T)).exit_status == 0
        assert await read_until_eof(out_fd) == b""
        with pytest.raises(errdefs.FailedPrecondition, match="cannot exec in a stopped state"):
            await task.Exec(api.ExecProcessRequest(id="c3", exec_id="e1", spec=exec_spec("true")), timeout=T)
        await task.Delete(api.DeleteRequest(id="c3"), timeout=T)
        with pytest.raises(errdefs.NotFound, match="container not created"):
            await task.Delete(api.DeleteRequest(id="c3"), timeout=T)
        await task.Shutdown(api.ShutdownRequest(id="c3"), timeout=T)
    assert reap(lab.shim_pid(bundle)) == 0  # after delivering every queued event
    assert_nothing_left(lab, bundle, address)
    calls = [line.split(" ", 1) for line in (lab.dir / "published").read_text().splitlines()]
    assert [args for _, args in calls] == [
        f"--address {lab.daemon_address} publish --topic {topic} --namespace {lab.namespace}"
        for topic in ("/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete")]
    exit_event = typeurl.unpack(any_pb2.Any.FromString(Path(calls[2][0]).read_bytes()))
    assert (exit_event.container_id, exit_event.id, exit_event.exit_status) == ("c3", "c3", 0)


async def test_terminal_and_file_log(shim_lab: ShimLab) -> None:
    """An exec'd process with a terminal (ResizePty reaches it); init's output to ``file://``."""
    lab = shim_lab
    sink, events_server = await EventSink.serve(lab.dir / "ev.sock")
    bundle = lab.bundle("c4", oci.with_process_args("sleep", "100"))
    address = lab.start(bundle, "c4", env=lab.env(TTRPC_ADDRESS=str(lab.dir / "ev.sock")))
    log = lab.dir / "logs" / "c4.log"
    async with await ttrpc.connect(address, timeout=T) as client:
        task = ttrpc.Stub(client, TASK)
        await task.Create(api.CreateTaskRequest(id="c4", bundle=str(bundle), rootfs=bind_rootfs(lab, "c4"),
                                                stdout=f"file://{log}"), timeout=T)
        await task.Start(api.StartRequest(id="c4"), timeout=T)
        tty_out = fifo(lab.dir / "tty-out")
        await task.Exec(api.ExecProcessRequest(
            id="c4", exec_id="t1", terminal=True, stdout=tty_out,
            spec=exec_spec("sh", "-c", "sleep 0.3; stty size; tty; echo to-log > /proc/1/fd/1")),
            timeout=T)
        tty_fd = reader(tty_out)
        await task.Start(api.StartRequest(id="c4", exec_id="t1"), timeout=T)
        await task.ResizePty(api.ResizePtyRequest(id="c4", exec_id="t1", width=100, height=30), timeout=T)
        assert (await task.Wait(api.WaitRequest(id="c4", exec_id="t1"), timeout=T)).exit_status == 0
        assert await read_until_eof(tty_fd) == b"30 100\r\n/dev/pts/0\r\n"
        await task.Delete(api.DeleteRequest(id="c4", exec_id="t1"), timeout=T)
        await task.Kill(api.KillRequest(id="c4", signal=signal.SIGKILL), timeout=T)
        await task.Wait(api.WaitRequest(id="c4"), timeout=T)
        await task.Delete(api.DeleteRequest(id="c4"), timeout=T)
        await task.Shutdown(api.ShutdownRequest(id="c4"), timeout=T)
    assert log.read_text() == "to-log\n"
    assert reap(lab.shim_pid(bundle)) == 0
    assert_nothing_left(lab, bundle, address)
    await events_server.close()
    assert sink.events("/tasks/create")[0].io.stdout == f"file://{log}"
    assert [e.exec_id for e in sink.events("/tasks/exec-started")] == ["t1"]
    assert "level=error" not in (bundle / "log").read_text()
