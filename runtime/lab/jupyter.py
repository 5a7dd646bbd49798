"""JupyterLab for ``make lab``: loopback only, a token, notebooks/ as its root, state under the lab.

Saving a notebook in this JupyterLab stores it *without outputs* (:func:`strip_outputs_hook`,
a ``pre_save_hook``): the notebooks in git stay clean however long a student works in them.

>>> model = {"type": "notebook", "content": {"metadata": {"widgets": {}}, "cells": [
...     {"cell_type": "code", "execution_count": 3, "outputs": [{"output_type": "stream"}], "metadata": {}}]}}
>>> strip_outputs_hook(model)
>>> model["content"]["cells"][0]["outputs"], model["content"]["cells"][0]["execution_count"], model["content"]["metadata"]
([], None, {})
"""
from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from ..errdefs import NotFound, Unavailable
from .procs import free_port, stop_child

__all__ = ["JupyterLab", "strip_files", "strip_outputs_hook"]


def strip_outputs_hook(model: dict[str, Any], **kwargs: Any) -> None:
    """Jupyter ``pre_save_hook``: drop outputs, execution counts and saved widget state."""
    if model.get("type") != "notebook" or not isinstance(model.get("content"), dict):
        return
    nb = model["content"]
    for key in ("widgets", "language_info"):
        nb.get("metadata", {}).pop(key, None)
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        for key in ("execution", "collapsed", "scrolled"):
            cell.get("metadata", {}).pop(key, None)


class JupyterLab:
    """A ``jupyter lab`` process serving ``notebooks`` with its config/runtime dirs under ``directory``."""

    def __init__(self, directory: str | Path, notebooks: str | Path, *, env: dict[str, str] | None = None) -> None:
        self.dir = Path(directory).resolve()
        self.notebooks = Path(notebooks).resolve()
        self.extra_env = dict(env or {})
        self.token = secrets.token_hex(24)
        self.port: int | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Where to point a browser (the token logs you in)."""
        return f"http://127.0.0.1:{self.port}/lab?token={self.token}"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def log_path(self) -> Path:
        return self.dir / "jupyter.log"

    def __repr__(self) -> str:
        return f"<JupyterLab {self.base if self.port else '-'} {'running' if self.running else 'stopped'}>"

    def environment(self) -> dict[str, str]:
        """Jupyter's own files under the lab (not ~), plus what kernels should inherit."""
        j = self.dir
        env = dict(os.environ)
        env.update({
            "JUPYTER_CONFIG_DIR": str(j / "config"), "JUPYTER_RUNTIME_DIR": str(j / "runtime"),
            "JUPYTER_DATA_DIR": str(j / "data"), "JUPYTERLAB_SETTINGS_DIR": str(j / "settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(j / "workspaces"), "IPYTHONDIR": str(j / "ipython"),
            "JUPYTER_PLATFORM_DIRS": "1",
            "JUPYTER_TOKEN": self.token,  # in the environment, not on the command line `ps` shows
        })
        env.update(self.extra_env)
        return env

    def _write_config(self) -> None:
        # No "news" pop-up (it would ask for network access on first start).
        labconfig = self.dir / "config" / "labconfig"
        labconfig.mkdir(parents=True, exist_ok=True)
        (labconfig / "page_config.json").write_text(json.dumps(
            {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
               "--ServerApp.port_retries=0", f"--ServerApp.root_dir={self.notebooks}",
               "--FileContentsManager.pre_save_hook=pyctrd.lab.jupyter.strip_outputs_hook"]
        if os.geteuid() == 0:
            cmd.append("--allow-root")
        return cmd

    def start(self, port: int | None = None, wait: float = 90) -> JupyterLab:
        """Start and wait until the server answers ``/api/status`` with our token.

        Raises:
            NotFound: the notebooks directory does not exist.
            Unavailable: Jupyter exited or did not answer within ``wait`` seconds.
        """
        if not self.notebooks.is_dir():
            raise NotFound(f"notebooks directory {self.notebooks}")
        self.port = port or free_port()
        self.dir.mkdir(parents=True, exist_ok=True)
        self._write_config()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=self.environment(),
                                         cwd=self.notebooks, start_new_session=True)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Unavailable(f"jupyter lab exited ({self.proc.returncode}): {self._tail()}")
            if self.ping():
                return self
            time.sleep(0.2)
        self.stop()
        raise Unavailable(f"jupyter lab did not answer on {self.base} within {wait}s: {self._tail()}")

    def ping(self) -> bool:
        req = urllib.request.Request(f"{self.base}/api/status", headers={"Authorization": f"token {self.token}"})
        try:
            with urllib.request.urlopen(req, timeout=2) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def _tail(self) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return " | ".join(re.sub(r"token=\w+", "token=…", x) for x in text.splitlines()[-8:])

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM by PID: Jupyter shuts its kernels down (notebooks' own daemons stop with them)."""
        if self.proc is None:
            return None
        return stop_child(self.proc, timeout=timeout)


def strip_files(paths: list[str]) -> list[str]:
    """Strip outputs from notebook files in place (for notebooks run outside ``make lab``)."""
    changed = []
    for p in paths:
        path = Path(p)
        before = path.read_text()
        model = {"type": "notebook", "content": json.loads(before)}
        strip_outputs_hook(model)
        after = json.dumps(model["content"], indent=1, sort_keys=True, ensure_ascii=False) + "\n"
        if after != before:
            path.write_text(after)
            changed.append(p)
    return changed


if __name__ == "__main__":  # python -m pyctrd.lab.jupyter strip notebooks/*.ipynb
    if len(sys.argv) < 3 or sys.argv[1] != "strip":
        sys.exit("usage: python -m pyctrd.lab.jupyter strip NOTEBOOK...")
    for name in strip_files(sys.argv[2:]):
        print(f"stripped {name}")
