"""Cgroup location and counters: parsing, and the real cgroup2 tree of this machine."""
from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyctrd import errdefs
from pyctrd._api.cgroups.v2.stats import metrics_pb2 as v2pb
from pyctrd.cgroups import Cgroup, Hierarchies, freezer_state, metrics, to_any, watch_file
from pyctrd.cgroups import v1 as cg_v1
from pyctrd.cgroups import v2 as cg_v2

MOUNTINFO = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 /lxc/box /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
"""


def test_hierarchies_from_mountinfo() -> None:
    h = Hierarchies.parse_mountinfo(MOUNTINFO)
    assert h.v1 == {"cpu": "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
                    "memory": "/sys/fs/cgroup/memory", "name=systemd": "/sys/fs/cgroup/systemd"}
    assert (h.unified, h.mode) == ("/sys/fs/cgroup/unified", "hybrid")
    # a hierarchy mounted from inside a cgroup: paths below that root are relative to it
    assert h.directory("/sys/fs/cgroup/memory", "/lxc/box/default/c1") == "/sys/fs/cgroup/memory/default/c1"
    assert Hierarchies.parse_mountinfo(MOUNTINFO.splitlines()[-1]).mode == "unified"
    assert Hierarchies.parse_mountinfo("").mode == "none"


def test_cgroup_from_paths() -> None:
    h = Hierarchies.parse_mountinfo(MOUNTINFO)
    cg = Cgroup.from_path("/default/c1", h)
    assert cg.v1["cpuacct"] == "/sys/fs/cgroup/cpu,cpuacct/default/c1"
    assert cg.unified == "/sys/fs/cgroup/unified/default/c1" and cg.version == 1
    assert repr(cg) == "<Cgroup /default/c1 v1=cpu,cpuacct,memory v2=yes>"
    assert Cgroup.from_spec({"linux": {"cgroupsPath": "/ns/x"}}, h).path == "/ns/x"
    relative = Cgroup.from_path("sub/c1", Hierarchies.discover())
    assert relative.path.endswith("/sub/c1")
    with pytest.raises(errdefs.NotImplemented):
        Cgroup.from_path("system.slice:pyctrd:c1", h)
    for bad in ("", "/a/../b"):
        with pytest.raises(errdefs.InvalidArgument):
            Cgroup.from_path(bad, h)
    with pytest.raises(errdefs.InvalidArgument):
        Cgroup.from_spec({}, h)


def test_this_process_is_located() -> None:
    cg = Cgroup.from_pid(os.getpid())
    assert cg.exists() and os.getpid() in cg.procs()
    with pytest.raises(errdefs.NotFound):
        Cgroup.from_pid(2**22 + 7)


def test_v1_blkio_formats(tmp_path: Path) -> None:
    """Both blkio layouts: CFQ's recursive files when present, else the throttle counters."""
    (tmp_path / "blkio.io_serviced_recursive").write_text("8:0 Read 4\n8:0 Write 2\nTotal 6\n")
    (tmp_path / "blkio.io_service_bytes_recursive").write_text("8:0 Read 4096\n")
    (tmp_path / "memory.stat").write_text("cache 1\n")
    m = cg_v1.stats(Cgroup("/x", {"blkio": str(tmp_path), "memory": str(tmp_path)}))
    assert [(e.op, e.major, e.minor, e.value) for e in m.blkio.io_serviced_recursive] == [
        ("Read", 8, 0, 4), ("Write", 8, 0, 2)]
    assert m.memory.cache == 1 and m.memory.HasField("swap")  # missing files read as zero
    for name in os.listdir(tmp_path):
        os.unlink(tmp_path / name)
    (tmp_path / "blkio.throttle.io_serviced").write_text("259:0 Read 7\nTotal 7\n")
    (tmp_path / "memory.stat").write_text("")
    m = cg_v1.stats(Cgroup("/x", {"blkio": str(tmp_path), "memory": str(tmp_path)}))
    assert [e.value for e in m.blkio.io_serviced_recursive] == [7]


@pytest.fixture
def v2_cgroup() -> Iterator[Cgroup]:
    """A fresh cgroup in this machine's cgroup2 tree, removed afterwards."""
    h = Hierarchies.discover()
    if h.unified is None or os.geteuid() != 0:
        pytest.skip("needs root and a cgroup2 mount")
    path = f"/pyctrd-t{secrets.token_hex(4)}"
    os.mkdir(h.unified + path)
    try:
        yield Cgroup(path, {}, h.unified + path)
    finally:
        os.rmdir(h.unified + path)


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


@pytest.mark.requires_root
def test_v2_counters_freezer_and_events(v2_cgroup: Cgroup) -> None:
    d = v2_cgroup.unified
    assert d is not None and v2_cgroup.version == 2
    proc = subprocess.Popen(["sh", "-c", "read x; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"],
                            stdin=subprocess.PIPE)

    async def body() -> None:
        changes = watch_file(os.path.join(d, "cgroup.events"))
        first = asyncio.ensure_future(anext(changes))
        await asyncio.sleep(0)  # the watch exists before the process moves in
        _write(os.path.join(d, "cgroup.procs"), str(proc.pid))
        await first  # "populated 0" became "populated 1"
        await changes.aclose()

    try:
        asyncio.run(body())
        assert v2_cgroup.procs() == [proc.pid]
        _write(os.path.join(d, "cgroup.freeze"), "1")
        assert freezer_state(v2_cgroup) == "frozen"
        _write(os.path.join(d, "cgroup.freeze"), "0")
        assert freezer_state(v2_cgroup) == "thawed"
        assert proc.stdin is not None
        proc.stdin.close()
        assert proc.wait() == 0
    finally:
        proc.kill()
        proc.wait()
    m = cg_v2.stats(v2_cgroup)
    assert isinstance(m, v2pb.Metrics) and m.cpu.usage_usec > 0  # CPU time is always counted
    assert metrics(v2_cgroup) == m
    assert to_any(m).type_url == "io.containerd.cgroups.v2.Metrics"
    with pytest.raises(errdefs.NotFound):
        cg_v2.stats(Cgroup("/gone", {}, "/sys/fs/cgroup/unified/pyctrd-no-such"))
