"""Image documents, references, platforms and labels: pure logic, no store needed."""
from __future__ import annotations

import hashlib
import json

import pytest

from pyctrd.core.images import (
    Image,
    append_distribution_source,
    chain_ids,
    children_labels,
    distribution_source_key,
    manifest_descriptor,
    normalize,
    parse_config,
    parse_docker_ref,
    parse_document,
    parse_index,
    parse_manifest,
    parse_spec,
    select_mount_candidate,
)
from pyctrd.core.images import platforms as plat
from pyctrd.core.images.manifest import MAX_LAYERS, MAX_MANIFEST_SIZE, Manifest, encode
from pyctrd.core.images.mediatypes import diff_compression, is_layer_type, kind_of
from pyctrd.core.ocispec import (
    MEDIA_TYPE_DOCKER_CONFIG,
    MEDIA_TYPE_DOCKER_MANIFEST,
    MEDIA_TYPE_DOCKER_MANIFEST_LIST,
    MEDIA_TYPE_OCI_CONFIG,
    MEDIA_TYPE_OCI_INDEX,
    MEDIA_TYPE_OCI_LAYER_GZIP,
    MEDIA_TYPE_OCI_MANIFEST,
    Descriptor,
    Platform,
)
from pyctrd.errdefs import InvalidArgument, NotImplemented

D = "sha256:" + "a" * 64
CFG = {"mediaType": MEDIA_TYPE_OCI_CONFIG, "digest": D, "size": 10}
LAYER = {"mediaType": MEDIA_TYPE_OCI_LAYER_GZIP, "digest": "sha256:" + "b" * 64, "size": 20}


def man(**over: object) -> bytes:
    doc: dict[str, object] = {"schemaVersion": 2, "config": CFG, "layers": [LAYER]}
    doc.update(over)
    return json.dumps({k: v for k, v in doc.items() if v is not ...}).encode()


def test_manifest_round_trip_matches_go_encoding() -> None:
    m = parse_manifest(man(), MEDIA_TYPE_OCI_MANIFEST)
    assert repr(m) == "<Manifest oci config=sha256:aaaaaaaaaaaa layers=1>"
    desc, data = manifest_descriptor(m)
    # Go's json.Marshal of ocispec.Manifest: compact, schemaVersion, config, layers
    assert data == b'{"schemaVersion":2,"config":' + json.dumps(CFG, separators=(",", ":")).encode() + \
        b',"layers":[' + json.dumps(LAYER, separators=(",", ":")).encode() + b"]}"
    assert desc.digest == "sha256:" + hashlib.sha256(data).hexdigest() and desc.size == len(data)
    assert parse_manifest(data, MEDIA_TYPE_OCI_MANIFEST) == m


def test_reference_manifest_size_matches_containerd() -> None:
    """The real layered manifest (outputs/manifest-layered.txt) re-encodes to the same digest
    (its builder wrote compact JSON plus a newline, as Go's json.Encoder does)."""
    digests = ["509e1d128b6c6bad44b611f22a8d75afc96ecb75428c690933960cc82e9903fd",
               "8e84d07afc1616afedde52f470d235558f90b4a1aee9bd863b7b90ea6be86406",
               "60e3561eaa54ecbb7b81ddae348891ea6dfa5cada9490229a38f7f5734a807bf"]
    layers = tuple(Descriptor(MEDIA_TYPE_OCI_LAYER_GZIP, "sha256:" + d, s)
                   for d, s in zip(digests, (1085074, 292, 82), strict=True))
    cfg = Descriptor(MEDIA_TYPE_OCI_CONFIG, "sha256:bca1a1a4c9a5ca0a0a9ddc9c19de5835cdaec3208581698912b6a02a49f06fff", 860)
    _, data = manifest_descriptor(Manifest(MEDIA_TYPE_OCI_MANIFEST, cfg, layers))
    assert len(data + b"\n") == 656
    assert hashlib.sha256(data + b"\n").hexdigest() == "bcc4355d78a030eac9382eddb58cccf5ea4a47ee7984eeb78dd1806e2bcc054d"


