"""The registry client against a REAL docker-registry (plus a faulty proxy beside it)."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from pyctrd.core.images import check
from pyctrd.core.images.manifest import Index, manifest_descriptor
from pyctrd.core.ocispec import MEDIA_TYPE_OCI_INDEX, Descriptor, Platform
from pyctrd.core.remotes import Progress
from pyctrd.errdefs import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from pyctrd.images.blobmap import BlobMap
from pyctrd.images.samples import SampleImage, build_samples, push_samples
from pyctrd.remotes import DockerResolver, HostOptions, RetryPolicy, fetch_image, push_image
from pyctrd.remotes.docker import ACCEPT_MANIFESTS
from tests.fixtures.faulty_http import FaultyProxy
from tests.fixtures.registry import PASSWORD, USER, Registry, make_tls_cert
from tests.fixtures.stores import NewStore, digests, labels

SRC = "containerd.io/distribution.source.127.0.0.1"


@pytest.fixture(scope="module")
def samples() -> Mapping[str, SampleImage]:
    return build_samples()


@pytest.fixture(scope="module")
def pushed(registry: Registry, samples: Mapping[str, SampleImage]) -> Registry:
    results = push_samples(DockerResolver(), registry.host, samples)
    assert {r.statuses[samples[n].manifest.digest] for n, r in results.items()} <= {"pushed", "exists"}
    return registry


@pytest.fixture
def proxy(pushed: Registry) -> Iterator[FaultyProxy]:
    p = FaultyProxy(pushed.host)
    yield p
    p.close()


def sleeps() -> tuple[RetryPolicy, list[float]]:
    recorded: list[float] = []
    return RetryPolicy(attempts=4, backoff=0.25, sleep=recorded.append), recorded


def fetch_all(resolver: DockerResolver, ref: str, desc: Descriptor) -> bytes:
    with resolver.fetcher(ref).fetch(desc) as stream:
        out = b""
        while chunk := stream.read(65536):
            out += chunk
        assert repr(stream) == f"<BlobStream {desc.digest[:19]} {desc.size}/{desc.size} from {stream.host}>"
        return out


def test_resolve_and_fetch_byte_identical(pushed: Registry, samples: Mapping[str, SampleImage]) -> None:
    r = DockerResolver()
    assert repr(r.fetcher(pushed.ref("busybox"))) == f"<DockerFetcher {pushed.host}/busybox hosts=1>"
    assert repr(r.pusher(pushed.ref("busybox"))) == f"<DockerPusher {pushed.ref('busybox')}>"
    for name, s in samples.items():
        ref = pushed.ref(name)
        assert r.resolve(ref) == (ref, s.manifest)
        for digest, data in s.blobs.items():
            if digest in (s.manifest.digest, s.config.digest, *(x.digest for x in s.layers)):
                desc = next(d for d in (s.manifest, s.config, *s.layers) if d.digest == digest)
                assert fetch_all(r, ref, desc) == data
    by_digest = f"{pushed.host}/busybox@{samples['busybox'].manifest.digest}"
    assert r.resolve(by_digest)[1] == samples["busybox"].manifest


def test_resolve_head_then_get_with_containerd_accept(proxy: FaultyProxy, samples: Mapping[str, SampleImage]) -> None:
    r = DockerResolver()
    proxy.add("HEAD", "/manifests/latest", "strip_digest")
    assert r.resolve(f"{proxy.host}/layered:latest")[1] == samples["layered"].manifest
    assert [(m, p) for m, p, _ in proxy.seen] == [("HEAD", "/v2/layered/manifests/latest"),
                                                   ("GET", "/v2/layered/manifests/latest")]
    assert proxy.headers[0]["Accept"] == ACCEPT_MANIFESTS
    assert "application/vnd.oci.image.index.v1+json" in ACCEPT_MANIFESTS
    proxy.add("HEAD", "/manifests/", "status", code=405)  # registries that refuse HEAD
    assert r.resolve(f"{proxy.host}/busybox:latest")[1] == samples["busybox"].manifest


def test_fetch_image_writes_refs_labels_and_progress(new_store: NewStore, pushed: Registry, samples: Mapping[str, SampleImage]) -> None:
    store, events = new_store(), []
    r = DockerResolver()
    res = fetch_image(r, pushed.ref("layered"), store, progress=events.append)
    lay, bb = samples["layered"], samples["busybox"]
    assert repr(res) == f"<FetchResult {pushed.ref('layered')} {lay.manifest.digest[:19]} fetched=5 exists=0>"
    assert res.image().name == pushed.ref("layered") and res.target == lay.manifest
    assert set(store.opened_refs) == {f"manifest-{lay.manifest.digest}", f"config-{lay.config.digest}",
                                      *(f"layer-{x.digest}" for x in lay.layers)}
    assert set(res.served_by.values()) == {pushed.host}
    assert labels(store)[lay.manifest.digest] == {
        "containerd.io/gc.ref.content.config": lay.config.digest,
        **{f"containerd.io/gc.ref.content.l.{i}": x.digest for i, x in enumerate(lay.layers)},
        SRC: "layered"}
    assert labels(store)[lay.layers[0].digest] == {SRC: "layered"}
    statuses = [(e.ref, e.status) for e in events]
    assert statuses[:2] == [(pushed.ref("layered"), "resolving"), (pushed.ref("layered"), "resolved")]
    for desc in (lay.manifest, lay.config, *lay.layers):
        mine = [s for ref, s in statuses if ref.endswith(desc.digest)]
        assert mine[0] == "waiting" and mine[-1] == "done" and "downloading" in mine
    last = [e for e in events if e.ref == f"layer-{lay.layers[0].digest}" and e.status == "downloading"][-1]
    assert (last.offset, last.total, last.host) == (lay.layers[0].size, lay.layers[0].size, pushed.host)
    # busybox shares layer 0: it exists already, and now both repositories are its sources
    events.clear()
    res = fetch_image(r, pushed.ref("busybox"), store, progress=events.append)
    assert res.existing == [bb.layers[0]] and Progress(f"layer-{bb.layers[0].digest}", "exists",
                                                       bb.layers[0].size, bb.layers[0].size) in events
    assert labels(store)[bb.layers[0].digest][SRC] == "busybox,layered"
    assert check(store, lay.manifest).status == "complete (4/4)"
    # a second pull downloads nothing
    again = fetch_image(r, pushed.ref("layered"), store)
    assert again.fetched == [] and len(again.existing) == 5


def test_corrupt_or_wrong_content_commits_nothing(new_store: NewStore, proxy: FaultyProxy, samples: Mapping[str, SampleImage]) -> None:
    lay = samples["layered"]
    store = new_store()
    proxy.add("GET", f"/blobs/{lay.layers[2].digest}", "corrupt")
    with pytest.raises(FailedPrecondition, match="unexpected digest"):
        fetch_image(DockerResolver(), f"{proxy.host}/layered:latest", store, max_concurrent=1)
    assert lay.layers[2].digest not in digests(store)
    assert store.status(f"layer-{lay.layers[2].digest}").offset == 0  # reset: a retry starts clean
    # a descriptor whose digest the registry has, but whose size is wrong
    bad = Descriptor(lay.config.media_type, lay.config.digest, lay.config.size + 1)
    with pytest.raises(FailedPrecondition, match="descriptor says"):
        DockerResolver().fetcher(f"{proxy.host}/layered:latest").fetch(bad)
    # a descriptor naming content that does not hash to it: nothing is committed
    wrong = Descriptor(lay.config.media_type, lay.layers[2].digest, lay.layers[2].size)
    from pyctrd.remotes import fetch_blob

    class Swap:  # the registry answers with other bytes of the same size (a lying mirror)
        def fetch(self, desc: Descriptor, offset: int = 0) -> object:
            return DockerResolver().fetcher(f"{proxy.host}/layered:latest").fetch(
                Descriptor(desc.media_type, lay.layers[1].digest, lay.layers[1].size), offset)

    if lay.layers[1].size == lay.layers[2].size:
        pytest.skip("sample layers happen to have the same size")
    commits = digests(store)
    with pytest.raises(FailedPrecondition):
        fetch_blob(Swap(), store, wrong)  # type: ignore[arg-type]
    assert digests(store) == commits


def test_not_found(pushed: Registry, samples: Mapping[str, SampleImage]) -> None:
    r = DockerResolver()
    with pytest.raises(NotFound):
        r.resolve(pushed.ref("busybox", "no-such-tag"))
    with pytest.raises(NotFound):
        r.resolve(pushed.ref("no-such-repo"))
    missing = Descriptor(samples["busybox"].config.media_type, "sha256:" + "0" * 64, 10)
    with pytest.raises(NotFound, match="could not fetch content descriptor"):
        r.fetcher(pushed.ref("busybox")).fetch(missing)
    with pytest.raises(InvalidArgument, match="object required"):
        r.resolve(f"{pushed.host}/busybox")
    with pytest.raises(InvalidArgument, match="content size of zero"):
        r.fetcher(pushed.ref("busybox")).fetch(Descriptor(missing.media_type, missing.digest, 0))


def test_server_errors_are_retried_with_backoff(proxy: FaultyProxy, samples: Mapping[str, SampleImage]) -> None:
    policy, slept = sleeps()
    r = DockerResolver(retry=policy)
    proxy.add("HEAD", "/manifests/latest", "status", times=2, code=500)
    assert r.resolve(f"{proxy.host}/busybox:latest")[1] == samples["busybox"].manifest
    assert slept == [0.25, 0.5]
    slept.clear()
    proxy.add("GET", "/blobs/", "status", times=100, code=503)
    with pytest.raises(Unavailable, match="503"):
        r.fetcher(f"{proxy.host}/busybox:latest").fetch(samples["busybox"].config)
    assert slept == [0.25, 0.5, 1.0]  # bounded: 4 attempts
    assert sum(1 for m, p, _ in proxy.seen if m == "GET" and "/blobs/" in p) == 4


def test_dropped_connections_resume_with_range(proxy: FaultyProxy, samples: Mapping[str, SampleImage]) -> None:
    layer = samples["busybox"].layers[0]
    r = DockerResolver()
    ref = f"{proxy.host}/busybox:latest"
    proxy.add("GET", f"/blobs/{layer.digest}", "drop", after=100_000)
    assert fetch_all(r, ref, layer) == samples["busybox"].blobs[layer.digest]
    ranges = [rng for m, p, rng in proxy.seen if p.endswith(layer.digest)]
    # resumed from the last byte handed out (a read cut short by the drop is asked again)
    assert len(ranges) == 2 and ranges[0] == "" and 0 < int(ranges[1][6:-1]) <= 100_000
    # a server that ignores Range after the drop: the client skips what it has
    proxy.seen.clear()
    proxy.add("GET", f"/blobs/{layer.digest}", "drop", after=70_000)
    proxy.add("GET", f"/blobs/{layer.digest}", "ignore_range")
    assert fetch_all(r, ref, layer) == samples["busybox"].blobs[layer.digest]
    # a connection that never makes progress gives up after a bounded number of tries
    proxy.add("GET", f"/blobs/{layer.digest}", "drop", times=50, after=0)
    with pytest.raises(Unavailable, match="without progress"):
        fetch_all(r, ref, layer)


def test_mirrors_in_hosts_toml_are_tried_first(new_store: NewStore, pushed: Registry, proxy: FaultyProxy, tmp_path: Path,
                                               samples: Mapping[str, SampleImage]) -> None:
    empty_mirror = FaultyProxy(pushed.host).add("*", ".", "status", times=10_000, code=404)
    try:
        d = tmp_path / (pushed.host.replace(":", "_") + "_")
        d.mkdir()
        (d / "hosts.toml").write_text(f'server = "http://{pushed.host}"\n'
                                      f'[host."http://{empty_mirror.host}"]\n  capabilities = ["pull", "resolve"]\n')
        r = DockerResolver(options=HostOptions(config_path=str(tmp_path)))
        res = fetch_image(r, pushed.ref("layered"), new_store())
        assert set(res.served_by.values()) == {pushed.host}
        assert empty_mirror.seen[0][:2] == ("HEAD", f"/v2/layered/manifests/latest?ns={pushed.host}")
        # a mirror that has the content serves it; the upstream is not asked for blobs
        (d / "hosts.toml").write_text(f'server = "http://{pushed.host}"\n[host."http://{empty_mirror.host}"]\n'
                                      f'[host."http://{proxy.host}"]\n  capabilities = ["pull"]\n'
                                      '  header = { X-Pyctrd-Test = "mirror" }\n')
        res = fetch_image(r, pushed.ref("busybox"), new_store())
        assert set(res.served_by.values()) == {proxy.host}
        assert {h.get("X-Pyctrd-Test") for h in proxy.headers} == {"mirror"}
        assert all("?ns=" in p for _, p, _ in proxy.seen)
        # CRI-style mirrors behave the same
        r = DockerResolver(options=HostOptions(mirrors={pushed.host: [f"http://{proxy.host}"]}))
        assert set(fetch_image(r, pushed.ref("busybox"), new_store()).served_by.values()) == {proxy.host}
    finally:
        empty_mirror.close()


def test_chunked_push_and_cross_repository_mount(new_store: NewStore, pushed: Registry, proxy: FaultyProxy,
                                                 samples: Mapping[str, SampleImage]) -> None:
    s = samples["layered"]
    r = DockerResolver()
    res = push_image(r, f"{proxy.host}/chunked/layered:v1", s.blobs, s.manifest, chunk_size=256 * 1024)
    assert res.statuses[s.manifest.digest] == "pushed"
    patches = [p for m, p, _ in proxy.seen if m == "PATCH"]
    assert len(patches) >= 4  # the 1 MB layer went in 256 KiB chunks
    assert fetch_all(r, pushed.ref("chunked/layered", "v1"), s.layers[0]) == s.blobs[s.layers[0].digest]
    # pushing again finds everything on the registry
    again = push_image(r, pushed.ref("chunked/layered", "v1"), s.blobs, s.manifest)
    assert repr(again) == f"<PushResult {pushed.ref('chunked/layered', 'v1')} {s.manifest.digest[:19]} exists=5>"
    # a blob known to live in another repository of the same registry is mounted, not uploaded
    store = new_store()
    fetch_image(r, pushed.ref("busybox"), store)
    b = samples["busybox"]
    res = push_image(r, pushed.ref("team/busybox", "v1"), store, b.manifest, labels=store.info)
    assert res.statuses[b.layers[0].digest] == "mounted" and res.statuses[b.manifest.digest] == "pushed"
    with pytest.raises(InvalidArgument, match="needs a tag"):
        push_image(r, f"{pushed.host}/x@{b.manifest.digest}", store, b.manifest)


def test_tls_verification_ca_and_skip_verify(new_store: NewStore, registry_factory: Callable[..., Registry], tmp_path: Path,
                                             samples: Mapping[str, SampleImage]) -> None:
    cert, key = make_tls_cert(tmp_path)
    reg = registry_factory(tls=(cert, key))
    hosts_dir = tmp_path / "certs.d" / (reg.host.replace(":", "_") + "_")
    hosts_dir.mkdir(parents=True)
    toml = hosts_dir / "hosts.toml"
    options = HostOptions(config_path=str(tmp_path / "certs.d"))
    # https with verification on (the default): an unknown CA is refused, and not retried
    toml.write_text(f'server = "https://{reg.host}"\n')
    policy, slept = sleeps()
    with pytest.raises(FailedPrecondition, match="TLS: certificate verify failed"):
        push_samples(DockerResolver(options=options, retry=policy), reg.host, samples)
    assert slept == []
    # trusting the registry's CA (a path relative to the hosts directory) works
    (hosts_dir / "ca.crt").write_bytes(cert.read_bytes())
    toml.write_text(f'server = "https://{reg.host}"\nca = "ca.crt"\n')
    push_samples(DockerResolver(options=options), reg.host, samples)
    # skip_verify per host works too
    toml.write_text(f'server = "https://{reg.host}"\nskip_verify = true\n')
    res = fetch_image(DockerResolver(options=options), reg.ref("busybox"), new_store())
    assert len(res.fetched) == 3


def test_platform_selection_from_an_index(new_store: NewStore, pushed: Registry, samples: Mapping[str, SampleImage]) -> None:
    """An index offering busybox as linux/amd64 and layered as linux/arm64."""
    bb, lay = samples["busybox"], samples["layered"]
    blobs = BlobMap([*bb.blobs.values(), *lay.blobs.values()])
    amd = Descriptor(bb.manifest.media_type, bb.manifest.digest, bb.manifest.size, platform=Platform("linux", "amd64"))
    arm = Descriptor(lay.manifest.media_type, lay.manifest.digest, lay.manifest.size,
                     platform=Platform("linux", "arm64", "v8"))
    idx, data = manifest_descriptor(Index(MEDIA_TYPE_OCI_INDEX, (amd, arm)))
    blobs.add(data)
    r = DockerResolver()
    push_image(r, pushed.ref("multi"), blobs, idx)
    assert r.resolve(pushed.ref("multi"))[1] == idx
    store = new_store()
    res = fetch_image(r, pushed.ref("multi"), store, platform="linux/amd64")
    assert {d.digest for d in res.fetched} == {idx.digest, bb.manifest.digest, bb.config.digest, bb.layers[0].digest}
    assert labels(store)[idx.digest]["containerd.io/gc.ref.content.m.0"] == bb.manifest.digest
    # as containerd's pull: the index names every manifest, also the one not fetched
    assert labels(store)[idx.digest]["containerd.io/gc.ref.content.m.1"] == lay.manifest.digest
    assert lay.manifest.digest not in {d.digest for d in res.fetched}
    res = fetch_image(r, pushed.ref("multi"), store, platform=Platform("linux", "arm64"))
    assert res.fetched[0].digest == lay.manifest.digest
    store = new_store()
    res = fetch_image(r, pushed.ref("multi"), store, all_platforms=True)
    assert len(res.fetched) == 1 + 3 + 5 - 1  # the shared layer once
    assert labels(store)[idx.digest]["containerd.io/gc.ref.content.m.1"] == lay.manifest.digest
    with pytest.raises(NotFound, match="no match for platform"):
        fetch_image(r, pushed.ref("multi"), new_store(), platform="linux/s390x")


def test_basic_auth_with_htpasswd(new_store: NewStore, htpasswd_registry: Registry, samples: Mapping[str, SampleImage],
                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    reg = htpasswd_registry
    with pytest.raises(FailedPrecondition, match="401"):
        DockerResolver().resolve(reg.ref("busybox"))
    with pytest.raises(FailedPrecondition) as bad:
        push_samples(DockerResolver(credentials=lambda h: (USER, "wrong-" + PASSWORD)), reg.host, samples)
    authed = DockerResolver(credentials=reg.credentials)
    push_samples(authed, reg.host, samples)
    res = fetch_image(authed, reg.ref("layered"), new_store())
    assert len(res.fetched) == 5
    text = str(bad.value) + caplog.text + repr(authed) + repr(authed.transport)
    assert PASSWORD not in text and "Authorization" not in caplog.text


def test_bearer_token_auth_with_real_registry(new_store: NewStore, token_registry: tuple[Registry, object],
                                              samples: Mapping[str, SampleImage],
                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    reg, server = token_registry
    # a tag nobody has pushed (the session's registry may already hold :latest from
    # another test, and a push of what is already there needs no push scope at all)
    with pytest.raises(FailedPrecondition):  # anonymous tokens only carry pull
        push_samples(DockerResolver(), reg.host, samples, tag="anonymous-attempt")
    authed = DockerResolver(credentials=reg.credentials)
    push_samples(authed, reg.host, samples)
    assert any(q.get("method") == "POST" and q.get("user") == USER for q in server.requests)  # type: ignore[attr-defined]
    server.requests.clear()  # type: ignore[attr-defined]
    res = fetch_image(DockerResolver(), reg.ref("layered"), new_store())
    assert len(res.fetched) == 5
    assert server.requests == [{"method": "GET", "user": "", "scopes": ["repository:layered:pull"]}]  # type: ignore[attr-defined]
    # registries without OAuth POST: fall back to GET with Basic credentials
    server.oauth = False  # type: ignore[attr-defined]
    try:
        server.requests.clear()  # type: ignore[attr-defined]
        push_image(DockerResolver(credentials=reg.credentials), reg.ref("busybox", "v2"),
                   samples["busybox"].blobs, samples["busybox"].manifest)
        methods = [q["method"] for q in server.requests]  # type: ignore[attr-defined]
        assert methods[:2] == ["POST", "GET"]
    finally:
        server.oauth = True  # type: ignore[attr-defined]
    assert PASSWORD not in caplog.text


def test_a_locked_ref_is_waited_for_while_its_ingest_moves(new_store: NewStore) -> None:
    """containerd's OpenWriter waits on a locked ref until its context ends; ours waits while the
    holder's ingest moves, and gives up (Unavailable) once it stood still for ``patience``."""
    from pyctrd.core import digest as dg
    from pyctrd.errdefs import AlreadyExists
    from pyctrd.remotes.pull import _open_writer

    store, data = new_store(), b"a blob another pull is downloading"
    desc = Descriptor("application/octet-stream", dg.from_bytes(data), len(data))
    holder = store.writer("layer-x", total=len(data), expected=desc.digest)
    now = [0.0]

    def sleep(s: float) -> None:  # the holder writes a byte at every simulated second up to 100 s
        before, now[0] = now[0], now[0] + s
        if int(now[0]) != int(before) and now[0] < 100 and holder.status().offset < len(data) - 1:
            holder.write(data[holder.status().offset:holder.status().offset + 1])

    with pytest.raises(Unavailable, match="locked"):
        _open_writer(store, "layer-x", desc, sleep, patience=30, clock=lambda: now[0])
    assert 30 + len(data) - 2 < now[0] < 100 + 32  # waited while it moved, then 30 s more
    holder.write(data[holder.status().offset:])
    holder.commit(len(data), desc.digest)
    holder.close()
    with pytest.raises(AlreadyExists):  # what fetch_blob reports as "exists": no download
        _open_writer(store, "layer-x", desc, sleep, patience=30, clock=lambda: now[0])
