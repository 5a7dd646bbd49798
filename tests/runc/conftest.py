"""Real containers for the runc tests: a busybox rootfs, a private runc root, a subreaper.

Every test gets a :class:`Lab`: a short temp dir holding bundles and runc's state root, a
cgroup namespace of its own (``/pyctrd-t<random>/<id>``) and a :class:`Runc` that starts
runc through a :class:`Reaper` (the test process is a child subreaper while these tests run,
so container exits come to it). Whatever a test leaves behind is deleted with
``runc delete --force``, and the namespace's parent cgroups are removed.
"""
from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pyctrd.cgroups import Hierarchies
from pyctrd.core import oci
from pyctrd.runc import Reaper, Runc, set_subreaper

BUSYBOX = "/usr/bin/busybox"
APPLETS = ["sh", "echo", "sleep", "cat", "ls", "id", "dd", "head", "touch", "hostname", "true",
           "false", "env", "readlink", "stty", "tr", "wc", "printf", "mkdir"]


def make_rootfs(path: Path) -> Path:
    """A minimal root filesystem: Debian's static busybox and its applets as symlinks."""
    (path / "bin").mkdir(parents=True)
    (path / "etc").mkdir()
    try:
        os.link(BUSYBOX, path / "bin" / "busybox")
    except OSError:
        shutil.copy(BUSYBOX, path / "bin" / "busybox")
    for applet in APPLETS:
        (path / "bin" / applet).symlink_to("busybox")
    (path / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n"
                                         "nobody:x:65534:65534:nobody:/:/bin/false\n")
    (path / "etc" / "group").write_text("root:x:0:\nusers:x:100:nobody\nnogroup:x:65534:\n")
    return path


@pytest.fixture(scope="session", autouse=True)
def _busybox() -> None:
    if not os.path.exists(BUSYBOX) or shutil.which("runc") is None:
        pytest.skip("needs busybox-static and runc (apt-get install busybox-static runc)")


@pytest.fixture(scope="module")
def subreaper() -> Iterator[None]:
    """This process as a child subreaper for the module's tests (container exits come here)."""
    set_subreaper(True)
    try:
        yield
    finally:
        set_subreaper(False)


@dataclass
class Lab:
    """A private place to run containers."""

    dir: Path
    namespace: str
    runc: Runc
    created: list[str] = field(default_factory=list)

    def bundle(self, cid: str, *opts: oci.SpecOpt) -> tuple[Path, dict[str, Any]]:
        """Write ``<dir>/<cid>/config.json`` (busybox rootfs) from the default spec + opts."""
        bundle = self.dir / cid
        make_rootfs(bundle / "rootfs")
        spec = oci.generate_spec(self.namespace, cid, oci.with_default_unix_devices,
                                 oci.with_default_path_env, *opts)
        (bundle / "config.json").write_text(oci.dumps(spec))
        return bundle, spec

    def id(self, name: str) -> str:
        cid = f"{name}-{secrets.token_hex(3)}"
        self.created.append(cid)
        return cid

    def cleanup(self) -> None:
        for cid in self.created:
            subprocess.run(["runc", "--root", self.runc.root, "delete", "--force", cid],
                           capture_output=True, check=False)
        h = Hierarchies.discover()
        for mnt in h.mountpoints:
            parent = os.path.join(mnt, self.namespace)
            if os.path.isdir(parent):
                for child in os.listdir(parent):
                    if os.path.isdir(os.path.join(parent, child)):
                        os.rmdir(os.path.join(parent, child))
                os.rmdir(parent)


@pytest.fixture
def lab(short_tmp: Path, subreaper: None) -> Iterator[Lab]:
    ns = f"pyctrd-t{secrets.token_hex(4)}"
    lab = Lab(short_tmp, ns, Runc(str(short_tmp / "state"), log=str(short_tmp / "runc.log")))
    try:
        yield lab
    finally:
        lab.cleanup()


@asynccontextmanager
async def reaping(lab: Lab) -> AsyncIterator[Reaper]:
    """Run a test body with a Reaper as the lab's runc monitor."""
    async with Reaper() as reaper:
        lab.runc.monitor = reaper
        yield reaper


def run(coro: Any) -> Any:
    """Run one async test body (no pytest-asyncio here)."""
    return asyncio.run(asyncio.wait_for(coro, 60))