MALFORMED = [
    (b"{not json", InvalidArgument, "malformed JSON"),
    (b"[1, 2]", InvalidArgument, "expected a JSON object"),
    (b'"string"', InvalidArgument, "expected a JSON object"),
    (man(config=...), InvalidArgument, "no config"),
    (man(schemaVersion=...), InvalidArgument, "schemaVersion must be 2"),
    (man(schemaVersion=1), InvalidArgument, "schemaVersion must be 2"),
    (man(layers="nope"), InvalidArgument, "layers must be a list"),
    (man(config="nope"), InvalidArgument, "descriptor must be a JSON object"),
    (man(config={**CFG, "size": "10"}), InvalidArgument, "malformed descriptor"),
    (man(config={**CFG, "size": -1}), InvalidArgument, "malformed descriptor"),
    (man(config={**CFG, "digest": "sha256:xyz"}), InvalidArgument, "invalid digest"),
    (man(config={**CFG, "digest": "sha512:" + "a" * 128}), NotImplemented, "only sha256"),
    (man(layers=[{**LAYER, "mediaType": ""}]), InvalidArgument, "layers[0] has no mediaType"),
    (man(layers=[LAYER] * (MAX_LAYERS + 1)), InvalidArgument, "more than the limit"),
    (man(manifests=[]), InvalidArgument, "expected manifest but found index"),
    (man(mediaType=MEDIA_TYPE_OCI_INDEX), InvalidArgument, "expected manifest but found index"),
    (man(mediaType=5), InvalidArgument, "mediaType must be a string"),
    (man(fsLayers=[{}]), NotImplemented, "schema 1"),
    (man(annotations=[1]), InvalidArgument, "annotations"),
    # wrong types inside a descriptor: refused as Go's encoding/json refuses them, not dropped
    (man(layers=[{**LAYER, "platform": "linux"}]), InvalidArgument, "platform must be an object"),
    (man(layers=[{**LAYER, "platform": {"os": 5}}]), InvalidArgument, "platform must be an object"),
    (man(layers=[{**LAYER, "annotations": {"a": 1}}]), InvalidArgument, "annotations must be an object of strings"),
    (man(layers=[{**LAYER, "urls": "http://x"}]), InvalidArgument, "urls must be a list of strings"),
    (b" " * (MAX_MANIFEST_SIZE + 1), InvalidArgument, "larger than"),
]


@pytest.mark.parametrize(("data", "kind", "text"), MALFORMED, ids=[m[2] + str(i) for i, m in enumerate(MALFORMED)])
def test_malformed_manifests_are_refused_clearly(data: bytes, kind: type[Exception], text: str) -> None:
    with pytest.raises(kind, match=text.replace("[", r"\[").replace("]", r"\]")):
        parse_manifest(data, MEDIA_TYPE_OCI_MANIFEST)


