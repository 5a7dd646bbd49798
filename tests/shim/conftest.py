"""Fixtures for the shim tests: bundles, a shim started as containerd starts it, an events sink.

``async def`` tests run under ``asyncio.run`` (as in tests/ttrpc). The test process is a child
subreaper while a shim test runs: the serving shim, orphaned when ``start`` exits, becomes
our child, so a test can wait for it and read its exit code (and no zombie is left to PID 1).
Everything lives under a short temp dir: bundles, the shim socket (``<dir>/s/``, because the
fake daemon address is ``<dir>/d.sock``), runc's root (``<dir>/runc/<ns>``).
"""
from __future__ import annotations

import asyncio
import inspect
import os
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import empty_pb2

from pyctrd import ttrpc
from pyctrd._api.containerd.api.services.ttrpc.events.v1 import events_pb2
from pyctrd.cgroups import Hierarchies
from pyctrd.core import oci, typeurl
from pyctrd.runc import set_subreaper
from tests.runc.conftest import make_rootfs

TEST_TIMEOUT = 60.0
BIN = Path(sys.executable).parent
SHIM = BIN / "containerd-shim-pyrunc-v1"


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    asyncio.run(asyncio.wait_for(pyfuncitem.obj(**args), TEST_TIMEOUT))
    return True


class EventSink:
    """Our side of ``containerd.services.events.ttrpc.v1.Events``: records every envelope."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []
        self._changed = asyncio.Event()

    async def Forward(self, request: Any) -> empty_pb2.Empty:
        self.envelopes.append(request.envelope)
        self._changed.set()
        return empty_pb2.Empty()

    @property
    def topics(self) -> list[str]:
        return [e.topic for e in self.envelopes]

    def events(self, topic: str) -> list[Any]:
        return [typeurl.unpack(e.event) for e in self.envelopes if e.topic == topic]

    async def wait_for(self, topic: str, count: int = 1) -> None:
        """Until ``count`` events of ``topic`` arrived (the test's timeout bounds it)."""
        while self.topics.count(topic) < count:
            self._changed.clear()
            await self._changed.wait()

    @classmethod
    async def serve(cls, path: Path) -> tuple[EventSink, ttrpc.Server]:
        sink, server = cls(), ttrpc.Server()
        server.register(events_pb2.DESCRIPTOR.services_by_name["Events"], sink)
        await server.serve_unix(path)
        return sink, server


@dataclass
class ShimLab:
    """A private place to start shims and run containers."""

    dir: Path
    namespace: str
    bundles: list[Path] = field(default_factory=list)

    @property
    def daemon_address(self) -> str:
        return str(self.dir / "d.sock")  # never listened on: it only places the shim socket

    @property
    def runc_root(self) -> Path:
        return self.dir / "runc" / self.namespace

    def bundle(self, cid: str, *opts: oci.SpecOpt, rootfs_in_bundle: bool = False) -> Path:
        """A bundle with config.json; the busybox rootfs is at ``<dir>/<cid>-rootfs`` to be
        bind-mounted by the shim (or directly in the bundle with ``rootfs_in_bundle``)."""
        bundle = self.dir / cid
        bundle.mkdir()
        make_rootfs(bundle / "rootfs" if rootfs_in_bundle else self.dir / f"{cid}-rootfs")
        spec = oci.generate_spec(self.namespace, cid, oci.with_default_unix_devices,
                                 oci.with_default_path_env, *opts)
        (bundle / "config.json").write_text(oci.dumps(spec))
        (bundle / "log").write_text("")  # containerd makes a FIFO; a file keeps it for reading
        self.bundles.append(bundle)
        return bundle

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "TTRPC_ADDRESS"}
        env["PATH"] = f"{BIN}:{env.get('PATH', '/usr/bin:/bin')}"
        env.update(extra)
        return env

    def run_shim(self, bundle: Path, cid: str, action: str, *, publish_binary: str = "/bin/false",
                 env: dict[str, str] | None = None, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        argv = [str(SHIM), "-namespace", self.namespace, "-address", self.daemon_address,
                "-publish-binary", publish_binary, "-id", cid]
        if action == "delete":
            argv += ["-bundle", str(bundle)]
        return subprocess.run([*argv, action], cwd=bundle, env=env or self.env(), input=stdin,
                              capture_output=True, timeout=30, check=False)

    def start(self, bundle: Path, cid: str, **kw: Any) -> str:
        done = self.run_shim(bundle, cid, "start", **kw)
        assert done.returncode == 0, done.stderr.decode()
        return done.stdout.decode()

    @staticmethod
    def shim_pid(bundle: Path) -> int:
        return int((bundle / "shim.pid").read_text())

    def cleanup(self) -> None:
        for bundle in self.bundles:
            try:
                pid = self.shim_pid(bundle)
            except (OSError, ValueError):
                continue
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        if self.runc_root.is_dir():
            for cid in os.listdir(self.runc_root):
                subprocess.run(["runc", "--root", str(self.runc_root), "delete", "--force", cid],
                               capture_output=True, check=False)
        h = Hierarchies.discover()
        for mnt in h.mountpoints:
            parent = os.path.join(mnt, self.namespace)
            if os.path.isdir(parent):
                for child in os.listdir(parent):
                    if os.path.isdir(os.path.join(parent, child)):
                        os.rmdir(os.path.join(parent, child))
                os.rmdir(parent)


def reap(pid: int, timeout: float = 10.0) -> int:
    """Wait for our child ``pid`` (the shim, adopted as subreaper) and return its exit code."""
    pidfd = os.pidfd_open(pid)
    try:
        import select

        ready, _, _ = select.select([pidfd], [], [], timeout)
        assert ready, f"process {pid} still running after {timeout} s"
    finally:
        os.close(pidfd)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def cgroup_dirs(namespace: str) -> list[str]:
    """Every cgroup directory left for ``namespace`` (the namespace's parent excluded)."""
    h = Hierarchies.discover()
    left = []
    for mnt in h.mountpoints:
        parent = os.path.join(mnt, namespace)
        if os.path.isdir(parent):
            left += [os.path.join(parent, c) for c in os.listdir(parent)
                     if os.path.isdir(os.path.join(parent, c))]
    return left


@pytest.fixture
def shim_lab(short_tmp: Path) -> Iterator[ShimLab]:
    if not os.path.exists("/usr/bin/busybox") or shutil.which("runc") is None:
        pytest.skip("needs busybox-static and runc")
    lab = ShimLab(short_tmp, f"pyrunc-t{secrets.token_hex(4)}")
    set_subreaper(True)
    try:
        yield lab
    finally:
        lab.cleanup()
        set_subreaper(False)
