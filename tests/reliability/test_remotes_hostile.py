"""Hostile registry answers through the remotes fetch path into a daemon's content store.

What tests/remotes does not cover already: redirects (to another host, to itself, to a
``file://`` URL), bodies that stall, index loops, manifests with thousands of layers, 401
without a challenge, sizes that lie, bodies cut short. Every case ends with a pyctrd error of
a clear kind (or, where the registry's answer is fine after all, the right content), the
credentials never leave their host nor appear in a message, and nothing that failed
verification is committed.
"""
from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from pyctrd.client.content import ContentProxy
from pyctrd.core.leases import lease
from pyctrd.errdefs import FailedPrecondition, InvalidArgument, NotFound, PyctrdError, Unavailable
from pyctrd.remotes import DockerResolver, RetryPolicy, fetch_image

from tests.fixtures.inprocess import InProcessDaemon, inprocess_daemon
from tests.reliability.figures import record, scaled
from tests.reliability.hostile_registry import Blob, HostileRegistry, Rule, image, index

SECRET = "Hostile-Pa55-w0rd"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessDaemon]:
    with inprocess_daemon(tmp_path_factory.mktemp("remotes")) as d:
        d.client().leases.create("fetch")
        yield d


@pytest.fixture
def store(daemon: InProcessDaemon) -> Iterator[ContentProxy]:
    with lease("fetch"):
        yield daemon.client().content


@pytest.fixture
def reg() -> Iterator[HostileRegistry]:
    r = HostileRegistry()
    yield r
    r.close()


def resolver(**kw: object) -> DockerResolver:
    return DockerResolver(plain_http=True, retry=RetryPolicy(attempts=2, sleep=lambda s: None), **kw)  # type: ignore[arg-type]


def committed(store: ContentProxy, digest: str) -> bool:
    try:
        store.info(digest)
    except NotFound:
        return False
    return True


def fails(fn: object, kind: type[PyctrdError] | tuple[type[PyctrdError], ...], match: str = "") -> PyctrdError:
    with pytest.raises(kind, match=match or None) as ei:
        fn()  # type: ignore[operator]
    assert "Traceback" not in str(ei.value) and SECRET not in str(ei.value)
    return ei.value


def test_redirect_to_another_host_keeps_the_credentials_home(reg: HostileRegistry, store: ContentProxy) -> None:
    """Blob downloads are redirected (to storage) all the time; the Authorization header for
    the registry must not follow them, and the content is verified wherever it came from."""
    authed = HostileRegistry(basic_auth=("tester", SECRET))
    other = HostileRegistry(bind="127.0.0.2")  # another host: storage behind the registry
    try:
        manifest, blobs = image([b"layer via redirect"])
        authed.add(manifest, tag="latest").add(*blobs)
        layer = blobs[1]
        other.add(layer)
        authed.rules[layer.digest] = Rule("redirect", to=f"http://{other.host}/v2/hostile/blobs/{layer.digest}")
        r = resolver(credentials=lambda host: ("tester", SECRET))
        result = fetch_image(r, authed.ref(), store, all_platforms=True)
        assert committed(store, layer.digest) and result.served_by[layer.digest] == authed.host
        assert other.seen and not any(auth for _, _, auth in other.seen), "credentials followed the redirect"
        assert any(auth for _, _, auth in authed.seen)
        # the other host lies: nothing is committed
        manifest2, blobs2 = image([b"second layer"])
        authed.add(manifest2, tag="two").add(*blobs2)
        other.rules[blobs2[1].digest] = Rule("body", body=b"x" * len(blobs2[1].data))
        authed.rules[blobs2[1].digest] = Rule("redirect", to=f"http://{other.host}/v2/hostile/blobs/{blobs2[1].digest}")
        fails(lambda: fetch_image(r, authed.ref("two"), store, all_platforms=True), FailedPrecondition,
              "unexpected digest")
        assert not committed(store, blobs2[1].digest)
    finally:
        authed.close()
        other.close()
    record("remotes", "redirects to another host", 2)


@pytest.mark.parametrize("where", ["self", "file", "bad-url", "ftp"])
def test_redirects_that_cannot_be_followed(reg: HostileRegistry, store: ContentProxy, where: str) -> None:
    manifest, blobs = image([f"layer {where}".encode()])
    reg.add(manifest, tag="latest").add(*blobs)
    layer = blobs[1]
    reg.rules[layer.digest] = Rule("redirect", to={
        "self": f"http://{reg.host}/v2/hostile/blobs/{layer.digest}", "file": "file:///etc/passwd",
        "bad-url": "http://[::1", "ftp": "ftp://127.0.0.1/x"}[where])
    fails(lambda: fetch_image(resolver(), reg.ref(), store, all_platforms=True),
          (Unavailable, FailedPrecondition, InvalidArgument), "redirect")
    assert not committed(store, layer.digest) and committed(store, blobs[0].digest)
    record("remotes", "redirects that cannot be followed", 1)


