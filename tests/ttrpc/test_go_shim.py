"""Interoperability: our ttrpc client drives Debian's real Go shim (containerd-shim-runc-v2).

The shim is started the way containerd 1.6 starts it (``start`` in the bundle directory), in a
namespace of our own. It always puts its socket under /run/containerd/s/; we remove only that
one file (if the shim did not), our namespace's runc state directory, and the two directories
if the shim created them for us and they are empty.

Not covered here: the shim calling *our* server (``TTRPC_ADDRESS`` →
``containerd.services.events.ttrpc.v1.Events/Forward``). The shim only publishes events about
tasks (create, start, exit, ...), which needs a runnable container bundle; that belongs to
the runtime work.
"""
from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from google.protobuf import empty_pb2

from pyctrd import errdefs, ttrpc
from pyctrd._api.containerd.runtime.v2.task import shim_pb2

SHIM = "/usr/bin/containerd-shim-runc-v2"
TASK = shim_pb2.DESCRIPTOR.services_by_name["Task"]

pytestmark = [
    pytest.mark.requires_root,
    pytest.mark.skipif(not os.path.exists(SHIM), reason=f"needs {SHIM} (apt-get install containerd)"),
]


@dataclass
class GoShim:
    address: str
    namespace: str
    id: str
    pid: int | None = None  # learnt from Connect

    @property
    def socket(self) -> str:
        return self.address.removeprefix("unix://")


def process_gone(pid: int) -> bool:
    """Exited: no /proc entry, or a zombie waiting for PID 1 to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


async def wait_exit(pid: int, timeout: float) -> None:
    """Wait for a process that is not our child to exit (a pidfd turns readable on exit)."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    loop = asyncio.get_running_loop()
    exited = loop.create_future()
    loop.add_reader(pidfd, lambda: exited.done() or exited.set_result(None))
    try:
        await asyncio.wait_for(exited, timeout)
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)


@pytest.fixture
def go_shim(short_tmp: Path) -> Iterator[GoShim]:
    bundle = short_tmp / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text('{"ociVersion": "1.0.2"}')  # start reads annotations
    os.mkfifo(bundle / "log")
    # Hold the FIFO open for reading, so the shim's log writes never block (containerd reads it).
    log_reader = os.open(bundle / "log", os.O_RDWR | os.O_NONBLOCK)
    shim = GoShim("", f"pyctrd-ttrpc-{secrets.token_hex(4)}", f"ttrpc-{secrets.token_hex(4)}")
    created = [d for d in ("/run/containerd/s", "/run/containerd") if not os.path.exists(d)]
    try:
        started = subprocess.run(
            [SHIM, "-namespace", shim.namespace, "-address", str(short_tmp / "daemon.sock"),
             "-publish-binary", "/bin/true", "-id", shim.id, "start"],
            cwd=bundle, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20, check=False)
        assert started.returncode == 0, started.stderr
        shim.address = started.stdout.strip()
        assert shim.address.startswith("unix:///run/containerd/s/"), started.stdout
        yield shim
    finally:
        if shim.pid is not None and not process_gone(shim.pid):
            os.kill(shim.pid, signal.SIGKILL)
        if shim.address and os.path.exists(shim.socket):
            os.unlink(shim.socket)
        shutil.rmtree(f"/run/containerd/runc/{shim.namespace}", ignore_errors=True)
        for directory in created:  # the shim made them for us: remove them if still empty
            try:
                os.rmdir(directory)
            except OSError:
                pass
        os.close(log_reader)


async def test_connect_and_shutdown_the_go_shim(go_shim: GoShim) -> None:
    async with await ttrpc.connect(go_shim.address, timeout=10) as client:
        task = ttrpc.Stub(client, TASK)
        reply = await task.Connect(shim_pb2.ConnectRequest(id=go_shim.id), timeout=10)
        go_shim.pid = reply.shim_pid
        assert reply.shim_pid > 1 and not process_gone(reply.shim_pid)
        assert Path(f"/proc/{reply.shim_pid}/cmdline").read_bytes().split(b"\0")[0] == SHIM.encode()

        # Errors come back as our kinds: Go's errdefs and ours map codes the same way.
        with pytest.raises(errdefs.NotFound, match="container not created"):
            await task.State(shim_pb2.StateRequest(id=go_shim.id), timeout=10)
        with pytest.raises(errdefs.NotImplemented, match="method Frobnicate"):
            await client.call(TASK.full_name, "Frobnicate", empty_pb2.Empty(), empty_pb2.Empty)

        # Several calls in flight at once on the one connection, answered by stream id.
        answers = await asyncio.gather(*(task.Connect(timeout=10) for _ in range(8)))
        assert {a.shim_pid for a in answers} == {reply.shim_pid}

        await task.Shutdown(shim_pb2.ShutdownRequest(id=go_shim.id), timeout=10)
    await wait_exit(reply.shim_pid, timeout=10)
    assert process_gone(reply.shim_pid)
    assert not os.path.exists(go_shim.socket)  # the shim removed its own socket
