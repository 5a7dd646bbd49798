"""How containers end, and a logging binary: OOM events, init's exit without a PID namespace."""
from __future__ import annotations

import os
import signal

import pytest

from pyctrd import ttrpc
from pyctrd._api.containerd.runtime.v2.task import shim_pb2 as api
from pyctrd.core import oci
from tests.shim.conftest import EventSink, ShimLab, reap
from tests.shim.test_shim_tasks import TASK, T, assert_nothing_left, bind_rootfs, exec_spec

pytestmark = pytest.mark.requires_root


async def test_oom_kill_publishes_task_oom_before_the_exit(shim_lab: ShimLab) -> None:
    lab = shim_lab
    sink, events_server = await EventSink.serve(lab.dir / "ev.sock")
    # `tail` keeps a line in memory until a newline that /dev/zero never sends
    bundle = lab.bundle("m1", oci.with_process_args("sh", "-c", "head -c 256m /dev/zero | tail"),
                        oci.with_memory_limit(16 << 20))
    address = lab.start(bundle, "m1", env=lab.env(TTRPC_ADDRESS=str(lab.dir / "ev.sock")))
    async with await ttrpc.connect(address, timeout=T) as client:
        task = ttrpc.Stub(client, TASK)
        await task.Create(api.CreateTaskRequest(id="m1", bundle=str(bundle), rootfs=bind_rootfs(lab, "m1")),
                          timeout=T)
        await task.Start(api.StartRequest(id="m1"), timeout=T)
        await sink.wait_for("/tasks/oom")
        await task.Kill(api.KillRequest(id="m1", signal=signal.SIGKILL, all=True), timeout=T)
        assert (await task.Wait(api.WaitRequest(id="m1"), timeout=T)).exit_status == 137
        await task.Delete(api.DeleteRequest(id="m1"), timeout=T)
        await task.Shutdown(api.ShutdownRequest(id="m1"), timeout=T)
    assert reap(lab.shim_pid(bundle)) == 0
    await events_server.close()
    assert sink.events("/tasks/oom")[0].container_id == "m1"
    assert sink.topics.index("/tasks/oom") > sink.topics.index("/tasks/start")
    assert_nothing_left(lab, bundle, address)


async def test_init_exit_kills_exec_processes_without_a_pid_namespace(shim_lab: ShimLab) -> None:
    """Sharing the host's PID namespace, nothing kills exec'd processes when init ends: the
    shim does (``runc kill --all SIGKILL``), so that none outlives its container."""
    lab = shim_lab
    bundle = lab.bundle("h1", oci.with_process_args("sh", "-c", "echo from-init; exec sleep 100"),
                        oci.with_host_namespace("pid"))
    log = lab.dir / "h1.log"
    logger = lab.dir / "logger"  # a binary:// logger: reads fd 3 (stdout), says ready on fd 5
    logger.write_text(f"#!/bin/sh\nexec 5>&-\necho \"$CONTAINER_NAMESPACE/$CONTAINER_ID $1=$2\" > {log}\n"
                      f"cat <&3 >> {log}\n")
    logger.chmod(0o755)
    sink, events_server = await EventSink.serve(lab.dir / "ev.sock")
    address = lab.start(bundle, "h1", env=lab.env(TTRPC_ADDRESS=str(lab.dir / "ev.sock")))
    async with await ttrpc.connect(address, timeout=T) as client:
        task = ttrpc.Stub(client, TASK)
        await task.Create(api.CreateTaskRequest(id="h1", bundle=str(bundle), rootfs=bind_rootfs(lab, "h1"),
                                                stdout=f"binary://{logger}?tag=x"), timeout=T)
        await task.Start(api.StartRequest(id="h1"), timeout=T)
        await task.Exec(api.ExecProcessRequest(id="h1", exec_id="e1", spec=exec_spec("sleep", "100")),
                        timeout=T)
        e1 = (await task.Start(api.StartRequest(id="h1", exec_id="e1"), timeout=T)).pid
        await task.Kill(api.KillRequest(id="h1", signal=signal.SIGKILL), timeout=T)  # init only
        assert (await task.Wait(api.WaitRequest(id="h1"), timeout=T)).exit_status == 137
        assert (await task.Wait(api.WaitRequest(id="h1", exec_id="e1"), timeout=T)).exit_status == 137
        assert not os.path.exists(f"/proc/{e1}")
        await task.Delete(api.DeleteRequest(id="h1", exec_id="e1"), timeout=T)
        await task.Delete(api.DeleteRequest(id="h1"), timeout=T)  # stops the logger too
        await task.Shutdown(api.ShutdownRequest(id="h1"), timeout=T)
    assert reap(lab.shim_pid(bundle)) == 0
    assert log.read_text() == f"{lab.namespace}/h1 tag=x\nfrom-init\n"
    await events_server.close()
    assert sorted((e.id, e.exit_status) for e in sink.events("/tasks/exit")) == [("e1", 137), ("h1", 137)]
    assert_nothing_left(lab, bundle, address)
