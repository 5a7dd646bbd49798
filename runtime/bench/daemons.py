"""Private daemons to measure: Debian's containerd and pyctrd, each on paths of its own.

Both run under one short directory (unix socket paths must stay under 108 bytes)::

    <dir>/containerd/{config.toml,root/,state/,c.sock,containerd.log}
    <dir>/pyctrd/{root/,state/,pyctrd.sock,pyctrd.log}

containerd gets ``disabled_plugins = ["io.containerd.grpc.v1.cri"]``, as the compatibility
tests use it; both are started with this Python's ``bin`` first on ``PATH``, so either can run
our shim (``io.containerd.pyrunc.v1``) as well as Debian's Go shim. They are stopped by PID.

The Go shim ignores the daemon's paths: its sockets go to ``/run/containerd/s`` and its runc
state to ``/run/containerd/runc/<namespace>``. Benchmarks therefore use namespaces of their own
(``bench-<random>``) and :func:`cleanup_namespace` removes what those left there and in the
cgroup hierarchies.

:meth:`PrivateDaemon.start` returns the *cold start*: from ``exec`` of the daemon to the first
answered ``Version`` call.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from .. import errdefs
from ..cgroups import Hierarchies, remove_namespace_cgroups
from ..client import Client
from ..lab.procs import stop_child

__all__ = ["CONTAINERD", "CpuMeter", "PrivateContainerd", "PrivateDaemon", "PrivatePyctrd", "cleanup_namespace",
           "descendants", "fd_count", "mounts_under", "rss_kib"]

CONTAINERD = "/usr/bin/containerd"
BIN = Path(sys.executable).parent
GO_RUNC_ROOT = Path("/run/containerd/runc")


# -- what a process holds (read from /proc) -------------------------------------------------------
def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` in KiB (``VmRSS``); 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def fd_count(pid: int) -> int:
    """Open file descriptors of ``pid`` (0 if it is gone)."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (children, their children, ...), zombies included."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rpartition(")")[2].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def mounts_under(*dirs: str | os.PathLike[str]) -> list[str]:
    """Mount points (in our mount namespace) at or below any of ``dirs``."""
    tops = [os.path.realpath(d).rstrip("/") for d in dirs]
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        target = line.split()[4].encode().decode("unicode_escape")
        if any(target == t or target.startswith(t + "/") for t in tops):
            found.append(target)
    return found


def cleanup_namespace(namespace: str, *runc_roots: Path) -> None:
    """Remove what tasks of ``namespace`` may leave outside the daemons' dirs: runc state
    (``runc delete --force``) and the namespace's cgroup parents."""
    for base in (GO_RUNC_ROOT, *runc_roots):
        root = base / namespace
        if root.is_dir():
            for cid in os.listdir(root):
                subprocess.run(["runc", "--root", str(root), "delete", "--force", cid], capture_output=True,
                               check=False)
            shutil.rmtree(root, ignore_errors=True)
    with contextlib.suppress(errdefs.PyctrdError, OSError):
        remove_namespace_cgroups(namespace)


