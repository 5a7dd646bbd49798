"""A private image registry for the lab: Debian's ``docker-registry`` on a loopback port.

Everything it keeps lives under its directory (config, blobs, log)::

    reg = LocalRegistry(".lab/registry").start()   # 127.0.0.1:<free port>
    reg.address                                      # '127.0.0.1:40123' - pull from here
    reg.stop()                                       # by PID

Images pushed there survive restarts of the lab (the data directory is kept).
"""
from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from ..errdefs import FailedPrecondition, NotFound, Unavailable
from .procs import free_port, stop_child

__all__ = ["REGISTRY_BINARY", "LocalRegistry", "registry_answers", "registry_config"]

REGISTRY_BINARY = "docker-registry"


def registry_config(data_dir: Path, port: int, host: str = "127.0.0.1") -> str:
    """The registry's YAML config (JSON is valid YAML): filesystem storage, loopback only."""
    return json.dumps({
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}, "fields": {"service": "pyctrd-lab-registry"}},
        "storage": {"filesystem": {"rootdirectory": str(data_dir)}, "delete": {"enabled": True},
                    "cache": {"blobdescriptor": "inmemory"}},
        "http": {"addr": f"{host}:{port}", "secret": secrets.token_hex(16),
                 "headers": {"X-Content-Type-Options": ["nosniff"]}},
        "health": {"storagedriver": {"enabled": False}},
    }, indent=2) + "\n"


def registry_answers(address: str, timeout: float = 1) -> bool:
    """Does ``http://<address>/v2/`` answer 200 (the registry API's "are you there")?"""
    try:
        with urllib.request.urlopen(f"http://{address}/v2/", timeout=timeout) as r:
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError):
        return False


class LocalRegistry:
    """One ``docker-registry serve`` process, its config and data under ``directory``."""

    def __init__(self, directory: str | Path, *, binary: str = REGISTRY_BINARY) -> None:
        self.dir = Path(directory).resolve()
        self.binary = binary
        self.port: int | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """``host:port`` - what image references start with."""
        if self.port is None:
            raise FailedPrecondition("registry not started")
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def log_path(self) -> Path:
        return self.dir / "registry.log"

    def __repr__(self) -> str:
        where = self.address if self.port else "-"
        return f"<LocalRegistry {where} {'running' if self.running else 'stopped'}>"

    def start(self, port: int | None = None, wait: float = 20) -> LocalRegistry:
        """Write the config, start the registry and wait until ``/v2/`` answers."""
        exe = shutil.which(self.binary)
        if exe is None:
            raise NotFound(f"{self.binary} binary (apt-get install docker-registry)")
        self.port = port or free_port()
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        cfg = self.dir / "config.yml"
        cfg.write_text(registry_config(self.dir / "data", self.port))
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([exe, "serve", str(cfg)], stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Unavailable(f"docker-registry exited ({self.proc.returncode}): {self._tail()}")
            if self.ping():
                return self
            time.sleep(0.05)
        self.stop()
        raise Unavailable(f"docker-registry did not answer on {self.url} within {wait}s: {self._tail()}")

    def ping(self) -> bool:
        """Does ``GET /v2/`` answer 200 (the registry API's "are you there")?"""
        return registry_answers(self.address)

    def catalog(self) -> list[str]:
        """Repository names the registry holds."""
        with urllib.request.urlopen(f"{self.url}/v2/_catalog", timeout=5) as r:
            return list(json.load(r).get("repositories") or [])

    def _tail(self) -> str:
        try:
            return " | ".join(self.log_path.read_text(errors="replace").splitlines()[-5:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10) -> int | None:
        """SIGTERM by PID, then SIGKILL after ``timeout``."""
        if self.proc is None:
            return None
        return stop_child(self.proc, timeout=timeout)
