"""Real tasks through a real pyctrd and a real shim: Debian's Go shim (``containerd-shim-runc-v2``)
or ours (``containerd-shim-pyrunc-v1``, pyctrd's default runtime).

Each test gets an :class:`Env` running the ``runtime`` fixture's runtime (``$PYCTRD_TEST_RUNTIME``,
else the Go shim); a module whose tests must hold for both shims overrides ``runtime`` with
``params=BOTH_RUNTIMES`` (a variant whose shim is not installed is skipped). An Env is a daemon process of its own, a namespace of its own (the Go
shim keeps runc state under ``/run/containerd/runc/<ns>`` whatever the daemon's state dir),
a busybox root filesystem and a FIFO directory under the test's temp dir. Afterwards the
fixture deletes what the test left, stops the daemon and *checks* that nothing remains:
no bundle or work directory, no mount, no FIFO, no shim process (nor a zombie one), no runc
state; then it removes the namespace's empty cgroup parents and runc directory.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import select
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pyctrd import errdefs
from pyctrd.cgroups import remove_namespace_cgroups
from pyctrd.client import Client, cio
from pyctrd.core import oci
from pyctrd.core.containers import Container
from pyctrd.core.events import Envelope
from pyctrd.core.runtime import Exit
from pyctrd.plugins.runtime.v2.binary import resolve_runtime
from tests.fixtures.daemon import DaemonProcess, start_daemon
from tests.runc.conftest import make_rootfs

GO_RUNTIME = "io.containerd.runc.v2"  # Debian's containerd-shim-runc-v2
PY_RUNTIME = "io.containerd.pyrunc.v1"  # ours, pyctrd's default


def shim_of(runtime: str) -> str | None:
    """The shim binary of ``runtime`` ($PATH, then beside this Python: a venv's bin), or None."""
    try:
        return resolve_runtime(runtime)
    except errdefs.PyctrdError:
        return None


#: The runtime of modules that run one (``$PYCTRD_TEST_RUNTIME``): Debian's Go shim by default.
RUNTIME = os.environ.get("PYCTRD_TEST_RUNTIME", GO_RUNTIME)
GO_SHIM = RUNTIME == GO_RUNTIME
SHIM = shim_of(RUNTIME)
TASK_DIR = "io.containerd.runtime.v2.task"
RUNC_AND_BUSYBOX = shutil.which("runc") is not None and os.path.exists("/usr/bin/busybox")

go_shim_installed = pytest.mark.skipif(
    SHIM is None or not RUNC_AND_BUSYBOX, reason=f"needs the shim of {RUNTIME}, runc and busybox-static")
needs_go_shim = [pytest.mark.requires_root, go_shim_installed]
#: For modules over BOTH_RUNTIMES: each variant skips itself when its shim is missing.
needs_runc = [pytest.mark.requires_root,
              pytest.mark.skipif(not RUNC_AND_BUSYBOX, reason="needs runc and busybox-static")]


def _runtime_param(runtime: str, id: str) -> Any:
    return pytest.param(runtime, id=id, marks=pytest.mark.skipif(
        shim_of(runtime) is None, reason=f"the shim of {runtime} is not installed"))


#: ``@pytest.fixture(params=BOTH_RUNTIMES) def runtime(...)``: the module's tests run on each shim.
BOTH_RUNTIMES = [_runtime_param(GO_RUNTIME, "go-shim"), _runtime_param(PY_RUNTIME, "py-shim")]
#: For a test in such a module that starts no shim, or checks only the daemon: one run is enough.
one_runtime = pytest.mark.parametrize("runtime", [RUNTIME])


def shim_pids(namespace: str) -> list[int]:
    """Live processes whose command line is a shim's for ``namespace``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                args = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"-namespace" in args and namespace.encode() in args:
                found.append(int(entry))
    return found


def zombie_children(pid: int) -> list[int]:
    """Children of ``pid`` that ended and were not reaped (a daemon must reap its shims)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] == "Z" and int(fields[1]) == pid:
                found.append(int(entry))
    return found


