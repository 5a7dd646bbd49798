"""client.pull against a REAL registry into a daemon: events, sharing, GC, namespaces, bad input."""
from __future__ import annotations

import asyncio
import io
import re
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pyctrd.client import Client
from pyctrd.core.images import chain_ids
from pyctrd.errdefs import FailedPrecondition, InvalidArgument, NotFound
from pyctrd.images.blobmap import BlobMap
from pyctrd.images.samples import SampleImage
from pyctrd.images.samples.build import _image
from pyctrd.remotes import DockerResolver, push_image
from tests.fixtures.faulty_http import FaultyProxy
from tests.fixtures.inprocess import InProcessDaemon
from tests.fixtures.registry import Registry

pytestmark = pytest.mark.requires_root  # overlay whiteouts are character devices
OVERLAY = "io.containerd.snapshotter.v1.overlayfs"


def events_of(daemon: InProcessDaemon, action: Callable[[], Any], topics: str = "^/(images|snapshot)/"
              ) -> list[tuple[str, str, Any]]:
    """Run ``action``; the (topic, namespace, event) published meanwhile."""
    ex, loop = daemon.daemon.exchange, daemon._loop
    assert ex is not None

    async def subscribe() -> Any:
        return ex.subscribe(f'topic~="{topics}"')

    async def drain(sub: Any) -> list[Any]:
        await asyncio.sleep(0)
        out = []
        while not sub.queue.empty():
            out.append(sub.queue.get_nowait())
        sub.close()
        return out

    sub = asyncio.run_coroutine_threadsafe(subscribe(), loop).result(10)
    action()
    return [(e.topic, e.namespace, e.event) for e in asyncio.run_coroutine_threadsafe(drain(sub), loop).result(10)]


def snapshot_dirs(daemon: InProcessDaemon) -> list[str]:
    return sorted(p.name for p in (daemon.root / OVERLAY / "snapshots").iterdir())


def records(c: Client) -> list[str]:
    return sorted(i.name for i in c.snapshotter("overlayfs").walk())


def collect(daemon: InProcessDaemon) -> Any:
    return daemon.plugin("io.containerd.metadata.v1", "sqlite").garbage_collect()


def test_pull_events_and_layers_shared_between_images(daemon: InProcessDaemon, pushed: Registry,
                                                      samples: dict[str, SampleImage]) -> None:
    c = daemon.client()
    layered, busybox = samples["layered"], samples["busybox"]
    chain = chain_ids(layered.diff_ids)
    got = events_of(daemon, lambda: c.pull(pushed.ref("layered"), plain_http=True))
    assert [t for t, _, _ in got] == ["/images/create"] + ["/snapshot/prepare", "/snapshot/commit"] * 3
    assert {ns for _, ns, _ in got} == {"default"}
    prepares = [e for t, _, e in got if t == "/snapshot/prepare"]
    commits = [e for t, _, e in got if t == "/snapshot/commit"]
    for i, (p, cm) in enumerate(zip(prepares, commits, strict=True)):
        assert re.fullmatch(rf"extract-\d+-[A-Za-z0-9_-]{{4}} {chain[i]}", p.key), p.key
        assert p.parent == (chain[i - 1] if i else "")
        assert (cm.key, cm.name) == (p.key, chain[i])
    # busybox's only layer is layered's first: recorded, not unpacked again
    result: list[Any] = []
    got = events_of(daemon, lambda: result.append(c.pull(pushed.ref("busybox"), plain_http=True)))
    assert [t for t, _, _ in got] == ["/images/create"]
    [(_, unpacked)] = result[0].unpacked
    assert (unpacked.applied, unpacked.existing) == ([], [chain[0]])
    assert repr(unpacked) == f"<UnpackResult overlayfs:{chain[0][:19]} applied=0 existing=1>"
    assert repr(result[0]) == (f"<PullResult {pushed.ref('busybox')} fetched=2 exists=1 "
                               f"unpacked={chain[0][:19]}>")
    assert result[0].fetch.served_by == {busybox.manifest.digest: pushed.host, busybox.config.digest: pushed.host}
    assert c.images.check(pushed.ref("busybox")).complete
    assert c.leases.list() == []  # the pulls' leases are gone


def test_gc_after_rm_sync_removes_exactly_the_unreachable(daemon: InProcessDaemon, pushed: Registry,
                                                          samples: dict[str, SampleImage]) -> None:
    c = daemon.client()
    layered, busybox = samples["layered"], samples["busybox"]
    chain = chain_ids(layered.diff_ids)
    c.pull(pushed.ref("layered"), plain_http=True)
    c.pull(pushed.ref("busybox"), plain_http=True)
    c.snapshotter("overlayfs").prepare("c1", chain[2], {"containerd.io/gc.root": "now"})
    assert snapshot_dirs(daemon) == ["1", "2", "3", "4"]
    c.images.delete(pushed.ref("layered"), sync=True)
    # c1 (a root) keeps the whole chain; only layered's own documents go
    assert records(c) == sorted([*chain, "c1"])
    blobs = {i.digest for i in c.content.walk()}
    assert blobs == {busybox.manifest.digest, busybox.config.digest, layered.layers[0].digest}
    c.snapshotter("overlayfs").remove("c1")
    c.images.delete(pushed.ref("busybox"))  # not sync: a collection is asked for below
    stats = collect(daemon)
    assert records(c) == []
    assert sorted(stats.other_removed["snapshot/native,snapshot/overlayfs"]) == sorted(
        f"overlayfs:default/{n}" for n in ("2/" + chain[0], "4/" + chain[1], "6/" + chain[2], "7/c1"))
    assert snapshot_dirs(daemon) == [] and list(c.content.walk()) == []


