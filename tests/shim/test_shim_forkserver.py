"""The fork server: shims forked from a warm copy look and behave like exec'd ones.

Each test's "daemon" is whatever ran ``start`` (this process, or a short-lived parent made
for the purpose); the fork server lives while that process does and while its socket exists.
"""
from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

from pyctrd import ttrpc
from pyctrd._api.containerd.runtime.v2.task import shim_pb2 as api
from pyctrd.bench.probes import peer_pid
from pyctrd.shim.forkclient import socket_path
from pyctrd.shim.forkserver import set_cmdline
from tests.shim.conftest import SHIM, ShimLab, reap

TASK = api.DESCRIPTOR.services_by_name["Task"]
#: an exec'd console script shows its interpreter first (the kernel runs the #! line)
SHOWN = [SHIM.read_text().splitlines()[0].removeprefix("#!").strip(), str(SHIM)]


def _gone(pid: int, timeout: float = 10.0) -> bool:
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])


def test_set_cmdline_renames_what_ps_shows() -> None:
    code = ("import sys; from pyctrd.shim.forkserver import set_cmdline; "
            "print(set_cmdline(['shim', '-namespace', 'n1'])); print(open('/proc/self/cmdline').read())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out == "True\nshim\0-namespace\0n1\0\n"
    code = ("from pyctrd.shim.forkserver import set_cmdline; set_cmdline(['x'], {'A': '1', 'B': 'two'}); "
            "print(repr(open('/proc/self/environ').read()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out == repr("A=1\0B=two\0") + "\n"
    assert callable(set_cmdline)


async def _serves(address: str, cid: str, pid: int) -> None:
    """The shim answers Connect (so it is past its start-up), then it is killed and reaped."""
    async with await ttrpc.connect(address, timeout=10) as client:
        assert (await ttrpc.Stub(client, TASK).Connect(api.ConnectRequest(id=cid), timeout=10)).shim_pid == pid
    os.kill(pid, 9)
    assert reap(pid) == -9


async def test_shims_are_forked_by_one_fork_server_and_look_exec_d(shim_lab: ShimLab) -> None:
    lab = shim_lab
    server = socket_path(str(lab.dir), lab.daemon_address)
    pids, addresses = [], []
    for cid in ("f1", "f2"):
        bundle = lab.bundle(cid, rootfs_in_bundle=True)
        addresses.append(lab.start(bundle, cid, env=lab.env(TTRPC_ADDRESS=f"{lab.dir}/t.sock/{cid}")))
        pid = lab.shim_pid(bundle)
        pids.append(pid)
        assert _cmdline(pid) == [*SHOWN, "-namespace", lab.namespace, "-id", cid, "-address", lab.daemon_address,
                                 "-publish-binary", "/bin/false"]
        assert _ppid(pid) == os.getpid()  # re-parented to the subreaper that ran start, as an exec'd shim
        assert os.readlink(f"/proc/{pid}/cwd") == str(bundle)
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        assert f"TTRPC_ADDRESS={lab.dir}/t.sock/{cid}".encode() in environ  # this start's, not the first's
        assert os.getsid(pid) == pid  # a session of its own
        assert sorted(os.listdir(f"/proc/{pid}/fd"), key=int)[:4] == ["0", "1", "2", "3"]
    fork_server = peer_pid(server)
    assert fork_server and fork_server not in pids
    assert _cmdline(fork_server)[-2:] == ["forkserver", str(os.getpid())]
    assert oct(os.stat(os.path.dirname(server)).st_mode & 0o777) == "0o700"
    for address, cid, pid in zip(addresses, ("f1", "f2"), pids, strict=True):
        await _serves(address, cid, pid)
    shutil.rmtree(os.path.dirname(server))  # its socket gone: the fork server goes too
    assert _gone(fork_server)


async def test_turned_off_every_shim_is_exec_d(shim_lab: ShimLab) -> None:
    lab = shim_lab
    bundle = lab.bundle("x1", rootfs_in_bundle=True)
    address = lab.start(bundle, "x1", env=lab.env(PYRUNC_FORKSERVER="0"))
    pid = lab.shim_pid(bundle)
    assert not os.path.exists(socket_path(str(lab.dir), lab.daemon_address))
    assert _cmdline(pid)[:4] == [*SHOWN, "-namespace", lab.namespace]
    await _serves(address, "x1", pid)


def _start_from_a_parent(lab: ShimLab, bundle: Path, cid: str) -> tuple[str, int]:
    """Run ``start`` from a parent process that then exits (the fork server's "daemon");
    the address, and the fork server's pid (found while the parent lives)."""
    server = socket_path(str(lab.dir), lab.daemon_address)
    argv = [str(SHIM), "-namespace", lab.namespace, "-address", lab.daemon_address, "-publish-binary", "/bin/false",
            "-id", cid, "start"]
    code = f"import subprocess, sys; sys.exit(subprocess.run({argv!r}, cwd={str(bundle)!r}).returncode)"
    parent = subprocess.Popen([sys.executable, "-c", code], env=lab.env(), stdout=subprocess.PIPE)
    fork_server = 0
    deadline = time.monotonic() + 20
    while not fork_server and time.monotonic() < deadline:
        fork_server = peer_pid(server)
        time.sleep(0.01)
    address = parent.communicate(timeout=30)[0].decode()
    assert parent.returncode == 0
    return address, fork_server


async def test_a_stale_socket_is_replaced_and_the_server_ends_with_its_daemon(shim_lab: ShimLab) -> None:
    lab = shim_lab
    server = socket_path(str(lab.dir), lab.daemon_address)
    os.makedirs(os.path.dirname(server), mode=0o700)
    Path(server).write_text("")  # a dead fork server's leftover: nothing listens there
    bundle = lab.bundle("g1", rootfs_in_bundle=True)
    address, fork_server = _start_from_a_parent(lab, bundle, "g1")
    assert fork_server, "no fork server answered on the stale socket's path"
    assert _gone(fork_server)  # its daemon (the parent) has exited
    await _serves(address, "g1", lab.shim_pid(bundle))