def wait_exit(pid: int, timeout: float = 10) -> None:
    """Wait until ``pid`` has ended (a pidfd turns readable then)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        select.select([fd], [], [], timeout)
    finally:
        os.close(fd)


def wait_for(predicate: Any, timeout: float = 10, what: str = "condition") -> Any:
    """Poll ``predicate`` (cheap, local) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class EventLog:
    """Collects the daemon's events in a thread (``ctr events``'s view), on its own connection.

    The constructor returns once the subscription is live: a streaming call gives no sign that
    the server has registered it, so it publishes a probe event (until one comes back); events
    published before that point could otherwise slip past. Probes never show in ``envelopes``.
    """

    PROBE = "/pyctrd-tests/eventlog-ready"

    def __init__(self, address: str, *filters: str, timeout: float = 10) -> None:
        from pyctrd._api.containerd.api.events import namespace_pb2

        self.envelopes: list[Envelope] = []
        self._live = threading.Event()
        self._client = Client(address)
        # filters are ORed: the probe's topic joins any the caller gave (none means every event)
        wanted = (*filters, f'topic=="{self.PROBE}"') if filters else ()
        stream = self._client.events.subscribe(*wanted)
        self._thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._live.is_set():
            if time.monotonic() > deadline:
                self.close()
                raise AssertionError(f"the event subscription did not go live within {timeout}s")
            self._client.events.publish(self.PROBE, namespace_pb2.NamespaceUpdate(name="eventlog-probe"))
            self._live.wait(0.05)

    def _run(self, stream: Iterator[Envelope]) -> None:
        with contextlib.suppress(errdefs.PyctrdError, ValueError):
            for env in stream:
                if env.topic == self.PROBE:
                    self._live.set()
                else:
                    self.envelopes.append(env)

    def topics(self, namespace: str | None = None) -> list[str]:
        return [e.topic for e in list(self.envelopes) if namespace is None or e.namespace == namespace]

    def wait(self, topic: str, count: int = 1, timeout: float = 10) -> list[Envelope]:
        def found() -> list[Envelope] | None:
            hits = [e for e in list(self.envelopes) if e.topic == topic]
            return hits if len(hits) >= count else None
        return wait_for(found, timeout, f"{count} x {topic}")  # type: ignore[no-any-return]

    def close(self) -> None:
        self._client.close()  # ends the stream (CANCELLED), and so the thread
        self._thread.join(5)