def test_a_stalled_body_times_out_and_resumes_later(reg: HostileRegistry, store: ContentProxy) -> None:
    manifest, blobs = image([b"s" * 5000])
    reg.add(manifest, tag="latest").add(*blobs)
    layer = blobs[1]
    reg.rules[layer.digest] = Rule("stall", after=1000, seconds=30)
    t0 = time.monotonic()
    fails(lambda: fetch_image(resolver(timeout=0.3), reg.ref(), store, all_platforms=True), Unavailable)
    assert time.monotonic() - t0 < 15, "a stalled body must time out"
    assert not committed(store, layer.digest)
    del reg.rules[layer.digest]  # the registry recovers: the next pull completes
    fetch_image(resolver(), reg.ref(), store, all_platforms=True)
    assert committed(store, layer.digest)
    # a stalled manifest answer too
    manifest2, blobs2 = image([b"other"])
    reg.add(manifest2, tag="two").add(*blobs2)
    reg.rules[manifest2.digest] = Rule("stall", after=10, seconds=30)
    fails(lambda: fetch_image(resolver(timeout=0.3), f"{reg.host}/hostile@{manifest2.digest}", store,
                              all_platforms=True), (Unavailable, FailedPrecondition))
    assert not committed(store, manifest2.digest)
    record("remotes", "stalled bodies", 2)


@pytest.mark.parametrize("shape", ["self", "pair"])
def test_index_loops_end(reg: HostileRegistry, store: ContentProxy, shape: str) -> None:
    """Content addressing makes a loop impossible - unless a registry serves, for a digest,
    bytes that are not it: an index "containing itself" (or two containing each other). The
    verification must stop it: a clear error, nothing committed under the lying digest."""
    plat = {"architecture": "amd64", "os": "linux"}
    fake = "sha256:" + ("1" if shape == "self" else "2") * 64
    inner = index([{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": fake, "size": 10,
                    "platform": plat}])
    if shape == "self":
        reg.add(inner, tag="latest")
        reg.rules[fake] = Rule("body", body=inner.data)  # "itself"
    else:
        outer = index([{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": inner.digest,
                        "size": len(inner.data), "platform": plat}])
        reg.add(outer, tag="latest").add(inner)
        reg.rules[fake] = Rule("body", body=outer.data)  # the inner one "contains" the outer one
    t0 = time.monotonic()
    fails(lambda: fetch_image(resolver(), reg.ref(), store), (FailedPrecondition, Unavailable))
    assert time.monotonic() - t0 < 30 and not committed(store, fake)
    record("remotes", "index loops", 1)


@pytest.mark.slow
def test_a_manifest_with_thousands_of_layers(reg: HostileRegistry, store: ContentProxy) -> None:
    """Up to the limit (1000 layers) a manifest is fetched whole - in CI its entries repeat 40
    distinct blobs (legal; each entry still gets its GC label), under soak all are distinct.
    Past it (5000) the manifest is refused with the limit named, and no layer is fetched."""
    from pyctrd.core.images.manifest import MAX_LAYERS

    distinct = scaled(40, MAX_LAYERS)
    manifest, blobs = image([f"layer {i % distinct}".encode() for i in range(MAX_LAYERS)])
    reg.add(manifest, tag="latest").add(*blobs)
    result = fetch_image(resolver(), reg.ref(), store, all_platforms=True, max_concurrent=4)
    assert len(result.fetched) + len(result.existing) == distinct + 2
    labels = store.info(manifest.digest).labels
    assert sum(k.startswith("containerd.io/gc.ref.content.l.") for k in labels) == MAX_LAYERS
    huge, hblobs = image([f"huge {i}".encode() for i in range(5000)])
    reg.add(huge, tag="huge").add(*hblobs)
    fails(lambda: fetch_image(resolver(), reg.ref("huge"), store, all_platforms=True), InvalidArgument,
          f"limit of {MAX_LAYERS}")
    assert not any(committed(store, b.digest) for b in hblobs[1:50])
    record("remotes", "layers in one manifest (at the limit)", MAX_LAYERS, "layers")
    record("remotes", "manifest past the layer limit refused", 1)


def test_a_manifest_over_the_size_limit_is_refused(reg: HostileRegistry, store: ContentProxy) -> None:
    from pyctrd.core.images.manifest import MAX_MANIFEST_SIZE

    big = Blob("application/vnd.oci.image.manifest.v1+json", b'{"layers": [' + b" " * MAX_MANIFEST_SIZE + b"]}")
    reg.add(big, tag="latest")
    fails(lambda: fetch_image(resolver(), reg.ref(), store, all_platforms=True), (NotFound, InvalidArgument),
          "byte")
    assert not committed(store, big.digest)
    record("remotes", "oversize manifest", 1)


