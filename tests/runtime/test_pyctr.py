"""``pyctr run``, ``pyctr containers`` and ``pyctr tasks`` against pyctrd, with each shim."""
from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import shutil
import signal
import struct
import subprocess
import termios
import time

import pytest

from pyctrd.client import cio

from .conftest import BOTH_RUNTIMES, Env, needs_runc, one_runtime, pyctr_argv, wait_for

pytestmark = needs_runc


@pytest.fixture(params=BOTH_RUNTIMES)
def runtime(request: pytest.FixtureRequest) -> str:
    """Every test here runs on both shims: Debian's Go shim and ours (pyctrd's default)."""
    return request.param  # type: ignore[no-any-return]


def test_run_attached_output_stdin_and_exit_code(rt: Env) -> None:
    fifo = f"--fifo-dir={rt.fifo_dir}"
    r = rt.pyctr("run", fifo, "--rm", "--rootfs", str(rt.rootfs), "-", "r1", "sh", "-c",
                 "echo out; echo err >&2; exit 5", check=False, input="")
    assert (r.returncode, r.stdout, r.stderr) == (5, "out\n", "err\n")
    r = rt.pyctr("run", fifo, "--rm", "--rootfs", str(rt.rootfs), "-", "r2", "sh", "-c", "cat; echo done",
                 input="line 1\nline 2\n")
    assert r.stdout == "line 1\nline 2\ndone\n"
    assert rt.client.containers.list() == []  # --rm
    r = rt.pyctr("run", fifo, "--rootfs", str(rt.rootfs), "-", "kept", "true", input="")
    assert [c.id for c in rt.client.containers.list()] == ["kept"] and rt.client.tasks.list() == []
    rt.pyctr("containers", "rm", "kept")


@one_runtime  # no shim starts
def test_run_usage_errors(rt: Env) -> None:
    r = rt.pyctr("run", "--rootfs", str(rt.rootfs), "busybox", "x1", "true", check=False)
    assert r.returncode == 2 and "give - for IMAGE" in r.stderr
    r = rt.pyctr("run", "-", "x1", "true", check=False)
    assert r.returncode == 2 and "needs --rootfs" in r.stderr
    r = rt.pyctr("run", "docker.io/library/busybox", "x1", "true", check=False)
    assert r.returncode == 1 and 'image "docker.io/library/busybox": not found' in r.stderr
    assert rt.client.containers.list() == []


def test_detached_and_the_tasks_commands(rt: Env) -> None:
    rt.pyctr("run", "-d", "--label", "team=red", "--memory-limit", str(32 << 20), "--rootfs", str(rt.rootfs), "-",
             "d1", "sleep", "1000")
    pid = rt.client.tasks.get("d1").pid
    assert [line.split() for line in rt.pyctr("containers", "ls").stdout.splitlines()] == [
        ["CONTAINER", "IMAGE", "RUNTIME"], ["d1", "-", rt.runtime]]
    if shutil.which("ctr"):
        assert rt.pyctr("tasks", "ls").stdout == rt.ctr("tasks", "ls").stdout  # byte for byte
    assert [line.split() for line in rt.pyctr("tasks", "ls").stdout.splitlines()] == [
        ["TASK", "PID", "STATUS"], ["d1", str(pid), "RUNNING"]]
    r = rt.pyctr("tasks", "exec", f"--fifo-dir={rt.fifo_dir}", "--exec-id", "e1", "d1", "sh", "-c", "echo hi; exit 4",
                 check=False, input="")
    assert (r.returncode, r.stdout) == (4, "hi\n")
    rt.pyctr("tasks", "exec", "-d", "--exec-id", "e2", "d1", "sleep", "100")
    ps = rt.pyctr("tasks", "ps", "d1").stdout.splitlines()
    assert ps[0].split() == ["PID", "INFO"] and ps[1].split() == [str(pid), "-"]
    if rt.go_shim:
        assert ps[2].endswith("&ProcessDetails{ExecID:e2,XXX_unrecognized:[],}")
    metrics = rt.pyctr("tasks", "metrics", "d1").stdout.splitlines()
    assert metrics[3].split() == ["METRIC", "VALUE"] and metrics[5].split() == ["memory.limit_in_bytes", str(32 << 20)]
    assert json.loads(rt.pyctr("tasks", "metrics", "--format", "json", "d1").stdout)["pids"]["current"] == 2
    rt.pyctr("tasks", "pause", "d1")
    assert rt.client.tasks.get("d1").status().status == "paused"
    rt.pyctr("tasks", "resume", "d1")
    r = rt.pyctr("tasks", "rm", "d1", check=False)
    assert r.returncode == 1 and "must be stopped" in r.stderr
    r = rt.pyctr("containers", "rm", "d1", check=False)
    assert r.returncode == 1 and "has a task" in r.stderr
    rt.pyctr("tasks", "kill", "--exec-id", "e2", "-s", "KILL", "d1")
    rt.pyctr("tasks", "rm", "--exec-id", "e2", "d1")
    rt.pyctr("tasks", "kill", "-s", "SIGKILL", "--all", "d1")
    rt.client.tasks.get("d1").wait(timeout=10)
    assert rt.pyctr("tasks", "ls").stdout.split()[-1] == "STOPPED"
    assert "non-zero exit code 137" in rt.pyctr("tasks", "rm", "d1").stderr
    info = json.loads(rt.pyctr("containers", "info", "d1").stdout)
    assert list(info) == ["ID", "Labels", "Image", "Runtime", "SnapshotKey", "Snapshotter", "CreatedAt", "UpdatedAt",
                          "Extensions", "Spec"]
    assert info["Labels"] == {"team": "red"} and info["Spec"]["linux"]["resources"]["memory"]["limit"] == 32 << 20
    assert rt.pyctr("containers", "label", "d1", "team=", "a=b").stdout == "a=b\n"
    assert rt.pyctr("containers", "ls", "-q", "labels.a==b").stdout == "d1\n"
    rt.pyctr("containers", "rm", "d1")