@dataclass
class Env:
    """A daemon, a namespace, a root filesystem: what a runtime test needs."""

    daemon: DaemonProcess
    namespace: str
    rootfs: Path
    fifo_dir: Path
    client: Client
    config_text: str | None = None
    extra_namespaces: list[str] = field(default_factory=list)
    runtime: str = RUNTIME

    @property
    def go_shim(self) -> bool:
        """Debian's Go shim (it writes more into the bundle and details execs in ``ps``)."""
        return self.runtime == GO_RUNTIME

    @property
    def shim(self) -> str | None:
        return shim_of(self.runtime)

    @property
    def state(self) -> Path:
        return self.daemon.state / TASK_DIR / self.namespace

    @property
    def work(self) -> Path:
        return self.daemon.root / TASK_DIR / self.namespace

    def spec(self, id: str, *args: str, tty: bool = False, namespace: str | None = None,
             opts: tuple[oci.SpecOpt, ...] = ()) -> dict[str, Any]:
        more = [oci.with_tty] if tty else []
        return oci.generate_spec(namespace or self.namespace, id, oci.with_default_unix_devices,
                                 oci.with_default_path_env, oci.with_rootfs_path(str(self.rootfs)),
                                 oci.with_process_args(*args), *more, *opts)

    def container(self, id: str, *args: str, tty: bool = False, labels: dict[str, str] | None = None,
                  opts: tuple[oci.SpecOpt, ...] = ()) -> Container:
        return self.client.containers.create(id, spec=self.spec(id, *args, tty=tty, opts=opts), runtime=self.runtime,
                                             labels=labels)

    def capture(self, stdin: bytes | None = None, *, terminal: bool = False) -> cio.Creator:
        return cio.capture(stdin, terminal=terminal, fifo_dir=self.fifo_dir)

    def run(self, id: str, *args: str, stdin: bytes | None = None) -> tuple[Exit, bytes, bytes]:
        """Create, run to the end and delete a container: (exit, stdout, stderr)."""
        self.container(id, *args)
        task = self.client.tasks.create(id, io=self.capture(stdin))
        assert task.io is not None
        out, err = task.io.stdout, task.io.stderr
        task.start()
        exit = task.wait(timeout=30)
        task.delete()
        self.client.containers.delete(id)
        assert out is not None and err is not None
        return exit, out.getvalue(), err.getvalue()  # type: ignore[attr-defined]

    def ctr(self, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.daemon.ctr(*args, namespace=self.namespace, check=check, input=input)

    def pyctr(self, *args: str, check: bool = True, input: str | None = None, timeout: float = 60
              ) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, PYCTRD_RUNTIME=self.runtime)
        r = subprocess.run([*pyctr_argv(self), *args], capture_output=True, text=True, timeout=timeout,
                           input=input, env=env, check=False)
        if check and r.returncode != 0:
            raise AssertionError(f"pyctr {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r

    def restart_daemon(self, sig: int = signal.SIGKILL) -> None:
        """Stop the daemon (SIGKILL: a crash) and start a new one on the same root and state."""
        self.client.close()
        self.daemon.stop(sig)
        base = self.daemon.root.parent
        self.daemon = start_daemon(base, config_text=self.config_text)
        self.client = self.daemon.client(self.namespace)


def pyctr_argv(env: Env) -> list[str]:
    import sys

    return [sys.executable, "-m", "pyctrd.cmd.pyctr", "--address", env.daemon.address, "--namespace", env.namespace]


def _cleanup_namespace(env: Env, ns: str) -> list[str]:
    """Delete what a test left in ``ns``; return the problems found on the way."""
    problems = []
    c = env.client.with_namespace(ns)
    for state in c.tasks.list():
        problems.append(f"task {ns}/{state.id} left behind ({state.status})")
        with contextlib.suppress(errdefs.PyctrdError):
            c.tasks.get(state.id).delete(force=True)
        for path in (state.io.stdin, state.io.stdout, state.io.stderr):
            if path.startswith("/run/containerd/fifo/"):  # a FIFO set ctr made and no ctr removed
                shutil.rmtree(Path(path).parent, ignore_errors=True)
    for container in c.containers.list():
        with contextlib.suppress(errdefs.PyctrdError):
            c.containers.delete(container.id)
    return problems


def _host_leftovers(env: Env, ns: str) -> list[str]:
    problems = []
    for pid in shim_pids(ns):
        wait_exit(pid, 10)
    if live := shim_pids(ns):
        problems.append(f"shim processes left: {live}")
        for pid in live:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    runc_root = Path("/run/containerd/runc") / ns
    if runc_root.is_dir():
        if left := os.listdir(runc_root):
            problems.append(f"runc state left: {left}")
            for cid in left:
                subprocess.run(["runc", "--root", str(runc_root), "delete", "--force", cid], capture_output=True,
                               check=False)
        shutil.rmtree(runc_root, ignore_errors=True)
    remove_namespace_cgroups(ns)
    return problems


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_rootfs(tmp_path_factory.mktemp("rootfs") / "rootfs")


@pytest.fixture
def rt_config() -> str | None:
    """The daemon's config file text for ``rt`` (a test module overrides this fixture)."""
    return None


@pytest.fixture
def runtime() -> str:
    """The runtime ``rt``'s containers run with (a module overrides it, e.g. over BOTH_RUNTIMES)."""
    return RUNTIME


@pytest.fixture
def rt(short_tmp: Path, busybox_rootfs: Path, rt_config: str | None, runtime: str) -> Iterator[Env]:
    ns = f"pyctrd-rt{secrets.token_hex(3)}"
    daemon = start_daemon(short_tmp, config_text=rt_config)
    env = Env(daemon, ns, busybox_rootfs, short_tmp / "fifo", daemon.client(ns), rt_config, runtime=runtime)
    problems: list[str] = []
    try:
        yield env
    finally:
        for name in [env.namespace, *env.extra_namespaces]:
            problems += _cleanup_namespace(env, name)
        for pid in [p for name in [env.namespace, *env.extra_namespaces] for p in shim_pids(name)]:
            wait_exit(pid, 10)
        if env.daemon.proc.poll() is None:
            with contextlib.suppress(AssertionError):
                wait_for(lambda: not zombie_children(env.daemon.pid), 5)
            if zombies := zombie_children(env.daemon.pid):
                problems.append(f"zombies the daemon did not reap: {zombies}")
        log = env.daemon.log_text()
        rc = env.daemon.stop()
        for name in [env.namespace, *env.extra_namespaces]:
            problems += _host_leftovers(env, name)
            for d in (env.daemon.state / TASK_DIR / name, env.daemon.root / TASK_DIR / name):
                if d.is_dir() and (left := os.listdir(d)):
                    problems.append(f"bundle or work dirs left in {d}: {left}")
        mounts = [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if str(short_tmp) in line]
        if mounts:
            problems.append(f"mounts left: {mounts}")
        if env.fifo_dir.is_dir() and (left := os.listdir(env.fifo_dir)):
            problems.append(f"FIFO sets left: {left}")
        if rc != 0:
            problems.append(f"daemon exited with {rc}:\n{log[-3000:]}")
        assert not problems, "\n".join(problems)
