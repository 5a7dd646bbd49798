"""Runtime faults, through both shims: a shim killed with -9, runc missing, runc failing.

- A killed shim: the task is reported exited (``/tasks/exit``), a client blocked in Wait gets
  its answer, the task disappears, and its bundle, mounts and socket go - with the daemon up,
  and with the daemon down at the time (cleaned up on restart).
- No runc in the daemon's PATH, or a fake ``runc`` placed first in PATH that fails (the lowest
  seam: the real runc sits right beside it in the other tests): Tasks.Create or Start fails
  with a message naming runc, nothing is left, and the daemon keeps serving.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyctrd import errdefs
from pyctrd.core.runtime import Exit
from pyctrd.plugins.runtime.v2.binary import resolve_runtime
from tests.fixtures.daemon import start_daemon
from tests.reliability.figures import record
from tests.runtime.conftest import Env, EventLog, needs_go_shim, shim_pids, wait_exit, wait_for

pytestmark = needs_go_shim
RUNTIMES = ["io.containerd.runc.v2", "io.containerd.pyrunc.v1"]


def _need(runtime: str) -> None:
    try:
        resolve_runtime(runtime)
    except errdefs.NotFound:
        pytest.skip(f"{runtime}'s shim is not installed")


def _gone(rt: Env, id: str) -> None:
    with pytest.raises(errdefs.NotFound):
        rt.client.tasks.get(id)
    wait_for(lambda: not (rt.state / id).exists() and not (rt.work / id).exists(), 10, "the bundle to go")
    mounts = [m for m in Path("/proc/self/mountinfo").read_text().splitlines() if f"/{id}/rootfs" in m]
    assert not mounts, mounts


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_killed_shim_is_reported_exited_and_cleaned_up(rt: Env, runtime: str) -> None:
    _need(runtime)
    log = EventLog(rt.daemon.address, 'topic~="/tasks/"')
    try:
        rt.client.containers.create("k1", spec=rt.spec("k1", "sleep", "1000"), runtime=runtime)
        task = rt.client.tasks.create("k1", io=rt.capture())
        task.start()
        p = task.exec("e1", {**rt.spec("k1")["process"], "args": ["sleep", "1000"]}, io=rt.capture())
        p.start()
        waited: list[Exit | BaseException] = []

        def wait() -> None:
            try:
                waited.append(task.wait(timeout=60))
            except BaseException as exc:
                waited.append(exc)

        waiter = threading.Thread(target=wait)
        waiter.start()
        [shim] = shim_pids(rt.namespace)
        os.kill(shim, signal.SIGKILL)
        [exit] = log.wait("/tasks/exit", timeout=20)
        assert exit.event.container_id == "k1" and exit.event.exit_status in (137, 255)  # type: ignore[union-attr]
        log.wait("/tasks/delete", timeout=20)
        waiter.join(30)
        assert not waiter.is_alive() and waited, "Wait never answered after the shim died"
        _gone(rt, "k1")
        assert rt.client.version().version
        for io in (task.io, p.io):
            if io is not None:
                io.close()
    finally:
        log.close()
    rt.client.containers.delete("k1")
    record("faults", f"kill -9 a shim/{runtime}", 1, "shims killed")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_shim_killed_while_the_daemon_is_down(rt: Env, runtime: str) -> None:
    _need(runtime)
    rt.client.containers.create("k2", spec=rt.spec("k2", "sleep", "1000"), runtime=runtime)
    rt.client.tasks.create("k2").start()
    [shim] = shim_pids(rt.namespace)
    rt.daemon.stop(signal.SIGKILL)
    os.kill(shim, signal.SIGKILL)
    wait_exit(shim)
    rt.restart_daemon(signal.SIGKILL)
    _gone(rt, "k2")
    rt.client.containers.delete("k2")
    record("faults", f"kill -9 a shim with the daemon down/{runtime}", 1, "shims killed")


# -- runc missing or failing ---------------------------------------------------------------------

FAKE_RUNC = """#!/bin/sh
# A runc that refuses {what} as runc reports errors (a JSON line in its --log, and stderr);
# everything else goes to the real one.
log=""; prev=""
for a in "$@"; do
  if [ "$prev" = "--log" ]; then log="$a"; fi
  if [ "$a" = "{what}" ]; then
    msg="fake runc: {what} refused"
    if [ -n "$log" ]; then printf '{{"level":"error","msg":"%s","time":"2026-01-01T00:00:00Z"}}\\n' "$msg" >> "$log"; fi
    echo "$msg" >&2; exit 1
  fi
  prev="$a"
