"""Bundles on disk and the orphan reaper, without containers."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pyctrd import errdefs
from pyctrd.plugins.runtime.v2.bundle import load_bundle, new_bundle
from pyctrd.plugins.runtime.v2.orphans import OrphanReaper, zombie_children
from pyctrd.plugins.runtime.v2.plugin import parse_platform


def test_new_bundle_layout_and_delete(tmp_path: Path) -> None:
    root, state = tmp_path / "root", tmp_path / "state"
    b = new_bundle(root, state, "ns1", "c1", b'{"ociVersion":"1.0.2-dev"}')
    assert repr(b) == f"<Bundle ns1/c1 {state}/ns1/c1>"
    assert sorted(os.listdir(b.path)) == ["config.json", "rootfs", "work"]
    assert stat.filemode(b.path.stat().st_mode) == "drwx------"
    assert stat.filemode((state / "ns1").stat().st_mode) == "drwx--x--x"
    assert stat.filemode(b.rootfs.stat().st_mode) == "drwx--x--x"
    assert os.readlink(b.path / "work") == str(root / "ns1" / "c1")
    assert (b.path / "config.json").read_bytes() == b'{"ociVersion":"1.0.2-dev"}'
    with pytest.raises(errdefs.AlreadyExists):
        new_bundle(root, state, "ns1", "c1", b"{}")
    assert load_bundle(state, "ns1", "c1") == b
    b.write("shim-binary-path", "/bin/shim")
    assert b.read("shim-binary-path") == "/bin/shim" and b.read("address") is None
    b.delete()
    assert os.listdir(state / "ns1") == [] and os.listdir(root / "ns1") == []
    b.delete()  # twice is fine


def test_bad_bundles_are_refused_and_leave_nothing(tmp_path: Path) -> None:
    with pytest.raises(errdefs.InvalidArgument, match="invalid task id"):
        new_bundle(tmp_path / "r", tmp_path / "s", "ns", "../x", b"{}")
    with pytest.raises(errdefs.InvalidArgument, match="not valid JSON"):
        new_bundle(tmp_path / "r", tmp_path / "s", "ns", "c1", b"{nope")
    assert not (tmp_path / "s" / "ns" / "c1").exists()


def test_user_namespace_bundle_is_reachable_by_the_mapped_root_group(tmp_path: Path) -> None:
    spec = b'{"linux": {"gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}]}}'
    b = new_bundle(tmp_path / "r", tmp_path / "s", "ns", "c1", spec)
    st = b.path.stat()
    assert (st.st_gid, stat.filemode(st.st_mode)) == (100000, "drwx--x---")
    b.delete()


def test_platforms() -> None:
    assert parse_platform("linux/amd64") == {"os": "linux", "architecture": "amd64"}
    with pytest.raises(errdefs.InvalidArgument):
        parse_platform("linux")


def test_orphan_reaper_reaps_only_zombies_that_stay(tmp_path: Path) -> None:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os._exit(3)
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # it has ended; still a zombie
    assert pid in zombie_children()
    reaper = OrphanReaper(grace=60)
    assert reaper.scan() == []  # first sighting: someone may still be about to wait for it
    assert reaper.scan() == [pid]  # still there at the second look: an orphan, reaped
    assert pid not in zombie_children() and repr(reaper) == "<OrphanReaper reaped=1 watching=0>"
