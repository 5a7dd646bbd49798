"""The snapshots and diff services over gRPC, in an in-process daemon: errors, events, config."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from pyctrd.core.content import Info as ContentInfo
from pyctrd.errdefs import AlreadyExists, InvalidArgument, NotFound
from pyctrd.errdefs import NotImplemented as NotImplementedKind
from tests.fixtures.inprocess import QUIET_GC, InProcessDaemon, inprocess_daemon

from .test_pull_client import events_of


def test_unknown_snapshotters_and_cleanup(daemon: InProcessDaemon) -> None:
    c = daemon.client()
    with pytest.raises(InvalidArgument, match="snapshotter not loaded: nope"):
        c.snapshotter("nope").stat("x")
    with pytest.raises(InvalidArgument, match="snapshotter argument missing"):
        c.snapshotter("").walk().__next__()
    with pytest.raises(NotImplementedKind, match="Cleanup"):
        c.snapshotter("native").cleanup()
    c.snapshotter("overlayfs").cleanup()  # overlayfs can
    assert repr(c.snapshotter("native")) == f"<SnapshotsClient native {daemon.address} ns=default>"
    assert repr(daemon.plugin("io.containerd.service.v1", "snapshots-service")["native"]).startswith(
        "<EventedSnapshotter native over <NamespacedSnapshotter native ns=default")


def test_prepare_commit_remove_publish_events_views_do_not(daemon: InProcessDaemon) -> None:
    sn = daemon.client("lab").snapshotter("native")

    def act() -> None:
        sn.prepare("k", "")
        sn.commit("base", "k")
        sn.view("v", "base")
        with pytest.raises(AlreadyExists):
            sn.prepare("v", "base")  # failures publish nothing
        sn.remove("v")

    got = [(t, ns, dict(key=e.key, **({"parent": e.parent} if hasattr(e, "parent") else {}),
                          **({"name": e.name} if hasattr(e, "name") else {})))
           for t, ns, e in events_of(daemon, act, "^/snapshot/")]
    assert got == [("/snapshot/prepare", "lab", {"key": "k", "parent": ""}),
                   ("/snapshot/commit", "lab", {"key": "k", "name": "base"}),
                   ("/snapshot/remove", "lab", {"key": "v"})]


@pytest.mark.requires_root
def test_diff_service_writes_and_applies_layers(daemon: InProcessDaemon) -> None:
    c = daemon.client()
    sn = c.snapshotter("native")
    [m] = sn.prepare("a", "")
    Path(m.source, "hello").write_text("hi\n")
    os.mkdir(Path(m.source, "d"))
    sn.commit("A", "a")
    desc = c.diff.compare([], sn.view("va", "A"), labels={"team": "red"})
    info = c.content.info(desc.digest)
    assert desc.media_type == "application/vnd.oci.image.layer.v1.tar+gzip"
    assert info.labels["team"] == "red" and info.labels["containerd.io/uncompressed"].startswith("sha256:")
    [target] = sn.prepare("b", "")
    applied = c.diff.apply(desc, [target])
    assert applied.digest == info.labels["containerd.io/uncompressed"]
    assert applied.media_type == "application/vnd.oci.image.layer.v1.tar"
    assert Path(target.source, "hello").read_text() == "hi\n"
    with pytest.raises(NotFound):
        c.with_namespace("other").diff.apply(desc, [target])  # the blob is not in that namespace
    with pytest.raises(NotImplementedKind):
        c.diff.apply(type(desc)("application/x-not-a-layer", desc.digest, desc.size), [target])
    c.content.update(ContentInfo(desc.digest, 0, labels={}), ["labels.team"])
    assert repr(c.diff) == f"<DiffClient {daemon.address} ns=default>"


def test_diff_service_config_names_the_differs(short_tmp: Path) -> None:
    with inprocess_daemon(short_tmp, plugins=QUIET_GC) as d:
        p = d.daemon.plugins.find("io.containerd.service.v1", "diff-service")
        assert p is not None and p.meta.exports == {"default": "walking"}
        assert repr(p.instance) == "<DiffService walking>"
    cfg = {**QUIET_GC, "io.containerd.service.v1.diff-service": {"default": ["walking", "nope"]}}
    with inprocess_daemon(short_tmp, name="e", plugins=cfg) as d:
        svc = d.daemon.plugins.find("io.containerd.service.v1", "diff-service")
        grpc = d.daemon.plugins.find("io.containerd.grpc.v1", "diff")
        assert svc is not None and svc.status == "error"
        assert re.search("needed differ not loaded: nope", svc.error_message)
        assert grpc is not None and grpc.status == "error"  # the cascade, as containerd shows it
