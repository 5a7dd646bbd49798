"""A daemon owned by one notebook or one ``make lab``: start, reach, stop - never by name."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..client import Client
from ..daemon.server import socket_in_use

__all__ = ["Lab"]


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

    @classmethod
    def start(cls, directory: str | Path | None = None, **kw: Any) -> Lab:
        """Start a daemon (in a fresh temporary directory unless one is given)."""
        owns = directory is None
        lab = cls(directory or tempfile.mkdtemp(prefix="pyctrd-lab-", dir="/tmp"), **kw)
        lab._owns_dir = owns
        lab.launch()
        return lab

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<Lab {self.dir} {state} pid={self.proc.pid if self.proc else '-'}>"

    def _repr_html_(self) -> str:
        return (f"<b>pyctrd lab</b> <code>{self.address}</code> - "
                f"{'running' if self.running else 'stopped'}; root <code>{self.root}</code>, "
                f"state <code>{self.state}</code>")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def launch(self, wait: float = 30) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        if socket_in_use(self.address):
            raise RuntimeError(f"a daemon is already serving on {self.address}; stop it first")
        cmd = [sys.executable, "-m", "pyctrd.cmd.pyctrd", "--root", str(self.root), "--state", str(self.state),
               "--address", self.address, "--log-level", self.log_level]
        if self.config_text is not None:
            cfg = self.dir / "config.toml"
            cfg.write_text(self.config_text)
            cmd += ["--config", str(cfg)]
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log.close()
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pyctrd exited ({self.proc.returncode}); log:\n{self.log_tail()}")
            if socket_in_use(self.address):
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"pyctrd did not start within {wait}s; log:\n{self.log_tail()}")

    def client(self, namespace: str = "default") -> Client:
        return Client(self.address, namespace)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 20) -> int | None:
        """SIGTERM the daemon by PID and wait (containers keep running: KillMode=process)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def restart(self) -> None:
        self.stop()
        self.launch()

    def destroy(self) -> None:
        """Stop, and remove the directory if the lab made it (never follows mounts)."""
        self.stop()
        if self._owns_dir and self.dir.exists():
            mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
            if any(m.startswith(str(self.dir)) for m in mounts):
                return  # something is still mounted in there: leave it for inspection
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Lab:
        if not self.running:
            self.launch()
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    def environment(self) -> dict[str, str]:
        return {"PYCTRD_ADDRESS": self.address, **{k: v for k, v in os.environ.items() if k == "PATH"}}
