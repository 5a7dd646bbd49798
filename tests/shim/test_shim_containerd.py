"""The REAL containerd (Debian's 1.6) running containers through our shim, driven by the real ``ctr``.

``--runtime io.containerd.pyrunc.v1`` makes containerd look for ``containerd-shim-pyrunc-v1``
on its PATH (the venv's bin is put first). containerd starts it with ``start``, talks ttrpc
to it, receives its events on its own ttrpc socket (``TTRPC_ADDRESS``) and, when the shim
is gone, runs its ``delete`` action. ``--rootfs`` gives a plain busybox directory, so no
image is needed.
"""
from __future__ import annotations

import os
import re
import secrets
import select
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyctrd.runc import set_subreaper
from tests.runc.conftest import make_rootfs
from tests.shim.private_containerd import CONTAINERD, PrivateContainerd

pytestmark = [
    pytest.mark.requires_root,
    pytest.mark.needs_ctr,
    pytest.mark.skipif(not os.path.exists(CONTAINERD), reason="needs Debian's containerd"),
]
RUNTIME = "io.containerd.pyrunc.v1"


def read_until(fd: int, marker: str, timeout: float = 20.0) -> str:
    """What arrives on ``fd`` until ``marker`` has (bounded by ``timeout``)."""
    data, deadline = b"", time.monotonic() + timeout
    while marker.encode() not in data:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        chunk = os.read(fd, 65536) if ready else b""
        if not chunk:
            raise AssertionError(f"{marker!r} not seen; got:\n{data.decode()}")
        data += chunk
    return data.decode()


def reap_children() -> None:
    """Collect shims that ended (we are their subreaper once ``start`` has exited)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


@pytest.fixture
def containerd(short_tmp: Path) -> Iterator[PrivateContainerd]:
    set_subreaper(True)
    daemon = PrivateContainerd(short_tmp)
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.cleanup()
        reap_children()
        set_subreaper(False)


def test_ctr_run_rm_and_a_detached_task_through_our_shim(containerd: PrivateContainerd) -> None:
    ns = f"pyrunc-t{secrets.token_hex(4)}"
    rootfs = make_rootfs(containerd.dir / "rootfs")
    events = subprocess.Popen(["ctr", "--address", containerd.address, "events"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        run = ["run", "--fifo-dir", str(containerd.dir / "fifo"), "--runtime", RUNTIME, "--rootfs"]
        done = containerd.ctr(*run, "--rm", str(rootfs), "t1", "/bin/echo", "hi", namespace=ns)
        assert done.stdout == "hi\n"

        containerd.ctr(*run, "-d", str(rootfs), "t2", "/bin/sleep", "100", namespace=ns)
        rows = containerd.ctr("tasks", "ls", namespace=ns).stdout.splitlines()
        assert rows[0].split() == ["TASK", "PID", "STATUS"]
        name, pid, status = rows[1].split()
        assert (name, status) == ("t2", "RUNNING")
        assert Path(f"/proc/{pid}/cmdline").read_bytes() == b"/bin/sleep\x00100\x00"
        ps = containerd.ctr("tasks", "ps", "t2", namespace=ns).stdout.splitlines()
        assert ps[0].split() == ["PID", "INFO"] and ps[1].split() == [pid, "-"]

        done = containerd.ctr("tasks", "exec", "--fifo-dir", str(containerd.dir / "fifo"),
                              "--exec-id", "e1", "t2", "/bin/echo", "hi", namespace=ns)
        assert done.stdout == "hi\n"
        containerd.ctr("tasks", "pause", "t2", namespace=ns)
        assert containerd.ctr("tasks", "ls", namespace=ns).stdout.split()[-1] == "PAUSED"
        containerd.ctr("tasks", "resume", "t2", namespace=ns)
        assert containerd.ctr("tasks", "ls", namespace=ns).stdout.split()[-1] == "RUNNING"
        metrics = containerd.ctr("tasks", "metrics", "t2", namespace=ns).stdout
        assert re.search(r"^pids\.current\s+1\s*$", metrics, re.MULTILINE), metrics
        assert re.search(r"^memory\.usage_in_bytes\s+[1-9]\d*\s*$", metrics, re.MULTILINE), metrics

        containerd.ctr("tasks", "kill", "-s", "SIGKILL", "t2", namespace=ns)
        deadline = time.monotonic() + 20
        while containerd.ctr("tasks", "ls", namespace=ns).stdout.split()[-1] != "STOPPED":
            assert time.monotonic() < deadline, "t2 did not stop"
            time.sleep(0.05)
        done = containerd.ctr("tasks", "rm", "t2", namespace=ns)
        assert "task t2 exit with non-zero exit code 137" in done.stderr
        containerd.ctr("containers", "rm", "t2", namespace=ns)
        assert containerd.ctr("tasks", "ls", namespace=ns).stdout.splitlines()[1:] == []
        assert events.stdout is not None
        out = read_until(events.stdout.fileno(), f'{ns} /containers/delete {{"id":"t2"}}')
    finally:
        events.send_signal(signal.SIGTERM)
        events.communicate(timeout=10)

    # the shims are gone and left nothing: no socket, no runc state, no bundle
    reap_children()
    assert os.listdir(containerd.dir / "s") == []
    assert os.listdir(containerd.dir / "runc" / ns) == []
    assert os.listdir(containerd.dir / "state/io.containerd.runtime.v2.task" / ns) == []
    errors = [line for line in containerd.log().splitlines()
              if "level=error" in line and 'msg="copy shim log"' not in line]
    assert errors == []

    # ctr events saw the task events our shim published, in containerd's order and shape
    topics = [(line.split()[5], line.split(" ", 6)[6]) for line in out.splitlines() if f" {ns} /tasks/" in line]
    t1 = [t for t, body in topics if '"container_id":"t1"' in body]
    assert t1 == ["/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete"]
    t2 = [t for t, body in topics if '"container_id":"t2"' in body]
    assert t2 == ["/tasks/create", "/tasks/start", "/tasks/exec-added", "/tasks/exec-started",
                  "/tasks/exit", "/tasks/paused", "/tasks/resumed", "/tasks/exit", "/tasks/delete"]
    bodies = dict(topics)
    assert re.fullmatch(r'\{"container_id":"t2","pid":\d+,"exit_status":137,"exited_at":"[^"]+"\}',
                        bodies["/tasks/delete"])
    exec_exit = next(body for t, body in topics if t == "/tasks/exit" and '"id":"e1"' in body)
    assert re.fullmatch(r'\{"container_id":"t2","id":"e1","pid":\d+,"exited_at":"[^"]+"\}', exec_exit)
