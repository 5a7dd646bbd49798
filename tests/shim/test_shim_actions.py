"""The shim binary's one-shot actions: ``start`` (the handshake) and ``delete`` (after a dead shim)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from pyctrd import errdefs, ttrpc
from pyctrd._api.containerd.runtime.v2.task import shim_pb2 as api
from pyctrd.core import oci
from pyctrd.shim.flags import parse
from pyctrd.shim.start import new_socket, socket_address
from tests.shim.conftest import SHIM, ShimLab, cgroup_dirs, reap
from tests.shim.test_shim_tasks import TASK, T, bind_rootfs, mounted


def test_flags_go_style_and_errors() -> None:
    f = parse(["-namespace=ns", "-id", "x", "--address", "/run/pyctrd/pyctrd.sock", "-debug=false", "delete"])
    assert (f.namespace, f.id, f.debug, f.action, f.state_dir) == ("ns", "x", False, "delete", "/run/pyctrd")
    assert repr(f) == "<Flags delete ns=ns id=x>"
    assert f.runc_root_base == "/run/pyctrd/runc"
    assert parse(["-namespace", "ns"]).action == ""  # no action: serve
    with pytest.raises(errdefs.InvalidArgument, match="flag needs an argument: -id"):
        parse(["-id"])


def test_socket_address_is_containerds_hash_under_the_daemons_state_dir() -> None:
    a = socket_address("/run/pyctrd/pyctrd.sock", "default", "c1", "/run/pyctrd")
    assert a.startswith("unix:///run/pyctrd/s/") and len(a.rsplit("/", 1)[1]) == 64
    assert a != socket_address("/run/pyctrd/pyctrd.sock", "other", "c1", "/run/pyctrd")


def test_new_socket_refuses_an_address_in_use(short_tmp: Path) -> None:
    address = f"unix://{short_tmp}/s/x"
    with new_socket(address) as sock:
        assert oct(os.stat(short_tmp / "s" / "x").st_mode & 0o777) == "0o600"
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
        with pytest.raises(errdefs.AlreadyExists):
            new_socket(address)


def test_cli_errors_exit_1_with_a_message(short_tmp: Path) -> None:
    done = subprocess.run([str(SHIM), "-id", "x", "start"], capture_output=True, text=True, check=False)
    assert (done.returncode, done.stderr) == (1, "containerd-shim-pyrunc-v1: shim namespace cannot be empty: invalid argument")
    done = subprocess.run([str(SHIM), "-v"], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stdout.startswith("containerd-shim-pyrunc-v1:\n  Version:")


@pytest.mark.requires_root
async def test_start_twice_shares_the_live_shim_and_restarts_a_dead_one(shim_lab: ShimLab) -> None:
    lab = shim_lab
    bundle = lab.bundle("s1", rootfs_in_bundle=True)
    started = time.perf_counter()
    address = lab.start(bundle, "s1")
    assert time.perf_counter() - started < 5
    pid = lab.shim_pid(bundle)
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert str(SHIM).encode() in cmdline and b"-id" in cmdline and b"start" not in cmdline
    assert os.getsid(pid) == pid  # a session of its own: containerd's signals do not reach it
    assert lab.start(bundle, "s1") == address  # alive: reused, no second shim
    assert lab.shim_pid(bundle) == pid

    os.kill(pid, signal.SIGKILL)
    assert reap(pid) == -signal.SIGKILL
    assert os.path.exists(address.removeprefix("unix://"))  # a dead shim's leftover socket
    assert lab.start(bundle, "s1") == address  # replaced by a new shim
    new_pid = lab.shim_pid(bundle)
    assert new_pid != pid
    async with await ttrpc.connect(address, timeout=T) as client:
        task = ttrpc.Stub(client, TASK)
        assert (await task.Connect(api.ConnectRequest(id="s1"), timeout=T)).shim_pid == new_pid
        await task.Shutdown(api.ShutdownRequest(id="s1"), timeout=T)
    assert reap(new_pid) == 0
    assert not os.path.exists(address.removeprefix("unix://"))


@pytest.mark.requires_root
async def test_delete_action_cleans_up_after_a_killed_shim(shim_lab: ShimLab) -> None:
    lab = shim_lab
    bundle = lab.bundle("d1", oci.with_process_args("sleep", "100"))
    address = lab.start(bundle, "d1")
    async with await ttrpc.connect(address, timeout=T) as client:
        task = ttrpc.Stub(client, TASK)
        created = await task.Create(api.CreateTaskRequest(id="d1", bundle=str(bundle),
                                                          rootfs=bind_rootfs(lab, "d1")), timeout=T)
        await task.Start(api.StartRequest(id="d1"), timeout=T)
    shim_pid = lab.shim_pid(bundle)
    os.kill(shim_pid, signal.SIGKILL)  # the shim dies; its container lives on
    assert reap(shim_pid) == -signal.SIGKILL
    assert os.path.exists(f"/proc/{created.pid}") and mounted(bundle / "rootfs")

    done = lab.run_shim(bundle, "d1", "delete")
    assert done.returncode == 0, done.stderr.decode()
    response = api.DeleteResponse.FromString(done.stdout)
    assert (response.pid, response.exit_status) == (created.pid, 137)
    assert abs(response.exited_at.seconds - time.time()) < 60
    assert not mounted(bundle / "rootfs")
    assert os.listdir(lab.runc_root) == [] and cgroup_dirs(lab.namespace) == []
    assert not os.path.exists(address.removeprefix("unix://"))
    # `runc delete --force` killed the container's process (an orphan now adopted by us)
    assert reap(created.pid) == -signal.SIGKILL
