"""Real containers and their cgroups: metrics, limits, OOM, clean-up; and spec options at work."""
from __future__ import annotations

import asyncio
import os
import signal

import pytest
from conftest import Lab, make_rootfs, reaping, run

from pyctrd import errdefs
from pyctrd._api.cgroups.stats.v1 import metrics_pb2 as v1pb
from pyctrd.cgroups import Cgroup, metrics, oom_events, to_any
from pyctrd.core import oci
from pyctrd.runc import PipeIO, read_until_eof

pytestmark = pytest.mark.requires_root


async def _output(lab: Lab, *opts: oci.SpecOpt) -> tuple[int, bytes, bytes]:
    """Run a container to its end; its exit status, stdout and stderr."""
    cid = lab.id("out")
    bundle, _ = lab.bundle(cid, *opts)
    io = PipeIO()
    try:
        pid = await lab.runc.create(cid, str(bundle), pid_file=str(bundle / "init.pid"), io=io)
        await lab.runc.start(cid)
        assert io.stdout is not None and io.stderr is not None
        out, err = await asyncio.gather(read_until_eof(io.stdout), read_until_eof(io.stderr))
        status = await lab.runc.monitor.wait(pid)
        await lab.runc.delete(cid)
        return status, out, err
    finally:
        io.close()


def test_metrics_from_the_container_cgroup(lab: Lab) -> None:
    async def body() -> None:
        async with reaping(lab):
            cid = lab.id("metrics")
            bundle, spec = lab.bundle(cid, oci.with_process_args("sleep", "1000"))
            pid = await lab.runc.create(cid, str(bundle), pid_file=str(bundle / "init.pid"))
            await lab.runc.start(cid)
            cg = Cgroup.from_spec(spec)
            assert Cgroup.from_pid(pid).v1 == cg.v1  # /proc/<pid>/cgroup agrees with the spec
            assert cg.procs() == [pid]
            m = metrics(cg)
            assert isinstance(m, v1pb.Metrics)  # hybrid machine: containerd 1.6 reports v1
            assert m.memory.usage.usage > 0 and m.memory.usage.limit > 0
            assert m.pids.current >= 1 and m.pids.limit == 0
            assert m.cpu.usage.total > 0 and len(m.cpu.usage.per_cpu) == os.cpu_count()
            assert m.HasField("blkio") and m.HasField("memory_oom_control")
            packed = to_any(m)
            assert packed.type_url == "io.containerd.cgroups.v1.Metrics"
            assert v1pb.Metrics.FromString(packed.value).pids.current == m.pids.current
            # runc's own view of the same cgroup
            stats = await lab.runc.events_stats(cid)
            assert stats["pids"]["current"] >= 1  # runc init's threads may still be counted
            assert stats["memory"]["usage"]["limit"] == m.memory.usage.limit
            await lab.runc.delete(cid, force=True)
            with pytest.raises(errdefs.NotFound):
                metrics(cg)
    run(body())


def test_memory_limit_is_applied_and_updated(lab: Lab) -> None:
    async def body() -> None:
        async with reaping(lab):
            cid = lab.id("mem")
            bundle, spec = lab.bundle(cid, oci.with_process_args("sleep", "1000"),
                                      oci.with_memory_limit(32 << 20), oci.with_cpus(0.5))
            await lab.runc.create(cid, str(bundle), pid_file=str(bundle / "init.pid"))
            cg = Cgroup.from_spec(spec)

            def read(controller: str, name: str) -> int:
                with open(os.path.join(cg.v1[controller], name)) as f:
                    return int(f.read())
            assert read("memory", "memory.limit_in_bytes") == 32 << 20
            assert metrics(cg).memory.usage.limit == 32 << 20
            assert (read("cpu", "cpu.cfs_quota_us"), read("cpu", "cpu.cfs_period_us")) == (50000, 100000)
            await lab.runc.update(cid, {"memory": {"limit": 48 << 20}})
            assert read("memory", "memory.limit_in_bytes") == 48 << 20
            await lab.runc.delete(cid, force=True)
    run(body())


