"""Debian's real ``containerd`` on private paths, with our shim on its PATH.

Everything it makes stays under one short temp dir: ``root/``, ``state/``, the gRPC socket
``c.sock`` (so our shim's sockets go to ``<dir>/s/`` and its runc state to ``<dir>/runc/``)
and ``ctr``'s FIFOs (``fifo/``). The CRI plugin is disabled. It is stopped by PID.

The Go shim (``io.containerd.runc.v2``) ignores the daemon's paths: it always uses
``/run/containerd/s`` and ``/run/containerd/runc/<ns>``. :meth:`PrivateContainerd.cleanup`
removes only what our namespaces left there.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from pyctrd.cgroups import Hierarchies

__all__ = ["CONTAINERD", "PrivateContainerd"]

CONTAINERD = "/usr/bin/containerd"
BIN = Path(sys.executable).parent


class PrivateContainerd:
    """One containerd process on paths under ``dir`` (see the module docstring)."""

    def __init__(self, dir: Path) -> None:
        self.dir = dir
        self.address = str(dir / "c.sock")
        self.proc: subprocess.Popen[bytes] | None = None
        self.namespaces: set[str] = set()

    def __repr__(self) -> str:
        return f"<PrivateContainerd {self.dir} pid={self.proc.pid if self.proc else None}>"

    def config(self) -> str:
        d = self.dir
        return (f'version = 2\nroot = "{d}/root"\nstate = "{d}/state"\n'
                f'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
                f'[grpc]\n  address = "{self.address}"\n[ttrpc]\n  address = "{self.address}.ttrpc"\n')

    def start(self, timeout: float = 20.0) -> None:
        (self.dir / "config.toml").write_text(self.config())
        (self.dir / "fifo").mkdir(exist_ok=True)
        env = dict(os.environ, PATH=f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}")
        log = open(self.dir / "containerd.log", "wb")  # noqa: SIM115 - the daemon keeps it
        self.proc = subprocess.Popen([CONTAINERD, "--config", str(self.dir / "config.toml")],
                                     stdout=log, stderr=log, env=env, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while self.ctr("version", check=False).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"containerd did not start:\n{self.log()[-2000:]}")
            time.sleep(0.05)

    def log(self) -> str:
        return (self.dir / "containerd.log").read_text(errors="replace")

    def ctr(self, *args: str, namespace: str = "", check: bool = True, timeout: float = 60
            ) -> subprocess.CompletedProcess[str]:
        ns = ["-n", namespace] if namespace else []
        if namespace:
            self.namespaces.add(namespace)
        done = subprocess.run(["ctr", "--address", self.address, *ns, *args], capture_output=True,
                              text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL)
        if check and done.returncode != 0:
            raise AssertionError(f"ctr {' '.join(args)}: {done.returncode}\n{done.stdout}{done.stderr}")
        return done

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def cleanup(self) -> None:
        """Stop containerd, end our shims, unmount and remove everything it made for us."""
        self.stop()
        tasks = self.dir / "state" / "io.containerd.runtime.v2.task"
        for pid_file in tasks.glob("*/*/shim.pid"):
            try:
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        for ns in self.namespaces:
            root = self.dir / "runc" / ns
            for runc_root in (root, Path("/run/containerd/runc") / ns):
                if runc_root.is_dir():
                    for cid in os.listdir(runc_root):
                        subprocess.run(["runc", "--root", str(runc_root), "delete", "--force", cid],
                                       capture_output=True, check=False)
                    shutil.rmtree(runc_root, ignore_errors=True)
            _remove_cgroups(ns)
        out = subprocess.run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True, text=True,
                             check=False).stdout
        for target in sorted((t for t in out.split() if t.startswith(str(self.dir))), reverse=True):
            subprocess.run(["umount", "-l", target], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def _remove_cgroups(namespace: str) -> None:
    h = Hierarchies.discover()
    for mnt in {*h.v1.values(), *([h.unified] if h.unified else [])}:
        parent = os.path.join(mnt, namespace)
        if os.path.isdir(parent):
            for child in os.listdir(parent):
                if os.path.isdir(os.path.join(parent, child)):
                    os.rmdir(os.path.join(parent, child))
            os.rmdir(parent)