class CpuMeter:
    """CPU time of a daemon and of everything it starts (shims, runc, publish binaries): a
    cgroup v1 ``cpuacct`` group of its own, ``<cpuacct>/pyctrd-bench-<random>/<name>``.

    Containers are not counted (runc moves them to their own cgroups). None of this exists
    without a v1 cpuacct hierarchy: :meth:`create` returns None there.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"<CpuMeter {self.path}>"

    @classmethod
    def create(cls, name: str) -> CpuMeter | None:
        try:
            mnt = Hierarchies.discover().v1.get("cpuacct")
            if not mnt:
                return None
            path = Path(mnt) / f"pyctrd-bench-{os.getpid()}" / name
            path.mkdir(parents=True, exist_ok=True)
        except (errdefs.PyctrdError, OSError):
            return None
        return cls(path)

    def add(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(str(pid))

    def usage_ms(self) -> float:
        try:
            return int((self.path / "cpuacct.usage").read_text()) / 1e6
        except (OSError, ValueError):
            return 0.0

    def remove(self) -> None:
        """Remove the group (and its parent once empty); processes still in it are moved out."""
        try:
            root = (self.path.parent.parent / "cgroup.procs")
            for pid in (self.path / "cgroup.procs").read_text().split():
                with contextlib.suppress(OSError):
                    root.write_text(pid)
        except OSError:
            pass
        for d in (self.path, self.path.parent):
            with contextlib.suppress(OSError):
                d.rmdir()


def _accepts(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(path)
        except OSError:
            return False
    return True


class PrivateDaemon:
    """A daemon process on private paths under ``dir`` (subclasses say which and how)."""

    name = "daemon"
    log_name = "daemon.log"

    def __init__(self, dir: Path) -> None:
        self.dir = dir
        self.address = str(dir / "d.sock")
        self.proc: subprocess.Popen[bytes] | None = None
        self.namespaces: set[str] = set()
        self.runc_roots: list[Path] = []
        self.meter: CpuMeter | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.dir} pid={self.pid or None}>"

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc is not None else 0

    def argv(self) -> list[str]:
        raise NotImplementedError

    def prepare(self) -> None:
        """Write config files (before each start)."""

    def log(self) -> str:
        try:
            return (self.dir / self.log_name).read_text(errors="replace")
        except OSError:
            return ""

    def start(self, timeout: float = 30.0, meter: bool = False) -> float:
        """Start the daemon; returns seconds from ``exec`` to the first answered Version call.
        With ``meter`` its CPU time (and its children's) is counted in :attr:`meter`.

        Raises:
            Unavailable: it exited or did not answer within ``timeout``.
        """
        self.dir.mkdir(parents=True, exist_ok=True)
        self.prepare()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.address)
        env = dict(os.environ, PATH=f"{BIN}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}")
        env.pop("NOTIFY_SOCKET", None)
        with open(self.dir / self.log_name, "ab") as log:
            t0 = time.perf_counter()
            self.proc = subprocess.Popen(self.argv(), stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env,
                                         start_new_session=True)
        if meter:  # before it starts anything: every shim and runc inherits the group
            self.meter = CpuMeter.create(self.name)
            if self.meter is not None:
                self.meter.add(self.proc.pid)
        deadline = t0 + timeout
        while True:
            if self.proc.poll() is not None:
                raise errdefs.Unavailable(f"{self.name} exited with {self.proc.returncode}:\n{self.log()[-2000:]}")
            if _accepts(self.address):
                with Client(self.address, timeout=5) as c:
                    try:
                        c.version()
                        return time.perf_counter() - t0
                    except errdefs.PyctrdError:
                        pass
            if time.perf_counter() > deadline:
                self.stop()
                raise errdefs.Unavailable(f"{self.name} did not answer within {timeout:g}s:\n{self.log()[-2000:]}")
            time.sleep(0.002)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM by PID, SIGKILL after ``timeout``; the exit code."""
        if self.proc is None:
            return None
        return stop_child(self.proc, timeout=timeout)

    def shims(self) -> list[int]:
        """Live shim processes started for our namespaces (by command line)."""
        found = []
        wanted = {ns.encode() for ns in self.namespaces}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    args = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
                except OSError:
                    continue
                if b"-namespace" in args and wanted & set(args):
                    found.append(int(entry))
        return found

    def cleanup(self) -> None:
        """Stop the daemon, end shims of our namespaces, unmount and remove everything it made."""
        self.stop()
        for pid in self.shims():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for ns in self.namespaces:
            cleanup_namespace(ns, *self.runc_roots)
        for target in sorted(mounts_under(self.dir), key=len, reverse=True):
            subprocess.run(["umount", "-l", target], check=False, capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.meter is not None:
            self.meter.remove()


class PrivateContainerd(PrivateDaemon):
    """Debian's containerd: ``root/``, ``state/``, socket ``c.sock`` (CRI disabled)."""

    name = "containerd"
    log_name = "containerd.log"

    def __init__(self, dir: Path, binary: str = CONTAINERD) -> None:
        super().__init__(dir)
        self.binary = binary
        self.address = str(dir / "c.sock")
        self.runc_roots = [dir / "runc"]  # our shim's runc state: beside the daemon's socket

    def config(self) -> str:
        d = self.dir
        return (f'version = 2\nroot = "{d}/root"\nstate = "{d}/state"\n'
                f'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
                f'[grpc]\n  address = "{self.address}"\n[ttrpc]\n  address = "{self.address}.ttrpc"\n')

    def prepare(self) -> None:
        (self.dir / "config.toml").write_text(self.config())
        (self.dir / "fifo").mkdir(exist_ok=True)

    def argv(self) -> list[str]:
        return [self.binary, "--config", str(self.dir / "config.toml")]

    def ctr(self, *args: str, namespace: str = "", check: bool = True, timeout: float = 60
            ) -> subprocess.CompletedProcess[str]:
        """Debian's ``ctr`` against this daemon.

        Raises:
            AssertionError: it failed and ``check`` is set (for tests).
        """
        ns = ["-n", namespace] if namespace else []
        if namespace:
            self.namespaces.add(namespace)
        done = subprocess.run(["ctr", "--address", self.address, *ns, *args], capture_output=True, text=True,
                              timeout=timeout, check=False, stdin=subprocess.DEVNULL)
        if check and done.returncode != 0:
            raise AssertionError(f"ctr {' '.join(args)}: {done.returncode}\n{done.stdout}{done.stderr}")
        return done


class PrivatePyctrd(PrivateDaemon):
    """pyctrd, run as its console script: ``root/``, ``state/``, socket ``p.sock``."""

    name = "pyctrd"
    log_name = "pyctrd.log"

    def __init__(self, dir: Path, config_text: str | None = None) -> None:
        super().__init__(dir)
        self.address = str(dir / "p.sock")
        self.config_text = config_text
        self.runc_roots = [dir / "runc"]

    def prepare(self) -> None:
        if self.config_text is not None:
            (self.dir / "config.toml").write_text(self.config_text)

    def argv(self) -> list[str]:
        script = BIN / "pyctrd"
        cmd = [str(script)] if os.access(script, os.X_OK) else [sys.executable, "-m", "pyctrd.cmd.pyctrd"]
        cfg = ["--config", str(self.dir / "config.toml")] if self.config_text is not None else []
        return [*cmd, *cfg, "--root", str(self.dir / "root"), "--state", str(self.dir / "state"),
                "--address", self.address]
