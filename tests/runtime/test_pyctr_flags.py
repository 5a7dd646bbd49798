"""``pyctr`` flags end to end through the console script against a real daemon, beside the real
``ctr`` where it has the same flag: ``run --env/--mount/--net-host/--cpus``, ``run --snapshotter
native`` from an image, ``containers create`` + ``tasks start``, and ``tasks exec -t``."""
from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pyctrd.cgroups import Hierarchies
from tests.fixtures.registry import Registry

from .conftest import Env, needs_go_shim

pytestmark = needs_go_shim
needs_ctr = pytest.mark.skipif(shutil.which("ctr") is None, reason="needs Debian's ctr")
PYCTR = str(Path(sys.executable).parent / "pyctr")  # the console script


def pyctr(rt: Env, *args: str, check: bool = True, input: str | None = "") -> tuple[int, str, str]:
    """Run the console script against ``rt``'s daemon: (exit code, stdout, stderr)."""
    r = subprocess.run([PYCTR, "--address", rt.daemon.address, "--namespace", rt.namespace, *args],
                       capture_output=True, text=True, input=input, timeout=60, check=False,
                       env=dict(os.environ, PYCTRD_RUNTIME=rt.runtime))
    if check and r.returncode != 0:
        raise AssertionError(f"pyctr {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r.returncode, r.stdout, r.stderr


@pytest.fixture(autouse=True)
def _console_script() -> None:
    if not os.path.exists(PYCTR):
        pytest.skip(f"no console script at {PYCTR}")


SCRIPT = ('echo "FOO=$FOO"; cat /data/file; touch /data/new 2>/dev/null && echo writable || echo read-only; '
          'readlink /proc/self/ns/net\n')


@pytest.fixture
def shared(short_tmp: Path) -> Path:
    """A host directory for bind mounts; its scripts spare ctr a ``-c`` (urfave/cli would take
    it, even after the container's ID, for ctr's own ``--config``)."""
    d = short_tmp / "shared"
    d.mkdir()
    (d / "file").write_text("from the host\n")
    (d / "flags.sh").write_text(SCRIPT)
    (d / "start.sh").write_text("echo started; echo oops >&2; exit 3\n")
    (d / "tty.sh").write_text("test -t 0 && test -t 1 && echo on a tty; tty; exit 6\n")
    return d


@needs_ctr
def test_run_env_readonly_bind_mount_and_host_network_as_ctr(rt: Env, shared: Path) -> None:
    flags = ["--env", "FOO=bar baz", "--mount", f"type=bind,src={shared},dst=/data,options=rbind:ro", "--net-host"]
    code, out, err = pyctr(rt, "run", "--rm", f"--fifo-dir={rt.fifo_dir}", *flags, "--rootfs", str(rt.rootfs), "-",
                           "p1", "/bin/sh", "/data/flags.sh")
    host_net = os.readlink("/proc/self/ns/net")
    assert (code, out) == (0, f"FOO=bar baz\nfrom the host\nread-only\n{host_net}\n"), err
    assert not (shared / "new").exists()
    ctr = rt.ctr("run", "--runtime", rt.runtime, "--rm", *flags, "--rootfs", str(rt.rootfs), "c1", "/bin/sh", "/data/flags.sh")
    assert ctr.stdout == out  # the same flags mean the same container
    # without --net-host: a network namespace of its own, and the bind mount is writable without ro
    code, out, _ = pyctr(rt, "run", "--rm", f"--fifo-dir={rt.fifo_dir}", "--mount",
                         f"type=bind,src={shared},dst=/data,options=rbind:rw", "--rootfs", str(rt.rootfs), "-", "p2",
                         "/bin/sh", "/data/flags.sh")
    assert code == 0 and out.splitlines()[1:3] == ["from the host", "writable"]
    assert out.splitlines()[3] != host_net and (shared / "new").exists()


def _cpu_quota(rt: Env, id: str) -> tuple[int, int]:
    """(quota, period) in microseconds, read on the host from the task's cgroup."""
    path = rt.client.containers.spec(id)["linux"]["cgroupsPath"].lstrip("/")
    h = Hierarchies.discover()
    if "cpu" in h.v1:
        d = Path(h.v1["cpu"]) / path
        return int((d / "cpu.cfs_quota_us").read_text()), int((d / "cpu.cfs_period_us").read_text())
    assert h.unified is not None
    quota, period = (Path(h.unified) / path / "cpu.max").read_text().split()
    return (-1 if quota == "max" else int(quota)), int(period)


@needs_ctr
def test_run_cpus_sets_the_cgroup_quota_as_ctr(rt: Env) -> None:
    pyctr(rt, "run", "-d", "--cpus", "0.5", "--rootfs", str(rt.rootfs), "-", "p1", "sleep", "1000")
    assert _cpu_quota(rt, "p1") == (50000, 100000)
    rt.ctr("run", "--runtime", rt.runtime, "-d", "--cpus", "0.5", "--rootfs", str(rt.rootfs), "c1", "/bin/sleep", "1000")
    assert _cpu_quota(rt, "c1") == _cpu_quota(rt, "p1")
    pyctr(rt, "run", "-d", "--rootfs", str(rt.rootfs), "-", "p2", "sleep", "1000")
    assert _cpu_quota(rt, "p2")[0] == -1  # no --cpus, no quota
    for id in ("p1", "c1", "p2"):
        rt.client.tasks.get(id).delete(force=True)
        rt.client.containers.delete(id)


def test_run_with_the_native_snapshotter_from_an_image(rt: Env, pushed: Registry) -> None:
    ref = f"{pushed.host}/busybox:latest"
    rt.client.pull(ref, plain_http=True)  # unpacked for overlayfs only
    code, out, err = pyctr(rt, "run", f"--fifo-dir={rt.fifo_dir}", "--snapshotter", "native", ref, "n1",
                           "sh", "-c", "echo on native > /marker; cat /marker")
    assert (code, out) == (0, "on native\n"), err
    [c] = rt.client.containers.list()
    assert (c.snapshotter, c.snapshot_key) == ("native", "n1")
    native = rt.client.snapshotter("native")
    info = native.stat("n1")
    assert str(info.kind) == "Active" and info.parent.startswith("sha256:")  # the image, unpacked for native
    [mount] = native.mounts("n1")
    assert mount.type == "bind" and (Path(mount.source) / "marker").read_text() == "on native\n"
    pyctr(rt, "containers", "rm", "n1")
    assert rt.client.containers.list() == [] and "n1" not in [i.name for i in native.walk()]


@needs_ctr
def test_containers_create_then_tasks_start_as_ctr(rt: Env, shared: Path) -> None:
    flags = ["--env", "X=1", "--mount", f"type=bind,src={shared},dst=/data,options=rbind:ro"]
    pyctr(rt, "containers", "create", *flags, "--rootfs", str(rt.rootfs), "-", "p1", "/bin/sh", "/data/start.sh")
    assert rt.client.tasks.list() == [] and [c.id for c in rt.client.containers.list()] == ["p1"]
    code, out, err = pyctr(rt, "tasks", "start", f"--fifo-dir={rt.fifo_dir}", "p1", check=False)
    assert (code, out, err) == (3, "started\n", "oops\n")
    assert rt.client.tasks.list() == []  # deleted after it exited, as ctr's
    rt.ctr("containers", "create", "--runtime", rt.runtime, *flags, "--rootfs", str(rt.rootfs), "c1", "/bin/sh",
           "/data/start.sh")
    r = rt.ctr("tasks", "start", "c1", check=False)
    assert (r.returncode, r.stdout, r.stderr) == (code, out, err)
    code, _, _ = pyctr(rt, "tasks", "start", f"--fifo-dir={rt.fifo_dir}", "p1", check=False)
    assert code == 3  # the container can start again
    # --env as ctr's; pyctr also gives a --rootfs container the default PATH (ctr gives none: its
    # commands need absolute paths), so `pyctr run --rootfs DIR - id sh` finds sh
    assert rt.client.containers.spec("c1")["process"]["env"] == ["X=1"]
    assert rt.client.containers.spec("p1")["process"]["env"] == [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "X=1"]
    pyctr(rt, "containers", "rm", "p1")
    rt.ctr("containers", "rm", "c1")


def _on_a_terminal(argv: list[str], timeout: float = 30) -> tuple[int, bytes]:
    """Run ``argv`` with a pseudo-terminal as its stdio: (exit code, what it wrote)."""
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.execv(argv[0], argv)
    data, deadline = b"", time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([fd], [], [], 0.2)[0]:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:  # EIO: the child closed its side
                    break
                if not chunk:
                    break
                data += chunk
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), data