def test_index_validation() -> None:
    entry = {"mediaType": MEDIA_TYPE_OCI_MANIFEST, "digest": D, "size": 5,
             "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}}
    idx = parse_index(json.dumps({"schemaVersion": 2, "manifests": [entry]}).encode(), MEDIA_TYPE_OCI_INDEX)
    assert repr(idx) == "<Index manifests=1>" and idx.manifests[0].platform == Platform("linux", "arm64", "v8")
    with pytest.raises(InvalidArgument, match="no manifests list"):
        parse_index(b'{"schemaVersion": 2}', MEDIA_TYPE_OCI_INDEX)
    with pytest.raises(InvalidArgument, match="expected index but found manifest"):
        parse_index(man(manifests=[]), MEDIA_TYPE_DOCKER_MANIFEST_LIST)
    with pytest.raises(NotImplemented, match="unsupported index media type"):
        parse_index(b"{}", MEDIA_TYPE_OCI_MANIFEST)


def test_unknown_media_types_are_not_implemented() -> None:
    for mt in ("application/vnd.docker.distribution.manifest.v1+prettyjws", "text/html", ""):
        with pytest.raises(NotImplemented):
            parse_document(Descriptor(mt, D, 2), b"{}")
    with pytest.raises(NotImplemented, match="unrecognised media type"):
        diff_compression("application/json")
    assert [diff_compression(m) for m in (MEDIA_TYPE_OCI_LAYER_GZIP, "application/vnd.oci.image.layer.v1.tar",
                                          "application/vnd.oci.image.layer.v1.tar+zstd",
                                          "application/vnd.docker.image.rootfs.diff.tar")] == ["gzip", "", "zstd", "unknown"]
    assert kind_of(MEDIA_TYPE_DOCKER_CONFIG) == "config" and is_layer_type(MEDIA_TYPE_OCI_LAYER_GZIP)


def test_config_parsing() -> None:
    cfg = parse_config(json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                                   "rootfs": {"type": "layers", "diff_ids": [D]}}).encode())
    assert repr(cfg) == "<ImageConfig linux/amd64 layers=1>" and cfg.config["Cmd"] == ["sh"]
    for bad, text in [({"rootfs": {"type": "tar"}}, "rootfs"), ({"rootfs": {"type": "layers", "diff_ids": [1]}}, "diff_ids"),
                      ({"rootfs": {"type": "layers"}, "os": 3}, "os must be a string"),
                      ({"rootfs": {"type": "layers"}, "config": []}, "config.config")]:
        with pytest.raises(InvalidArgument, match=text):
            parse_config(json.dumps(bad).encode())


@pytest.mark.parametrize(("given", "want"), [
    ("busybox", "docker.io/library/busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36"),
    ("library/busybox", "docker.io/library/busybox:latest"),
    ("user/app", "docker.io/user/app:latest"),
    ("index.docker.io/busybox", "docker.io/library/busybox:latest"),
    ("127.0.0.1:5000/x", "127.0.0.1:5000/x:latest"),
    ("localhost/a/b:v1", "localhost/a/b:v1"),
    ("busybox:1@sha256:" + "c" * 64, "docker.io/library/busybox@sha256:" + "c" * 64),
    ("ghcr.io/o/r@sha256:" + "c" * 64, "ghcr.io/o/r@sha256:" + "c" * 64),
])
def test_reference_normalisation(given: str, want: str) -> None:
    assert normalize(given) == want


@pytest.mark.parametrize(("given", "text"), [
    ("", "at least one component"), ("Busybox", "must be lowercase"), ("a" * 64, "64-byte hexadecimal"),
    ("busybox:", "invalid reference format"), ("bad name", "invalid reference format"),
    ("x@sha256:123", "invalid reference format"), ("a/" + "b" * 260, "not be more than 255"),
])
def test_reference_errors(given: str, text: str) -> None:
    with pytest.raises(InvalidArgument, match=text):
        parse_docker_ref(given)


def test_familiar_and_spec() -> None:
    assert parse_docker_ref("docker.io/library/busybox:latest").familiar == "busybox:latest"
    assert parse_docker_ref("docker.io/user/app:1").familiar == "user/app:1"
    s = parse_spec("127.0.0.1:5000/a/b:v1@sha256:" + "d" * 64)
    assert (s.hostname, s.repository, s.tag, s.digest) == ("127.0.0.1:5000", "a/b", "v1", "sha256:" + "d" * 64)
    for bad in ("http://x/y:1", "/nohost"):
        with pytest.raises(InvalidArgument):
            parse_spec(bad)


def test_platform_matching() -> None:
    amd = plat.only(plat.parse("linux/amd64"))
    assert amd.match(Platform("linux", "x86_64")) and amd.match(Platform("linux", "386"))
    assert not amd.match(Platform("linux", "arm64")) and not amd.match(Platform("windows", "amd64"))
    assert amd.less(Platform("linux", "amd64"), Platform("linux", "386"))
    strict = plat.only_strict(plat.parse("linux/amd64"))
    assert not strict.match(Platform("linux", "386"))
    arm = plat.only(plat.parse("linux/arm64"))
    assert arm.match(Platform("linux", "arm", "v7")) and arm.match(Platform("linux", "aarch64", "8"))
    assert plat.ALL.match(Platform("plan9", "mips")) and repr(plat.ALL) == "<platforms all>"
    assert plat.parse("arm") == Platform("linux", "arm") and plat.parse("linux/arm/7") == Platform("linux", "arm", "v7")
    assert plat.default_platform().os == "linux"
    for bad in ("linux/*", "a/b/c/d", "nonsense", "linux/am d64"):
        with pytest.raises(InvalidArgument):
            plat.parse(bad)


