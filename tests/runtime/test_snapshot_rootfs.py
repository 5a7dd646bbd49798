"""A container whose root filesystem is an overlayfs snapshot: the daemon finds its mounts.

The client sends no rootfs mounts; the container names ``overlayfs`` and a snapshot key, so
the tasks service asks the snapshotter for the mounts and the shim mounts them on the
bundle's ``rootfs``. The test prepares the snapshots through the snapshots service, in the
container's namespace (the daemon runs inside the test process, its own event loop in a thread).
"""
from __future__ import annotations

import asyncio
import contextlib
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Self

import pytest

from pyctrd.cgroups import Hierarchies
from pyctrd.client import Client, cio
from pyctrd.config import Config
from pyctrd.core import mount, oci
from pyctrd.daemon.server import Daemon
from pyctrd.runc import set_subreaper

from .conftest import RUNTIME, needs_go_shim, shim_pids, wait_exit

pytestmark = needs_go_shim


class InProcess:
    def __init__(self, base: Path) -> None:
        from pyctrd import builtins  # noqa: F401

        cfg = Config()
        cfg.root, cfg.state, cfg.grpc.address = str(base / "root"), str(base / "state"), str(base / "d.sock")
        self.daemon = Daemon(cfg)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.daemon.start(), self.loop).result(60)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.daemon.stop(0.2), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()
        set_subreaper(False)  # the daemon made this test process one


@pytest.fixture
def inprocess(short_tmp: Path) -> Iterator[InProcess]:
    with InProcess(short_tmp) as d:
        yield d


def test_task_rootfs_from_the_containers_snapshot(inprocess: InProcess, busybox_rootfs: Path) -> None:
    ns = "pyctrd-snap"
    client = Client(inprocess.daemon.address, ns)
    sn = client.snapshotter("overlayfs")
    # As containerd's clients do: a lease keeps these snapshots from garbage collection while
    # nothing else refers to them (before the container exists and after it is deleted).
    held = contextlib.ExitStack()
    held.enter_context(client.leases.lease())
    with mount.temp_mount(sn.prepare("base-extract"), base=str(inprocess.daemon.config.root)) as d:
        shutil.copytree(busybox_rootfs, d, symlinks=True, dirs_exist_ok=True)
    sn.commit("base", "base-extract")
    sn.prepare("c1", "base")

    try:
        spec = oci.generate_spec(ns, "c1", oci.with_default_unix_devices, oci.with_default_path_env,
                                 oci.with_process_args("sh", "-c", "echo layered > /written; cat /etc/group"))
        assert spec["root"]["path"] == "rootfs"  # the bundle's rootfs, where the shim mounts the snapshot
        client.containers.create("c1", spec=spec, runtime=RUNTIME, snapshotter="overlayfs", snapshot_key="c1")
        task = client.tasks.create("c1", io=cio.capture(fifo_dir=Path(inprocess.daemon.config.state) / "fifo"))
        rootfs = Path(inprocess.daemon.config.state) / "io.containerd.runtime.v2.task" / ns / "c1" / "rootfs"
        info = mount.lookup(rootfs)
        assert (info.mountpoint, info.fstype) == (str(rootfs), "overlay")
        task.start()
        assert task.wait(timeout=30).status == 0
        assert task.io.stdout.getvalue() == (busybox_rootfs / "etc/group").read_bytes()  # type: ignore[union-attr]
        task.delete()
        assert mount.lookup(rootfs.parent.parent).mountpoint != str(rootfs)  # unmounted, bundle gone
        assert not rootfs.parent.exists()
        client.containers.delete("c1")
        # what the container wrote stayed in its snapshot's upper directory, not in the base
        with mount.temp_mount(sn.view("check", "base"), base=str(inprocess.daemon.config.root)) as d:
            assert not (d / "written").exists()
        sn.remove("check")
        upper = [p for p in Path(inprocess.daemon.config.root, "io.containerd.snapshotter.v1.overlayfs",
                                 "snapshots").glob("*/fs/written")]
        assert [p.read_text() for p in upper] == ["layered\n"]
    finally:
        for pid in shim_pids(ns):
            wait_exit(pid)
        sn.remove("c1")
        sn.remove("base")
        held.close()
        client.close()
        shutil.rmtree(f"/run/containerd/runc/{ns}", ignore_errors=True)
        for mnt in Hierarchies.discover().mountpoints:
            with contextlib.suppress(OSError):
                Path(mnt, ns).rmdir()
