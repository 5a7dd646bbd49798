"""pyctr's pull against a REAL containerd, and the same chain unpacked by both daemons compared.

containerd runs on private paths (root, state, socket under one temp dir, CRI disabled) and is
stopped by PID. Both daemons pull ``layered`` from the same real registry; the chain IDs and
the file trees seen through a view of the top snapshot must be identical.
"""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyctrd.client import Client
from pyctrd.core.images import chain_ids
from pyctrd.core.mount import temp_mount
from pyctrd.images.samples import SampleImage
from tests.fixtures.daemon import DaemonProcess
from tests.fixtures.registry import Registry
from tests.shim.private_containerd import CONTAINERD, PrivateContainerd

from .conftest import file_tree

pytestmark = [pytest.mark.requires_root, pytest.mark.needs_ctr]


@pytest.fixture
def containerd(short_tmp: Path) -> Iterator[PrivateContainerd]:
    if not os.path.exists(CONTAINERD):
        pytest.skip("needs Debian's containerd")
    c = PrivateContainerd(short_tmp / "c")
    c.dir.mkdir()
    try:
        c.start()
        yield c
    finally:
        c.cleanup()


def pyctr(address: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "pyctrd.cmd.pyctr", "--address", address, *args],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"pyctr {args}: {done.returncode}\n{done.stdout}{done.stderr}"
    return done.stdout


def top_tree(client: Client, chain_id: str, work: Path) -> dict[str, str]:
    sn = client.snapshotter("overlayfs")
    mounts = sn.view("compare-view", chain_id)
    try:
        with temp_mount(mounts, base=str(work)) as root:
            return file_tree(Path(root))
    finally:
        sn.remove("compare-view")


def test_pyctr_pull_into_real_containerd_matches_pyctrd(containerd: PrivateContainerd, pyctrd: DaemonProcess,
                                                        pushed: Registry, samples: dict[str, SampleImage],
                                                        short_tmp: Path) -> None:
    layered = samples["layered"]
    chain = chain_ids(layered.diff_ids)
    out = pyctr(containerd.address, "images", "pull", "--plain-http", pushed.ref("layered"))
    assert f"unpacking linux/amd64 {layered.manifest.digest}..." in out
    pyctrd.ctr("images", "pull", "--plain-http", pushed.ref("layered"))

    real, ours = Client(containerd.address), pyctrd.client()
    try:
        keys = {n: sorted((i.name, i.parent, str(i.kind)) for i in c.snapshotter("overlayfs").walk())
                for n, c in (("containerd", real), ("pyctrd", ours))}
        expected = [(chain[0], "", "Committed"), (chain[1], chain[0], "Committed"), (chain[2], chain[1], "Committed")]
        assert keys == {"containerd": expected, "pyctrd": expected}
        # what pyctr's pull left in containerd is what containerd's own client leaves
        labels = {i.digest: i.labels for i in real.content.walk()}
        assert labels[layered.config.digest]["containerd.io/gc.ref.snapshot.overlayfs"] == chain[-1]
        assert labels[layered.layers[2].digest]["containerd.io/uncompressed"] == layered.diff_ids[2]
        assert real.images.check(pushed.ref("layered")).complete
        work = short_tmp / "work"
        work.mkdir()
        theirs_tree, our_tree = top_tree(real, chain[-1], work), top_tree(ours, chain[-1], work)
        assert theirs_tree == our_tree
        assert "etc/goodbye" not in our_tree and "opt/data/stale" not in our_tree
        assert our_tree["etc/hello"].startswith("file 644 0:0")
    finally:
        real.close()
    # the real containerd's snapshots list the same through pyctr as through ctr
    assert pyctr(containerd.address, "snapshots", "tree") == containerd.ctr("snapshots", "tree").stdout


def test_pyctr_runs_an_image_on_the_real_containerd(containerd: PrivateContainerd, pushed: Registry) -> None:
    """The client sends the snapshot's mounts with Tasks.Create, as containerd's own client does."""
    ref = f"{pushed.host}/layered:latest"
    pyctr(containerd.address, "-n", "pyctr-run", "images", "pull", "--plain-http", ref)
    out = pyctr(containerd.address, "-n", "pyctr-run", "run", "--rm", "--runtime", "io.containerd.runc.v2",
                ref, "r1", "sh", "-c", "cat /etc/hello")
    assert out == "hello from layer2\n"
    assert pyctr(containerd.address, "-n", "pyctr-run", "containers", "ls", "-q") == ""


def _snapshot_chain(client: Client) -> list[tuple[str, str, str]]:
    return sorted((i.name, i.parent, str(i.kind)) for i in client.snapshotter("overlayfs").walk())


def test_each_client_into_its_own_daemon_gives_the_same_snapshots(
        containerd: PrivateContainerd, pyctrd: DaemonProcess, pushed: Registry, samples: dict[str, SampleImage],
        short_tmp: Path) -> None:
    """The reference case beside the crossed ones: the real ctr into the real containerd, pyctr
    into pyctrd. Same chain IDs, same labels on the config, same file trees."""
    layered = samples["layered"]
    chain = chain_ids(layered.diff_ids)
    containerd.ctr("images", "pull", "--plain-http", pushed.ref("layered"))
    out = pyctr(pyctrd.address, "images", "pull", "--plain-http", pushed.ref("layered"))
    assert f"unpacking linux/amd64 {layered.manifest.digest}..." in out

    real, ours = Client(containerd.address), pyctrd.client()
    try:
        expected = [(chain[0], "", "Committed"), (chain[1], chain[0], "Committed"), (chain[2], chain[1], "Committed")]
        assert {"containerd": _snapshot_chain(real), "pyctrd": _snapshot_chain(ours)} == {
            "containerd": expected, "pyctrd": expected}
        for c in (real, ours):
            labels = {i.digest: i.labels for i in c.content.walk()}
            assert labels[layered.config.digest]["containerd.io/gc.ref.snapshot.overlayfs"] == chain[-1]
            assert labels[layered.layers[2].digest]["containerd.io/uncompressed"] == layered.diff_ids[2]
            assert c.images.check(pushed.ref("layered")).complete
        work = short_tmp / "work"
        work.mkdir()
        theirs_tree, our_tree = top_tree(real, chain[-1], work), top_tree(ours, chain[-1], work)
        assert theirs_tree == our_tree
        assert "etc/goodbye" not in our_tree and "opt/data/stale" not in our_tree  # whiteouts applied by both
        assert our_tree["etc/hello"].startswith("file 644 0:0")
    finally:
        real.close()
    assert pyctr(pyctrd.address, "snapshots", "tree") == containerd.ctr("snapshots", "tree").stdout
