"""A daemon owned by one notebook or one ``make lab``: start, reach, stop - never by name.

A notebook calls :meth:`Lab.find_or_start`: inside ``make lab``'s JupyterLab (where
``PYCTRD_ADDRESS`` is set) it attaches to the lab's daemon, elsewhere it starts a private
one. Daemons a notebook starts are stopped when its kernel exits, and recorded for
``make lab`` (``PYCTRD_LAB_PIDS``) so that Ctrl-C there stops them even if a kernel dies hard.
"""
from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path
from typing import Any, Self

from ..client import Client
from ..daemon.server import socket_in_use
from ..errdefs import FailedPrecondition, NotFound, Unavailable
from .procs import PidDir, stop_child
from .registry import LocalRegistry, registry_answers
from .teardown import clean_after, stop_tasks

__all__ = ["Lab"]

#: Labs this process started and has not stopped: stopped at interpreter exit.
_RUNNING: weakref.WeakSet[Lab] = weakref.WeakSet()


class Lab:
    """A pyctrd process with its own root, state and socket under ``directory``."""

    def __init__(self, directory: str | Path, *, config_text: str | None = None,
                 log_level: str = "info") -> None:
        self.dir = Path(directory).resolve()
        self.root = self.dir / "root"
        self.state = self.dir / "state"
        self.address = str(self.state / "pyctrd.sock")
        self.log_path = self.dir / "pyctrd.log"
        self.config_text = config_text
        self.log_level = log_level
        self.proc: subprocess.Popen[bytes] | None = None
        self._owns_dir = False
        self._log_offset = 0
        self.attached = False
        self.registry: LocalRegistry | None = None

    @classmethod
    def start(cls, directory: str | Path | None = None, **kw: Any) -> Lab:
        """Start a daemon (in a fresh temporary directory unless one is given)."""
        owns = directory is None
        lab = cls(directory or tempfile.mkdtemp(prefix="pyctrd-lab-", dir="/tmp"), **kw)
        lab._owns_dir = owns
        lab.launch()
        return lab

    @classmethod
    def attach(cls, address: str, *, root: str | Path | None = None, state: str | Path | None = None) -> Lab:
        """A Lab for a daemon someone else runs (``make lab``'s): usable, never stopped by us."""
        sock = Path(address)
        lab = cls(sock.parent.parent if state is None else Path(state).parent)
        lab.address = str(sock)
        lab.state = Path(state) if state else sock.parent
        lab.root = Path(root) if root else lab.dir / "root"
        lab.attached = True
        if not socket_in_use(lab.address):
            raise Unavailable(f"no daemon is serving on {address}")
        return lab

    @classmethod
    def find_or_start(cls, **kw: Any) -> Lab:
        """``make lab``'s daemon if ``$PYCTRD_ADDRESS`` serves, else a private one (:meth:`start`)."""
        address = os.environ.get("PYCTRD_ADDRESS")
        if address and socket_in_use(address):
            return cls.attach(address, root=os.environ.get("PYCTRD_ROOT"), state=os.environ.get("PYCTRD_STATE"))
        return cls.start(**kw)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        if self.attached:
            return f"<Lab {self.address} attached {state}>"
        return f"<Lab {self.dir} {state} pid={self.proc.pid if self.proc else '-'}>"

    def _repr_html_(self) -> str:
        return (f"<b>pyctrd lab</b> <code>{self.address}</code> - "
                f"{'running' if self.running else 'stopped'}; root <code>{self.root}</code>, "
                f"state <code>{self.state}</code>")

    @property
    def running(self) -> bool:
        if self.attached:
            return socket_in_use(self.address)
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def launch(self, wait: float = 30) -> None:
        """Start the daemon and wait until its socket accepts connections.

        Raises:
            FailedPrecondition: attached to someone else's daemon, or one already serves here.
            Unavailable: the daemon exited or did not serve within ``wait`` seconds.
        """
        if self.attached:
            raise FailedPrecondition(f"attached to the daemon at {self.address}: it is not ours to (re)start; "
                                     "use Lab.start() for a private one")
        self.dir.mkdir(parents=True, exist_ok=True)
        if socket_in_use(self.address):
            raise FailedPrecondition(f"a daemon is already serving on {self.address}; stop it first")
        cmd = [sys.executable, "-m", "pyctrd.cmd.pyctrd", "--root", str(self.root), "--state", str(self.state),
               "--address", self.address, "--log-level", self.log_level]
        if self.config_text is not None:
            cfg = self.dir / "config.toml"
            cfg.write_text(self.config_text)
            cmd += ["--config", str(cfg)]
        with open(self.log_path, "ab") as log:
            self._log_offset = log.tell()
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        _RUNNING.add(self)
        pids = os.environ.get("PYCTRD_LAB_PIDS")
        if pids:
            PidDir(pids).record(f"pyctrd-{self.proc.pid}", self.proc.pid, address=self.address, state=str(self.state))
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise Unavailable(f"pyctrd exited ({self.proc.returncode}): {self._why()}")
            if socket_in_use(self.address):
                return
            time.sleep(0.02)
        self.stop()
        raise Unavailable(f"pyctrd did not start within {wait}s; log:\n{self.log_tail()}")

    def registry_with_samples(self) -> str:
        """``host:port`` of a registry holding the sample images ``busybox:latest`` and
        ``layered:latest`` (see :mod:`pyctrd.lab.samples`).

        ``make lab``'s registry (``$PYCTRD_REGISTRY``) if it answers - it has them already;
        otherwise a registry this lab starts on a free loopback port, pushes the samples to,
        and stops in :meth:`destroy` (a daemon restart leaves it running). Calling it again
        returns the same address.

        Raises:
            NotFound: ``docker-registry`` or ``busybox-static`` is not installed.
            Unavailable: the registry would not start.
        """
        if self.registry is not None and self.registry.running:
            return self.registry.address
        shared = os.environ.get("PYCTRD_REGISTRY")
        if shared and registry_answers(shared):
            return shared
        from .samples import push_sample_images

        where = (self.dir / "registry" if not self.attached
                 else Path(tempfile.mkdtemp(prefix="pyctrd-registry-", dir="/tmp")))
        registry = LocalRegistry(where).start()
        self.registry = registry
        _RUNNING.add(self)  # stopped at interpreter exit, even if never destroyed
        pids = os.environ.get("PYCTRD_LAB_PIDS")
        if pids and registry.proc is not None:
            PidDir(pids).record(f"registry-{registry.proc.pid}", registry.proc.pid)
        push_sample_images(registry.address, where)
        return registry.address

    def _stop_registry(self) -> None:
        registry, self.registry = self.registry, None
        if registry is None or registry.proc is None:
            return
        registry.stop()
        pids = os.environ.get("PYCTRD_LAB_PIDS")
        if pids:
            PidDir(pids).forget(f"registry-{registry.proc.pid}")
        if self.attached:  # its directory is ours (a temporary one), not make lab's
            shutil.rmtree(registry.dir, ignore_errors=True)

    def pyctr(self, *args: str, namespace: str = "default") -> str:
        """Run ``pyctr -a <this daemon> -n <namespace> ARGS...``; what it printed (stdout, then stderr)."""
        cmd = [sys.executable, "-m", "pyctrd.cmd.pyctr", "-a", self.address, "-n", namespace, *args]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        return done.stdout + done.stderr

    def ctr(self, *args: str, namespace: str = "default") -> str:
        """Run containerd's own ``ctr`` against this daemon; what it printed (stdout, then stderr).

        Raises:
            NotFound: ``ctr`` is not installed (``apt-get install containerd``).
        """
        exe = shutil.which("ctr")
        if exe is None:
            raise NotFound("ctr (apt-get install containerd)")
        done = subprocess.run([exe, "--address", self.address, "--namespace", namespace, *args],
                              capture_output=True, text=True, timeout=120, check=False)
        return done.stdout + done.stderr

    def client(self, namespace: str = "default") -> Client:
        return Client(self.address, namespace)

    def launch_log(self) -> str:
        """What the daemon logged since the last :meth:`launch`."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._log_offset)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def _why(self) -> str:
        """The line that says why the last launch failed (config errors start with "pyctrd:")."""
        lines = self.launch_log().splitlines()
        pick = [x for x in lines if x.startswith("pyctrd:")] or [x for x in lines if "level=error" in x] or lines
        return pick[-1] if pick else "(no log)"

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop_tasks(self) -> list[str]:
        """Kill, wait for and delete every task of this daemon, in every namespace (container
        records and images stay); what was stopped, one line each. See :mod:`.teardown`.

        An attached lab's daemon is not ours: its tasks are left alone.
        """
        if self.attached or not self.running:
            return []
        return stop_tasks(self.address, self.state)

    def stop(self, timeout: float = 20) -> int | None:
        """SIGTERM the daemon by PID and wait (containers keep running: KillMode=process, as
        for a daemon restart; :meth:`destroy` stops them first).

        An attached lab is left alone (it is not ours): returns None.
        """
        if self.proc is None or self.attached:
            return None
        stop_child(self.proc, timeout=timeout)
        if self.registry is None:
            _RUNNING.discard(self)
        pids = os.environ.get("PYCTRD_LAB_PIDS")
        if pids:
            PidDir(pids).forget(f"pyctrd-{self.proc.pid}")
        return self.proc.returncode

    def restart(self, *, config_text: str | None = None) -> None:
        """Stop and start again, with a new config file when ``config_text`` is given.

        Raises:
            FailedPrecondition: attached to a daemon we did not start.
            Unavailable: the daemon would not start (a bad config: the log says where).
        """
        if self.attached:
            raise FailedPrecondition(f"attached to the daemon at {self.address}: it is not ours to restart")
        if config_text is not None:
            self.config_text = config_text
        self.stop()
        self.launch()

    def destroy(self) -> None:
        """Stop the tasks (:meth:`stop_tasks`), the daemon and the registry
        :meth:`registry_with_samples` started; kill any shim that survived and unmount what is
        left (:func:`.teardown.clean_after`); remove the directory if the lab made it (never
        follows mounts)."""
        if not self.attached and self.proc is not None:
            self.stop_tasks()
            self.stop()
            clean_after(self.state)
        self._stop_registry()
        _RUNNING.discard(self)
        if self._owns_dir and self.dir.exists():
            mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
            if any(m.startswith(str(self.dir)) for m in mounts):
                return  # something is still mounted in there: leave it for inspection
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Self:
        if not self.running:
            self.launch()
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    def environment(self) -> dict[str, str]:
        """What a program needs to find this daemon (``pyctr``, a kernel, ``Lab.find_or_start``)."""
        return {"PYCTRD_ADDRESS": self.address, "PYCTRD_ROOT": str(self.root), "PYCTRD_STATE": str(self.state),
                **{k: v for k, v in os.environ.items() if k == "PATH"}}


@atexit.register
def _stop_labs_at_exit() -> None:
    """A notebook kernel that exits takes its private daemons with it."""
    for lab in list(_RUNNING):
        lab.destroy()