def test_ctrl_c_is_forwarded(rt: Env) -> None:
    script = 'trap "echo got INT; exit 7" INT; echo ready; while true; do sleep 0.1; done'
    p = subprocess.Popen([*pyctr_argv(rt), "run", f"--fifo-dir={rt.fifo_dir}", "--rm", "--rootfs", str(rt.rootfs),
                          "-", "s1", "sh", "-c", script], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=dict(os.environ, PYCTRD_RUNTIME=rt.runtime))
    try:
        assert p.stdout is not None and p.stdout.readline() == b"ready\n"
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert (p.returncode, out) == (7, b"got INT\n")


def _read_until(fd: int, marker: bytes, timeout: float = 15) -> bytes:
    data, deadline = b"", time.monotonic() + timeout
    while marker not in data and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.2)[0]:
            try:
                data += os.read(fd, 4096)
            except OSError:
                break
    return data


def test_run_with_a_terminal(rt: Env) -> None:
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.environ["PYCTRD_RUNTIME"] = rt.runtime
        argv = [*pyctr_argv(rt), "run", "-t", f"--fifo-dir={rt.fifo_dir}", "--rm", "--rootfs", str(rt.rootfs), "-",
                "tty1", "sh"]
        os.execv(argv[0], argv)
    try:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        _read_until(fd, b"# ")
        os.write(fd, b"tty; stty size\n")
        assert b"/dev/pts/0\r\n30 100\r\n" in _read_until(fd, b"30 100")
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        os.kill(pid, signal.SIGWINCH)  # pyctr passes the new size on (ResizePty) when it wakes

        def resized() -> bool:
            os.write(fd, b"stty size\n")
            return b"40 120" in _read_until(fd, b"40 120", timeout=0.5)
        wait_for(resized, 10, "the new terminal size in the container")
        os.write(fd, b"exit 4\n")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 4


def test_attach_to_a_task_s_fifos(rt: Env) -> None:
    rt.container("a1", "sh", "-c", "read line; echo got $line; exit 3")
    fifos = cio.new_fifo_set(rt.fifo_dir, "a1")
    # hold the read ends while the shim opens its write ends (as a detached `ctr run -d` does), then let go
    held = [os.open(p, os.O_RDONLY | os.O_NONBLOCK) for p in (fifos.stdout, fifos.stderr)]
    task = rt.client.tasks.create("a1", io=cio.IO(fifos.config, fifos))
    for fd in held:
        os.close(fd)
    task.start()
    r = rt.pyctr("tasks", "attach", "a1", input="hello\n", check=False)
    assert (r.returncode, r.stdout) == (3, "got hello\n")
    task.delete()
    assert not os.path.exists(fifos.dir)
    rt.client.containers.delete("a1")
    r = rt.pyctr("run", "-d", "--rootfs", str(rt.rootfs), "-", "a2", "sleep", "100")
    r = rt.pyctr("tasks", "attach", "a2", check=False)
    assert r.returncode == 1 and "no stdio FIFOs" in r.stderr
    rt.client.tasks.get("a2").delete(force=True)
    rt.client.containers.delete("a2")