def test_401_without_a_challenge(reg: HostileRegistry, store: ContentProxy) -> None:
    manifest, blobs = image([b"needs auth"])
    reg.add(manifest, tag="latest").add(*blobs)
    reg.rules[blobs[1].digest] = Rule("status", code=401)
    r = resolver(credentials=lambda host: ("tester", SECRET))
    err = fails(lambda: fetch_image(r, reg.ref(), store, all_platforms=True), FailedPrecondition, "401")
    assert "authorization" in str(err)
    reg.rules[manifest.digest] = Rule("status", code=401, headers={"WWW-Authenticate": "Bogus"})
    fails(lambda: fetch_image(r, f"{reg.host}/hostile@{manifest.digest}", store), FailedPrecondition, "401")
    assert not committed(store, blobs[1].digest)
    record("remotes", "401 without a challenge", 2)


@pytest.mark.parametrize("lie", ["longer", "shorter", "zero", "huge"])
def test_content_length_that_lies(reg: HostileRegistry, store: ContentProxy, lie: str) -> None:
    manifest, blobs = image([f"sized {lie}".encode() * 10])
    reg.add(manifest, tag="latest").add(*blobs)
    layer = blobs[1]
    n = {"longer": len(layer.data) + 5, "shorter": len(layer.data) - 5, "zero": 0, "huge": 2**40}[lie]
    reg.rules[layer.digest] = Rule("length", n=n)
    fails(lambda: fetch_image(resolver(timeout=2), reg.ref(), store, all_platforms=True),
          (FailedPrecondition, Unavailable))
    assert not committed(store, layer.digest)
    record("remotes", "wrong sizes", 1)


def test_descriptor_sizes_that_lie(reg: HostileRegistry, store: ContentProxy) -> None:
    """The manifest says a layer is smaller or larger than it is."""
    layer = Blob("application/vnd.oci.image.layer.v1.tar", b"the real layer bytes")
    for size in (len(layer.data) - 3, len(layer.data) + 3):
        idx = index([{"mediaType": layer.media_type, "digest": layer.digest, "size": size}])
        manifest = Blob("application/vnd.oci.image.manifest.v1+json", (
            '{"schemaVersion": 2, "config": {"mediaType": "application/vnd.oci.image.config.v1+json", '
            f'"digest": "{layer.digest}", "size": {size}}}, "layers": []}}').encode())
        reg.add(manifest, tag=f"s{size}").add(layer)
        fails(lambda: fetch_image(resolver(), reg.ref(f"s{size}"), store, all_platforms=True),  # noqa: B023
              (FailedPrecondition, Unavailable))
        assert not committed(store, layer.digest), idx
    record("remotes", "descriptor sizes that lie", 2)


def test_truncated_bodies(reg: HostileRegistry, store: ContentProxy) -> None:
    data = bytes(range(256)) * 40
    manifest, blobs = image([data])
    reg.add(manifest, tag="latest").add(*blobs)
    layer = blobs[1]
    reg.rules[layer.digest] = Rule("truncate", after=1000)  # each answer cut short: resumes get there
    fetch_image(resolver(), reg.ref(), store, all_platforms=True)
    assert committed(store, layer.digest)
    manifest2, blobs2 = image([data + b"2"])
    reg.add(manifest2, tag="two").add(*blobs2)
    reg.rules[blobs2[1].digest] = Rule("truncate", after=0)  # never a byte: bounded, then Unavailable
    fails(lambda: fetch_image(resolver(), reg.ref("two"), store, all_platforms=True), Unavailable, "without progress")
    assert not committed(store, blobs2[1].digest)
    reg.rules[manifest2.digest] = Rule("truncate", after=20)
    reg.rules["/v2/hostile/manifests/two"] = Rule("truncate", after=20)
    fails(lambda: fetch_image(resolver(), reg.ref("two"), store, all_platforms=True),
          (Unavailable, FailedPrecondition, InvalidArgument))
    record("remotes", "truncated bodies", 3)


def test_nothing_half_written_is_left_as_content(daemon: InProcessDaemon) -> None:
    """After all of the above: every committed blob is whole (its bytes hash to its digest)."""
    from pyctrd.core import digest as digests

    c = daemon.client().content
    n = 0
    for info in c.walk():
        r = c.reader_at(info.digest)
        try:
            assert digests.from_bytes(r.read_at(0, r.size)) == info.digest
        finally:
            r.close()
        n += 1
    assert n
    record("remotes", "blobs verified after the hostile runs", n, "blobs")


@pytest.mark.skip(reason="needs pull (lands with the unpack work)")
def test_hostile_layers_through_a_pull() -> None:
    """Seam: the hostile tar corpus (tests/diff/hostile.py) served as the layers of an image by
    this registry and pulled with unpack: each pull fails with the differ's clear error,
    nothing is written outside the snapshot directories, and no snapshot or ingest is left
    once the pull's lease is gone."""