done
exec {real} "$@"
"""


@pytest.fixture
def path_env(monkeypatch: pytest.MonkeyPatch, short_tmp: Path) -> Iterator[Path]:
    """A bin directory for a test-made PATH: the shims are linked in, runc only if asked."""
    bin_dir = short_tmp / "bin"
    bin_dir.mkdir()
    go_shim = shutil.which("containerd-shim-runc-v2")
    assert go_shim is not None
    os.symlink(go_shim, bin_dir / "containerd-shim-runc-v2")
    yield bin_dir


def _env_with(rt: Env, monkeypatch: pytest.MonkeyPatch, bin_dir: Path) -> None:
    """Restart ``rt``'s daemon with PATH = ``bin_dir`` (+ what the shims need besides runc)."""
    rt.client.close()
    rt.daemon.stop()
    base = rt.daemon.root.parent
    monkeypatch.setenv("PATH", str(bin_dir))  # runc lives in /usr/bin and /usr/sbin: both left out
    try:
        rt.daemon = start_daemon(base)
    finally:
        monkeypatch.undo()
    rt.client = rt.daemon.client(rt.namespace)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_runc_missing(rt: Env, runtime: str, path_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _need(runtime)
    _env_with(rt, monkeypatch, path_env)
    rt.client.containers.create("nr", spec=rt.spec("nr", "true"), runtime=runtime)
    with pytest.raises(errdefs.PyctrdError) as ei:
        rt.client.tasks.create("nr")
    msg = str(ei.value)
    assert "runc" in msg and "Traceback" not in msg, msg
    assert not isinstance(ei.value, errdefs.Unavailable)
    _gone(rt, "nr")
    assert not shim_pids(rt.namespace) and rt.client.version().version
    rt.client.containers.delete("nr")
    record("faults", f"runc missing/{runtime}", 1)


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("what", ["create", "start", "kill"])
def test_runc_failing(rt: Env, runtime: str, what: str, path_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _need(runtime)
    real = shutil.which("runc")
    fake = path_env / "runc"
    fake.write_text(FAKE_RUNC.format(what=what, real=real))
    fake.chmod(0o755)
    _env_with(rt, monkeypatch, path_env)
    rt.client.containers.create("fr", spec=rt.spec("fr", "sleep", "1000"), runtime=runtime)
    try:
        task = rt.client.tasks.create("fr")
        task.start()
        task.kill(signal.SIGTERM)
    except errdefs.PyctrdError as exc:
        assert f"{what} refused" in str(exc) and "Traceback" not in str(exc), exc
    else:
        raise AssertionError(f"runc {what} failed, the call did not")
    try:  # whatever was made can be removed (kill is refused: the shim's delete --force still works)
        rt.client.tasks.get("fr").delete(force=True)
    except errdefs.NotFound:
        pass
    except errdefs.PyctrdError as exc:
        assert what == "kill", exc
        for pid in shim_pids(rt.namespace):
            os.kill(pid, signal.SIGKILL)  # a task that cannot be killed: take its shim down
        wait_for(lambda: not shim_pids(rt.namespace), 10, "the shim to go")
    _gone(rt, "fr")
    assert rt.client.version().version
    rt.client.containers.delete("fr")
    record("faults", f"runc failing/{runtime}", 1)


async def _call_and_hang_up(address: str, method: str, request: bytes) -> None:
    """Send one ttrpc request to a shim and close the connection without waiting for the answer
    (what a daemon killed mid-call does)."""
    import asyncio

    from pyctrd.ttrpc import framing, messages

    _, writer = await asyncio.open_unix_connection(address.removeprefix("unix://"))
    req = messages.Request(service="containerd.task.v2.Task", method=method, payload=request)
    writer.write(framing.encode_frame(1, framing.MessageType.REQUEST, req.SerializeToString()))
    await writer.drain()
    writer.close()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_start_whose_caller_hangs_up_still_completes(rt: Env, runtime: str) -> None:
    """Our shim cancelled a call when its caller went away: runc had started the container, the
    shim still said "created", and no delete could remove the task any more (the container ran
    on, unseen)."""
    import asyncio

    from pyctrd._api.containerd.runtime.v2.task import shim_pb2

    _need(runtime)
    rt.client.containers.create("hu", spec=rt.spec("hu", "sleep", "1000"), runtime=runtime)
    task = rt.client.tasks.create("hu")
    address = (rt.state / "hu" / "address").read_text().strip()
    asyncio.run(_call_and_hang_up(address, "Start", shim_pb2.StartRequest(id="hu").SerializeToString()))

    def agree() -> bool:  # the shim's view and runc's must meet (started, or not started at all)
        base = "/run/containerd" if runtime.endswith("runc.v2") else str(Path(rt.daemon.address).parent)
        r = subprocess.run(["runc", "--root", f"{base}/runc/{rt.namespace}", "state", "hu"],
                           capture_output=True, text=True, check=False)
        return r.returncode == 0 and json.loads(r.stdout)["status"] == rt.client.tasks.get("hu").status().status

    if runtime.endswith("pyrunc.v1"):  # ours finishes the Start it was given ("created" is on the way)
        wait_for(lambda: rt.client.tasks.get("hu").status().status == "running", 10, "the start to finish")
    wait_for(agree, 10, "the shim and runc to agree")
    exit = task.delete(force=True)
    assert exit.status in (0, 137), exit
    _gone(rt, "hu")
    rt.client.containers.delete("hu")


HALF_CREATE = """#!{python}
# runc whose create dies after making the container's cgroup (as a runc create killed half-way
# does); everything else goes to the real runc.
import json, os, sys
args = sys.argv[1:]
if "create" not in args:
    os.execv({real!r}, [{real!r}, *args])
bundle = args[args.index("--bundle") + 1] if "--bundle" in args else "."
path = json.load(open(os.path.join(bundle, "config.json")))["linux"]["cgroupsPath"].lstrip("/")
for line in open("/proc/self/mountinfo"):
    f = line.split()
    if f[f.index("-") + 1] in ("cgroup", "cgroup2"):
        os.makedirs(os.path.join(f[4], path), exist_ok=True)
if "--log" in args:
    with open(args[args.index("--log") + 1], "a") as log:
        log.write(json.dumps({{"level": "error", "msg": "fake runc: killed half-way"}}) + "\\n")
sys.exit(1)
"""


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_half_made_task_leaves_no_cgroup(rt: Env, runtime: str, path_env: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """runc create cut off after making the cgroup (a shim whose caller went away): no runc
    state to delete, so the cgroup stayed after the cleanup."""
    import sys

    from pyctrd.cgroups import Cgroup

    _need(runtime)
    fake = path_env / "runc"
    fake.write_text(HALF_CREATE.format(python=sys.executable, real=shutil.which("runc")))
    fake.chmod(0o755)
    _env_with(rt, monkeypatch, path_env)
    spec = rt.spec("hc", "true")
    rt.client.containers.create("hc", spec=spec, runtime=runtime)
    with pytest.raises(errdefs.PyctrdError, match="killed half-way"):
        rt.client.tasks.create("hc")
    cg = Cgroup.from_spec(spec)
    wait_for(lambda: not cg.exists(), 10, "the half-made cgroup to go")
    left = [d for d in [*cg.v1.values(), cg.unified] if d and os.path.isdir(d)]
    assert not left, left
    _gone(rt, "hc")
    rt.client.containers.delete("hc")