def test_chain_ids() -> None:
    a, b, c = ("sha256:" + ch * 64 for ch in "abc")
    ids = chain_ids([a, b, c])
    assert ids[0] == a
    assert ids[1] == "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()
    assert ids[2] == "sha256:" + hashlib.sha256(f"{ids[1]} {c}".encode()).hexdigest()
    assert chain_ids([]) == []


def test_gc_child_labels_like_containerd() -> None:
    cfg = Descriptor(MEDIA_TYPE_OCI_CONFIG, D, 1)
    ls = [Descriptor(MEDIA_TYPE_OCI_LAYER_GZIP, "sha256:" + ch * 64, 1) for ch in "bc"]
    ms = [Descriptor(MEDIA_TYPE_DOCKER_MANIFEST, "sha256:" + ch * 64, 1) for ch in "de"]
    assert children_labels([cfg, *ls]) == {
        "containerd.io/gc.ref.content.config": D,
        "containerd.io/gc.ref.content.l.0": ls[0].digest, "containerd.io/gc.ref.content.l.1": ls[1].digest}
    assert children_labels(ms) == {"containerd.io/gc.ref.content.m.0": ms[0].digest,
                                   "containerd.io/gc.ref.content.m.1": ms[1].digest}
    odd = Descriptor("application/x-thing", "sha256:" + "f" * 64, 1)
    assert children_labels([odd, odd]) == {"containerd.io/gc.ref.content.0": odd.digest,
                                           "containerd.io/gc.ref.content.1": odd.digest}


def test_distribution_source_labels() -> None:
    assert distribution_source_key("127.0.0.1:5000/busybox:latest") == (
        "containerd.io/distribution.source.127.0.0.1", "busybox")
    assert distribution_source_key("docker.io/library/busybox@sha256:" + "a" * 64)[1] == "library/busybox"
    assert append_distribution_source("", "layered") == "layered"
    assert append_distribution_source("layered", "busybox") == "busybox,layered"
    assert append_distribution_source("busybox,layered", "busybox") == "busybox,layered"
    labels = {"containerd.io/distribution.source.127.0.0.1": "team/a,team/b,other"}
    assert select_mount_candidate("127.0.0.1:5000/team/c:1", labels) == "team/b"
    assert select_mount_candidate("127.0.0.2:5000/team/c:1", labels) == ""


def test_small_reprs() -> None:
    from pyctrd.core.remotes import Progress, make_ref_key
    from pyctrd.images.blobmap import BlobMap

    assert repr(Progress("layer-sha256:ab", "downloading", 5, 10)) == "<Progress layer-sha256:ab downloading 5/10>"
    assert repr(Progress("127.0.0.1:5000/x:1", "resolving")) == "<Progress 127.0.0.1:5000/x:1 resolving>"
    assert repr(BlobMap([b"abc", b"de"])) == "<BlobMap blobs=2 bytes=5>"
    named = Descriptor(MEDIA_TYPE_OCI_MANIFEST, D, 1, {"org.opencontainers.image.ref.name": "latest"})
    assert make_ref_key(named) == f"manifest-latest@{D}"
    assert make_ref_key(Descriptor("application/x-y", D, 1)) == f"unknown-{D}"


def test_image_record_repr() -> None:
    img = Image("docker.io/library/busybox:latest", Descriptor(MEDIA_TYPE_OCI_MANIFEST, D, 349))
    assert repr(img) == "<Image docker.io/library/busybox:latest manifest sha256:aaaaaaaaaaaa>"
    assert "busybox" in img._repr_html_()
    assert encode({"a": "<&>"}) == b'{"a":"\\u003c\\u0026\\u003e"}'