def test_namespaces_share_blobs_and_unpack_their_own_chains(daemon: InProcessDaemon, pushed: Registry,
                                                            samples: dict[str, SampleImage]) -> None:
    c, lab = daemon.client(), daemon.client("lab")
    chain = chain_ids(samples["layered"].diff_ids)
    c.pull(pushed.ref("layered"), plain_http=True)
    got: list[Any] = []
    events = events_of(daemon, lambda: got.append(lab.pull(pushed.ref("layered"), plain_http=True)))
    assert got[0].fetch.served_by == {}  # content sharing: nothing downloaded again
    assert [t for t, ns, _ in events if ns == "lab"].count("/snapshot/commit") == 3  # as containerd 1.6
    assert records(c) == records(lab) == sorted(chain)
    store = (daemon.root / "io.containerd.content.v1.content" / "blobs" / "sha256")
    assert len(list(store.iterdir())) == 5  # the bytes are stored once
    assert len(snapshot_dirs(daemon)) == 6  # each namespace has its own backend snapshots
    lab.images.delete(pushed.ref("layered"), sync=True)
    assert records(lab) == [] and records(c) == sorted(chain)
    assert len(snapshot_dirs(daemon)) == 3 and len(list(store.iterdir())) == 5
    assert c.images.check(pushed.ref("layered")).complete


# -- bad input: nothing committed, nothing half-made left ----------------------------------------

def _nothing_left(daemon: InProcessDaemon, c: Client) -> None:
    assert c.images.list() == [] and records(c) == [] and c.leases.list() == []
    collect(daemon)
    assert list(c.content.walk()) == [] and c.content.list_statuses() == []
    assert snapshot_dirs(daemon) == []


def test_digest_mismatch_from_a_misbehaving_registry(daemon: InProcessDaemon, pushed: Registry,
                                                     samples: dict[str, SampleImage]) -> None:
    c = daemon.client()
    proxy = FaultyProxy(pushed.host)
    try:
        proxy.add("GET", f"/blobs/{samples['layered'].layers[2].digest}", "corrupt", times=10)
        with pytest.raises(FailedPrecondition):
            c.pull(f"{proxy.host}/layered:latest", plain_http=True)
    finally:
        proxy.close()
    _nothing_left(daemon, c)


def _push(registry: Registry, name: str, layers: list[bytes], *, diff_ids: list[str] | None = None) -> str:
    img = _image(name, [(tar, name) for tar in layers], BlobMap())
    if diff_ids is not None:  # a config that lies about the layers
        import json

        from pyctrd.core.images.manifest import Manifest, encode
        from pyctrd.core.ocispec import MEDIA_TYPE_OCI_CONFIG, MEDIA_TYPE_OCI_MANIFEST, Descriptor
        doc = json.loads(img.blobs[img.config.digest])
        doc["rootfs"]["diff_ids"] = diff_ids
        data = encode(doc)
        cdesc = Descriptor(MEDIA_TYPE_OCI_CONFIG, img.blobs.add(data), len(data))
        mdata = encode(Manifest(MEDIA_TYPE_OCI_MANIFEST, cdesc, img.layers).to_json())
        mdesc = Descriptor(MEDIA_TYPE_OCI_MANIFEST, img.blobs.add(mdata), len(mdata))
        push_image(DockerResolver(), registry.ref(name), img.blobs, mdesc)
    else:
        push_image(DockerResolver(), registry.ref(name), img.blobs, img.manifest)
    return registry.ref(name)


def _tar(*members: tuple[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(data), 0o644, 1_500_000_000
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def test_malformed_images_fail_before_anything_is_committed(daemon: InProcessDaemon, pushed: Registry) -> None:
    c = daemon.client()
    good = _tar(("hello", b"hi\n"))
    ref = _push(pushed, "bad/more-diffids", [good], diff_ids=["sha256:" + "1" * 64, "sha256:" + "2" * 64])
    with pytest.raises(InvalidArgument, match="number of layers and diffIDs"):
        c.pull(ref, plain_http=True)
    c.images.delete(ref)
    ref = _push(pushed, "bad/wrong-diffid", [good], diff_ids=["sha256:" + "3" * 64])
    with pytest.raises(FailedPrecondition, match="wrong diff id"):
        c.pull(ref, plain_http=True)
    c.images.delete(ref)
    _nothing_left(daemon, c)


def test_hostile_layers_stay_inside_or_fail_cleanly(daemon: InProcessDaemon, pushed: Registry) -> None:
    c = daemon.client()
    escaping = _push(pushed, "bad/escape", [_tar(("../../../../evil", b"pwned"), ("ok", b"fine"))])
    c.pull(escaping, plain_http=True)  # containerd's rule: paths are clamped inside the root
    assert not list(daemon.root.rglob("evil")) or all("/snapshots/" in str(p) for p in daemon.root.rglob("evil"))
    assert not (daemon.root / OVERLAY / "evil").exists() and not Path("/evil").exists()
    c.images.delete(escaping, sync=True)
    invalid = _push(pushed, "bad/whiteout", [_tar(("etc/.wh..", b""))])
    with pytest.raises(InvalidArgument, match="invalid whiteout"):
        c.pull(invalid, plain_http=True)
    assert records(c) == []  # the extract snapshot was removed
    c.images.delete(invalid)
    _nothing_left(daemon, c)
    with pytest.raises(NotFound):
        c.pull(pushed.ref("no-such-image"), plain_http=True)
