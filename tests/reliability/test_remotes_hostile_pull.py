"""Hostile registry answers through the daemon's whole pull path: ``client.pull`` (fetch into the
daemon's content store, record the image, unpack through its differ and snapshotter).

test_remotes_hostile.py drives the fetch alone; here every family goes through a real daemon
process (decompression bombs through a daemon: test_decompression_bomb.py):

- blobs whose bytes are not their digest (a layer, a config, a manifest by digest, a tag whose
  body is not the digest the registry announced);
- malformed JSON: manifests, indexes and configs that are not JSON, truncated, of the wrong
  shape or with fields of the wrong type, and duplicate keys;
- media types the pull does not know (manifest, index entry, layer, config);

After every case: an error of the expected kind naming what was wrong, no image record when the
fetch failed (containerd records the image after the fetch, before the unpack), no snapshot left
once the pull's lease is gone, no ingest holding unverified bytes, every blob in the store whole,
and the image pulled first still there and unpacked. What containerd 1.6 does is noted per case,
and the last test pulls one image of each family with Debian's real containerd to compare.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pyctrd.client import Client
from pyctrd.core import digest as digests
from pyctrd.core.images import chain_ids
from pyctrd.core.ocispec import (
    MEDIA_TYPE_OCI_CONFIG,
    MEDIA_TYPE_OCI_INDEX,
    MEDIA_TYPE_OCI_LAYER,
    MEDIA_TYPE_OCI_MANIFEST,
)
from pyctrd.errdefs import FailedPrecondition, InvalidArgument, NotFound, PyctrdError
from pyctrd.errdefs import NotImplemented as NotImplementedKind
from tests.fixtures.daemon import DaemonProcess, start_daemon
from tests.reliability.figures import record
from tests.reliability.hostile_registry import Blob, HostileRegistry, Rule, image
from tests.reliability.test_crash_storage import _layer

pytestmark = pytest.mark.requires_root


@dataclass
class World:
    d: DaemonProcess
    reg: HostileRegistry
    c: Client
    good: list[Blob]  # manifest, config, layers of the image pulled first
    chain: set[str]  # its snapshots


@pytest.fixture(scope="module")
def w() -> Iterator[World]:
    base = Path(tempfile.mkdtemp(prefix="pyctrd-hp-", dir="/tmp"))
    d = start_daemon(base)
    reg = HostileRegistry()
    try:
        c = d.client("hostile-pull")
        manifest, blobs = image([_layer(1), _layer(2)])
        reg.add(manifest, tag="good").add(*blobs)
        c.pull(reg.ref("good"), plain_http=True)
        chain = set(chain_ids([b.digest for b in blobs[1:]]))
        yield World(d, reg, c, [manifest, *blobs], chain)
    finally:
        reg.close()
        rc = d.stop()
        shutil.rmtree(base, ignore_errors=True)
        assert rc == 0, d.log_text()[-3000:]


def pull_fails(w: World, ref: str, kind: type[PyctrdError], *names: str) -> PyctrdError:
    with pytest.raises(kind) as ei:
        w.c.pull(ref, plain_http=True)
    msg = str(ei.value)
    assert "Traceback" not in msg and all(n in msg for n in names), (msg, names)
    return ei.value


def recorded(w: World, ref: str) -> bool:
    try:
        w.c.images.get(ref)
    except NotFound:
        return False
    return True


def settled(w: World) -> None:
    """After a failed pull, once its lease is gone and a collection ran: only the good image's
    snapshots, no ingest holding bytes, every blob whole, the good image whole and unpacked."""
    w.c.leases.create("gc")
    w.c.leases.delete("gc", sync=True)
    snaps = list(w.c.snapshotter("overlayfs").walk())
    assert {s.name for s in snaps} == w.chain, snaps
    assert all(s.kind.name == "COMMITTED" for s in snaps), snaps
    assert not [s for s in w.c.content.list_statuses() if s.offset], "an ingest kept unverified bytes"
    for info in w.c.content.walk():
        r = w.c.content.reader_at(info.digest)
        try:
            assert digests.from_bytes(r.read_at(0, r.size)) == info.digest
        finally:
            r.close()
    assert recorded(w, w.reg.ref("good")) and all(w.c.content.info(b.digest) for b in w.good)


def document(media_type: str, doc: object) -> Blob:
    return Blob(media_type, json.dumps(doc).encode())


def manifest_of(config: Blob, layers: list[Blob], media_type: str = MEDIA_TYPE_OCI_MANIFEST) -> Blob:
    return document(media_type, {"schemaVersion": 2, "mediaType": media_type, "config": config.descriptor(),
                                 "layers": [b.descriptor() for b in layers]})


def config_of(diff_ids: list[str]) -> Blob:
    return document(MEDIA_TYPE_OCI_CONFIG, {"architecture": "amd64", "os": "linux",
                                            "rootfs": {"type": "layers", "diff_ids": diff_ids}})


# -- blobs that are not their digest --------------------------------------------------------------

@pytest.mark.parametrize("which", ["layer", "config", "manifest-by-digest", "manifest-by-tag"])
def test_a_blob_that_does_not_match_its_digest(w: World, which: str) -> None:
    """containerd verifies every blob against its descriptor as it commits ("unexpected commit
    digest ..., expected ...: failed precondition"), so a corrupted answer never becomes content.
    The error names the digest; the ingest keeps nothing unverified; once the registry answers
    right, the same pull completes."""
    manifest, blobs = image([_layer(10 + len(which)), _layer(20 + len(which), files=1)])
    tag = f"corrupt-{which}"
    w.reg.add(manifest, tag=tag).add(*blobs)
    bad = {"layer": blobs[1], "config": blobs[0]}.get(which, manifest)
    ref = w.reg.ref(tag)
    if which == "manifest-by-digest":
        ref = f"{w.reg.host}/hostile@{manifest.digest}"
    # by tag: the registry announces the right Docker-Content-Digest, then serves other bytes
    w.reg.rules[bad.digest] = Rule("corrupt", after=17)
    err = pull_fails(w, ref, FailedPrecondition, bad.digest)
    assert "unexpected" in str(err) or "digest" in str(err)
    assert not recorded(w, ref)
    with pytest.raises(NotFound):
        w.c.content.info(bad.digest)
    settled(w)
    w.reg.rules.clear()  # the registry recovers: the same pull now completes
    w.c.pull(ref, plain_http=True)
    assert w.c.content.info(bad.digest).size == len(bad.data)
    w.c.images.delete(ref, sync=True)
    settled(w)
    record("remotes", "blobs not matching their digest (through a pull)", 1)


# -- malformed JSON -------------------------------------------------------------------------------

def _ok_parts(n: int) -> tuple[Blob, Blob]:
    layer = Blob(MEDIA_TYPE_OCI_LAYER, _layer(40 + n, files=1))
    return config_of([layer.digest]), layer


def malformed_manifests(config: Blob, layer: Blob) -> dict[str, bytes]:
    cfg = config.descriptor()

    def m(**kw: object) -> bytes:
        return json.dumps({"schemaVersion": 2, "config": cfg, "layers": [layer.descriptor()], **kw}).encode()

    return {
        "not JSON": b"this is not json",
        "truncated": m()[:-12],
        "a JSON array": b"[" + m() + b"]",
        "a JSON string": b'"manifest"',
        "empty body": b" ",
        "invalid UTF-8": m()[:-1] + b', "x": "\xff\xfe"}',
        "layers is a string": m(layers="all of them"),
        "config is a list": m(config=[cfg]),
        "size is a string": m(config={**cfg, "size": str(cfg["size"])}),
        "digest is a number": m(config={**cfg, "digest": 12}),
        "mediaType is a number": m(mediaType=7),
        "schemaVersion 1": m(schemaVersion=1),
        "no config": json.dumps({"schemaVersion": 2, "layers": [layer.descriptor()]}).encode(),
        "manifests in a manifest": m(manifests=[]),
    }


MANIFEST_CASES = sorted(malformed_manifests(Blob("x", b"c"), Blob("x", b"l")))


@pytest.mark.parametrize("case", MANIFEST_CASES)
def test_a_malformed_manifest(w: World, case: str) -> None:
    """Malformed manifests stop the pull at the fetch with InvalidArgument (containerd: a JSON
    error, or its validateMediaType's): the manifest may be stored (its bytes are its digest),
    but no image is recorded, no layer is fetched and nothing is unpacked."""
    config, layer = _ok_parts(MANIFEST_CASES.index(case))
    manifest = Blob(MEDIA_TYPE_OCI_MANIFEST, malformed_manifests(config, layer)[case])
    tag = f"mm{MANIFEST_CASES.index(case)}"
    w.reg.add(manifest, tag=tag).add(config, layer)
    pull_fails(w, w.reg.ref(tag), InvalidArgument)
    assert not recorded(w, w.reg.ref(tag))
    with pytest.raises(NotFound):
        w.c.content.info(layer.digest)
    settled(w)
    record("remotes", "malformed JSON: manifests (through a pull)", 1)


def test_malformed_indexes_and_configs(w: World) -> None:
    """Indexes fail at the fetch (no record); a config is a leaf of the fetch, so - as with
    containerd's ``ctr images pull``, which records the image after the fetch - the image is
    recorded and the unpack refuses it with InvalidArgument: nothing is unpacked."""
    config, layer = _ok_parts(99)
    good = manifest_of(config, [layer])
    entry = {**good.descriptor(), "platform": {"architecture": "amd64", "os": "linux"}}
    indexes = {
        "not JSON": b"<html>index</html>",
        "truncated": json.dumps({"schemaVersion": 2, "manifests": [entry]}).encode()[:-7],
        "manifests is an object": json.dumps({"schemaVersion": 2, "manifests": entry}).encode(),
        "entry is a string": json.dumps({"schemaVersion": 2, "manifests": ["sha256:" + "0" * 64]}).encode(),
        "platform is a string": json.dumps({"schemaVersion": 2, "manifests": [{**entry, "platform": "linux"}]}).encode(),
        "an index holding layers": json.dumps({"schemaVersion": 2, "manifests": [], "layers": []}).encode(),
    }
    configs = {
        "not JSON": b"\x00\x01config",
        "truncated": config.data[:-9],
        "rootfs is a list": json.dumps({"os": "linux", "rootfs": ["layers"]}).encode(),
        "diff_ids are numbers": json.dumps({"os": "linux", "rootfs": {"type": "layers", "diff_ids": [1]}}).encode(),
        "os is a number": json.dumps({"os": 5, "rootfs": {"type": "layers", "diff_ids": [layer.digest]}}).encode(),
    }
    w.reg.add(good, config, layer)
    for i, (case, body) in enumerate(indexes.items()):
        idx = Blob(MEDIA_TYPE_OCI_INDEX, body)
        w.reg.add(idx, tag=f"mi{i}")
        err = pull_fails(w, w.reg.ref(f"mi{i}"), InvalidArgument)
        assert not recorded(w, w.reg.ref(f"mi{i}")), (case, err)
    for i, body in enumerate(configs.values()):
        bad = Blob(MEDIA_TYPE_OCI_CONFIG, body)
        m = manifest_of(bad, [layer])
        w.reg.add(m, tag=f"mc{i}").add(bad)
        pull_fails(w, w.reg.ref(f"mc{i}"), InvalidArgument, "config")
        w.c.images.delete(w.reg.ref(f"mc{i}"), sync=True)
    settled(w)
    record("remotes", "malformed JSON: indexes (through a pull)", len(indexes))
    record("remotes", "malformed JSON: configs (through a pull)", len(configs))


def test_duplicate_keys_take_the_last_value_as_go_does(w: World) -> None:
    """Go's encoding/json (containerd) keeps the last of duplicate keys, so does Python's json:
    a manifest naming two layer lists pulls the second, whatever a scanner reading the first
    one believed. (Two parsers disagreeing here would be the hazard.)"""
    config, layer = _ok_parts(7)
    decoy = Blob(MEDIA_TYPE_OCI_LAYER, _layer(8, files=1))
    body = (f'{{"schemaVersion": 2, "config": {json.dumps(config.descriptor())}, '
            f'"layers": [{json.dumps(decoy.descriptor())}], "layers": [{json.dumps(layer.descriptor())}]}}').encode()
    manifest = Blob(MEDIA_TYPE_OCI_MANIFEST, body)
    w.reg.add(manifest, tag="dup").add(config, layer, decoy)
    result = w.c.pull(w.reg.ref("dup"), plain_http=True)
    assert result.unpacked[0][1].chain_id == layer.digest  # one layer: its chain ID is its diff ID
    with pytest.raises(NotFound):
        w.c.content.info(decoy.digest)
    w.c.images.delete(w.reg.ref("dup"), sync=True)
    settled(w)
    record("remotes", "malformed JSON: duplicate keys (through a pull)", 1)


# -- media types the pull does not know -----------------------------------------------------------
# What containerd 1.6.20 (Debian's, installed here) does: remotes.FetchHandler fetches any
# descriptor; images.Children gives an unknown type no children ("encountered unknown type");
# ctr's pull records the image after the fetch; the unpack's images.Manifest refuses an unknown
# manifest type ("unexpected media type ...: not found"); getLayers pairs *every* manifest layer
# with a diff ID ("mismatched image rootfs and manifest layers") and the applier has no stream
# processor for an unknown layer type ("no processor for media-type"). Those two are plain Go
# errors (Unknown over gRPC); pyctrd says InvalidArgument and NotImplemented. (containerd 1.6.25+
# skips non-layer types in getLayers: OCI artifacts; 1.6.20 does not, nor do we.)
UNKNOWN = "application/vnd.example.unknown.v1+json"


def test_unknown_manifest_and_index_entry_types(w: World) -> None:
    config, layer = _ok_parts(200)
    odd = Blob(UNKNOWN, b'{"schemaVersion": 2, "what": "not an image"}')
    idx = document(MEDIA_TYPE_OCI_INDEX, {"schemaVersion": 2, "mediaType": MEDIA_TYPE_OCI_INDEX, "manifests": [
        {**odd.descriptor(), "platform": {"architecture": "amd64", "os": "linux"}}]})
    w.reg.add(odd, tag="unknown-top").add(idx, tag="unknown-entry").add(config, layer)
    for tag in ("unknown-top", "unknown-entry"):
        ref = w.reg.ref(tag)
        pull_fails(w, ref, NotFound, f"unexpected media type {UNKNOWN}", odd.digest)
        assert recorded(w, ref) and w.c.content.info(odd.digest)  # fetched and recorded, as ctr's pull
        w.c.images.delete(ref, sync=True)
        w.c.pull(ref, plain_http=True, unpack=False)  # ctr content fetch: nothing to refuse
        w.c.images.delete(ref, sync=True)
    settled(w)
    record("remotes", "unknown media types: manifest, index entry (through a pull)", 2)


def test_unknown_layer_and_config_types(w: World) -> None:
    """An unknown layer type is fetched and refused by the applier (NotImplemented, the type
    named); an "artifact" entry beside a real layer breaks the layer/diff ID pairing
    (InvalidArgument); an unknown *config* type is harmless: the unpack reads the config by its
    descriptor whatever its type (so does containerd's RootFS) and the manifest still keeps it
    (the ``gc.ref.content.<n>`` label containerd gives children of unknown type)."""
    config, layer = _ok_parts(201)
    odd_layer = Blob("application/vnd.example.layer.v1.tar", _layer(202, files=1))
    m1 = manifest_of(config_of([odd_layer.digest]), [odd_layer])
    m2 = manifest_of(config, [layer, Blob("application/vnd.example.sbom.v1+json", b'{"sbom": []}')])
    odd_config = Blob("application/vnd.example.config.v1+json", config.data)
    m3 = manifest_of(odd_config, [layer])
    w.reg.add(m1, tag="odd-layer").add(config_of([odd_layer.digest]), odd_layer)
    w.reg.add(m2, tag="artifact").add(Blob("application/vnd.example.sbom.v1+json", b'{"sbom": []}'), config, layer)
    w.reg.add(m3, tag="odd-config").add(odd_config)
    pull_fails(w, w.reg.ref("odd-layer"), NotImplementedKind, odd_layer.media_type)
    assert w.c.content.info(odd_layer.digest)  # fetched: containerd's fetch takes any type
    pull_fails(w, w.reg.ref("artifact"), InvalidArgument, "diffIDs")
    result = w.c.pull(w.reg.ref("odd-config"), plain_http=True)
    assert result.unpacked[0][1].chain_id == layer.digest
    w.c.leases.create("gc")
    w.c.leases.delete("gc", sync=True)
    assert w.c.content.info(odd_config.digest)  # still referenced by its manifest
    for tag in ("odd-layer", "artifact", "odd-config"):
        w.c.images.delete(w.reg.ref(tag), sync=True)
    settled(w)
    record("remotes", "unknown media types: layer, artifact entry, config (through a pull)", 3)


@pytest.mark.needs_ctr
def test_the_families_as_real_containerd_pulls_them(w: World, short_tmp: Path) -> None:
    """Images of each family pulled three ways: Debian's ``ctr`` into a private real containerd,
    pyctrd's client into pyctrd, and ``ctr`` into pyctrd (Go's pull over pyctrd's services). The
    same outcome each way (refused or pulled), the image recorded by all or by none (recorded
    when the fetch passed: the fetch takes any media type), and containerd's words for why."""
    from tests.shim.private_containerd import CONTAINERD, PrivateContainerd

    if not Path(CONTAINERD).exists():
        pytest.skip("needs Debian's containerd")
    config, layer = _ok_parts(300)
    odd = Blob(UNKNOWN, b'{"schemaVersion": 2, "what": "not an image either"}')
    odd_layer = Blob("application/vnd.example.layer.v1.tar", _layer(301, files=1))
    sbom = Blob("application/vnd.example.sbom.v1+json", b'{"sbom": ["x"]}')
    odd_config = Blob("application/vnd.example.config.v1+json", config.data)
    corrupt = Blob(MEDIA_TYPE_OCI_LAYER, _layer(302, files=1))
    entry = {**manifest_of(config, [layer]).descriptor(), "platform": "linux"}
    w.reg.add(odd, tag="c-top").add(config, layer, odd_layer, sbom, odd_config, corrupt, manifest_of(config, [layer]))
    w.reg.add(manifest_of(config_of([odd_layer.digest]), [odd_layer]), tag="c-layer").add(config_of([odd_layer.digest]))
    w.reg.add(manifest_of(config, [layer, sbom]), tag="c-artifact")
    w.reg.add(manifest_of(odd_config, [layer]), tag="c-config")
    w.reg.add(manifest_of(config_of([corrupt.digest]), [corrupt]), tag="c-corrupt").add(config_of([corrupt.digest]))
    w.reg.add(Blob(MEDIA_TYPE_OCI_MANIFEST, b"this is not json"), tag="c-notjson")
    w.reg.add(document(MEDIA_TYPE_OCI_INDEX, {"schemaVersion": 2, "manifests": [entry]}), tag="c-platform")
    w.reg.rules[corrupt.digest] = Rule("corrupt", after=600)
    # tag -> (what containerd 1.6.20 says when it refuses, "" if it pulls; is the image recorded?)
    said = {"c-top": ("unexpected media type", True), "c-layer": ("no processor for media-type", True),
            "c-artifact": ("mismatched image rootfs and manifest layers", True), "c-config": ("", True),
            "c-corrupt": ("unexpected commit digest", False), "c-notjson": ("invalid character", False),
            "c-platform": ("cannot unmarshal string", False)}
    real = PrivateContainerd(short_tmp / "c")
    real.dir.mkdir()
    try:
        real.start()
        for tag, (words, kept) in said.items():
            ref = w.reg.ref(tag)
            theirs = real.ctr("images", "pull", "--plain-http", ref, namespace="hp", check=False)
            mixed = w.d.ctr("images", "pull", "--plain-http", ref, namespace="hp-ctr", check=False)
            try:
                w.c.pull(ref, plain_http=True)
                ours: PyctrdError | None = None
            except PyctrdError as exc:
                ours = exc
            assert (theirs.returncode != 0) == (mixed.returncode != 0) == (ours is not None) == bool(words), \
                (tag, theirs, mixed, ours)
            assert words in theirs.stderr, (tag, theirs.stderr)
            assert (ref in real.ctr("images", "ls", "-q", namespace="hp").stdout.split()) == kept
            assert recorded(w, ref) == kept and (ref in w.d.ctr("images", "ls", "-q", namespace="hp-ctr").stdout) == kept
            if kept:
                w.c.images.delete(ref, sync=True)
                w.c.with_namespace("hp-ctr").images.delete(ref, sync=True)
    finally:
        real.cleanup()
        del w.reg.rules[corrupt.digest]
    settled(w)
    record("remotes", "hostile registry families compared with a real containerd", len(said))