def test_oom_kill_is_noticed(lab: Lab) -> None:
    async def body() -> None:
        async with reaping(lab):
            cid = lab.id("oom")
            # dd's 64 MiB buffer cannot fit in 16 MiB (this machine has no swap)
            bundle, spec = lab.bundle(cid, oci.with_memory_limit(16 << 20), oci.with_process_args(
                "dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"))
            pid = await lab.runc.create(cid, str(bundle), pid_file=str(bundle / "init.pid"))
            events = oom_events(Cgroup.from_spec(spec))
            first = asyncio.ensure_future(anext(events))
            await asyncio.sleep(0)  # let the watcher register with the kernel before the start
            await lab.runc.start(cid)
            assert await lab.runc.monitor.wait(pid) == 128 + signal.SIGKILL
            event = await first
            assert event.cgroup == spec["linux"]["cgroupsPath"] and event.count >= 1
            assert metrics(Cgroup.from_spec(spec)).memory_oom_control.oom_kill >= 1
            await lab.runc.delete(cid)
            with pytest.raises(StopAsyncIteration):  # the cgroup's removal ends the stream
                await anext(events)
    run(body())


def test_readonly_rootfs_refuses_writes(lab: Lab) -> None:
    async def body() -> None:
        async with reaping(lab):
            status, _, err = await _output(lab, oci.with_readonly_rootfs,
                                           oci.with_process_args("touch", "/newfile"))
            assert status == 1 and b"Read-only file system" in err
            status, out, _ = await _output(lab, oci.with_process_args(
                "sh", "-c", "touch /newfile && echo written"))
            assert (status, out) == (0, b"written\n")
    run(body())


def test_delete_removes_state_and_cgroups(lab: Lab) -> None:
    async def body() -> None:
        async with reaping(lab):
            cid = lab.id("del")
            bundle, spec = lab.bundle(cid, oci.with_process_args("sleep", "1000"))
            await lab.runc.create(cid, str(bundle), pid_file=str(bundle / "init.pid"))
            cg = Cgroup.from_spec(spec)
            dirs = [*cg.v1.values(), *([cg.unified] if cg.unified else [])]
            assert cg.exists() and all(os.path.isdir(d) for d in dirs)
            assert os.path.isdir(os.path.join(lab.runc.root, cid))
            await lab.runc.delete(cid, force=True)
            assert not cg.exists() and not any(os.path.exists(d) for d in dirs)
            assert not os.path.exists(os.path.join(lab.runc.root, cid))
            with pytest.raises(errdefs.NotFound):
                await lab.runc.state(cid)
    run(body())


def test_spec_options_seen_from_inside(lab: Lab) -> None:
    async def body() -> None:
        async with reaping(lab):
            host_net = os.readlink("/proc/self/ns/net")
            net_cmd = oci.with_process_args("readlink", "/proc/self/ns/net")
            _, own, _ = await _output(lab, net_cmd)
            _, shared, _ = await _output(lab, net_cmd, oci.with_host_namespace("network"),
                                         oci.with_host_resolvconf, oci.with_host_hosts_file)
            assert own.decode().strip() != host_net and shared.decode().strip() == host_net
            _, out, _ = await _output(lab, oci.with_hostname("box"), oci.with_process_args("hostname"))
            assert out == b"box\n"
            limit = str(24 << 20).encode()
            _, out, err = await _output(lab, oci.with_cgroup_mount(), oci.with_memory_limit(24 << 20),
                                        oci.with_process_args("cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"))
            assert out.strip() == limit, err  # the container sees its own cgroup as the root
    run(body())


def test_user_resolved_from_the_rootfs(lab: Lab) -> None:
    async def body() -> None:
        async with reaping(lab):
            rootfs = make_rootfs(lab.dir / "users-rootfs")
            config = {"config": {"User": "nobody", "Cmd": ["id"], "Env": ["PATH=/bin"]}}
            status, out, _ = await _output(lab, oci.with_rootfs_path(str(rootfs)),
                                           oci.with_image_config(config))
            assert status == 0
            # primary group from /etc/passwd, supplementary "users" from /etc/group
            assert out == b"uid=65534(nobody) gid=65534(nogroup) groups=100(users),65534(nogroup)\n"
    run(body())