@needs_ctr
def test_tasks_exec_with_a_terminal_as_ctr(rt: Env, shared: Path) -> None:
    pyctr(rt, "run", "-d", "--mount", f"type=bind,src={shared},dst=/data,options=rbind:ro", "--rootfs", str(rt.rootfs),
          "-", "d1", "sleep", "1000")
    argv = [PYCTR, "--address", rt.daemon.address, "--namespace", rt.namespace, "tasks", "exec", "-t",
            f"--fifo-dir={rt.fifo_dir}", "--exec-id", "t1", "d1", "/bin/sh", "/data/tty.sh"]
    code, out = _on_a_terminal(argv)
    lines = out.decode().splitlines()
    assert code == 6 and lines[0] == "on a tty" and lines[1].startswith("/dev/pts/"), out
    ctr = shutil.which("ctr")
    assert ctr is not None
    code_ctr, out_ctr = _on_a_terminal([ctr, "--address", rt.daemon.address, "--namespace", rt.namespace, "tasks",
                                        "exec", "-t", "--exec-id", "t2", "d1", "/bin/sh", "/data/tty.sh"])
    assert code_ctr == code and out_ctr.decode().splitlines()[0] == "on a tty"
    assert [p.pid for p in rt.client.tasks.get("d1").pids()] == [rt.client.tasks.get("d1").pid]  # execs gone
    rt.client.tasks.get("d1").delete(force=True)
    rt.client.containers.delete("d1")
