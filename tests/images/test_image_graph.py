"""Walking images in a content store: manifest selection, size, check, loops."""
from __future__ import annotations

import json
from collections.abc import Mapping

import pytest

from pyctrd.core.images import (
    check,
    children,
    image_config,
    image_platforms,
    image_size,
    resolve_manifest,
    walk,
)
from pyctrd.core.images import platforms as plat
from pyctrd.core.images.manifest import Index, manifest_descriptor
from pyctrd.core.ocispec import MEDIA_TYPE_OCI_INDEX, Descriptor, Platform
from pyctrd.errdefs import InvalidArgument, NotFound
from pyctrd.images.blobmap import BlobMap
from pyctrd.images.samples import build_samples
from pyctrd.images.samples.build import SampleImage
from pyctrd.plugins.content.local import LocalStore
from tests.fixtures.stores import NewStore


@pytest.fixture(scope="module")
def samples() -> Mapping[str, SampleImage]:
    return build_samples()


def load(store: LocalStore, blobs: Mapping[str, bytes], skip: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    for digest, data in blobs.items():
        if digest not in skip:
            w = store.writer(f"test-{digest}", len(data), digest)
            w.write(data)
            w.commit(len(data), digest)
            w.close()


def multi_arch(s: SampleImage) -> tuple[Descriptor, BlobMap]:
    """An index offering the sample as linux/386 and linux/amd64 and (missing) linux/arm64."""
    m = s.manifest
    entries = [Descriptor(m.media_type, m.digest, m.size, platform=Platform("linux", "386")),
               Descriptor(m.media_type, "sha256:" + "e" * 64, 500, platform=Platform("linux", "arm64", "v8")),
               Descriptor(m.media_type, m.digest, m.size, platform=Platform("linux", "amd64"))]
    desc, data = manifest_descriptor(Index(MEDIA_TYPE_OCI_INDEX, tuple(entries)))
    blobs = BlobMap(s.blobs.values())
    blobs.add(data)
    return desc, blobs


def test_resolve_manifest_and_config(samples: Mapping[str, SampleImage]) -> None:
    s = samples["layered"]
    desc, man = resolve_manifest(s.blobs, s.manifest)
    assert desc == s.manifest and len(man.layers) == 3 and man.layers[0] == samples["busybox"].layers[0]
    cdesc, cfg = image_config(s.blobs, s.manifest)
    assert cdesc == s.config and cfg.config["Cmd"] == ["sh"] and cfg.diff_ids == s.diff_ids
    assert image_platforms(s.blobs, s.manifest) == [plat.default_platform()]


def test_index_picks_preferred_platform(samples: Mapping[str, SampleImage]) -> None:
    idx, blobs = multi_arch(samples["busybox"])
    desc, _ = resolve_manifest(blobs, idx, plat.only(Platform("linux", "amd64")))
    assert desc.platform == Platform("linux", "amd64")   # amd64 preferred over 386
    desc, _ = resolve_manifest(blobs, idx, plat.only(Platform("linux", "386")))
    assert desc.platform == Platform("linux", "386")
    with pytest.raises(NotFound, match="no match for platform in manifest"):
        resolve_manifest(blobs, idx, plat.only(Platform("linux", "s390x")))
    with pytest.raises(NotFound):  # arm64 is listed but its manifest is not in the store
        resolve_manifest(blobs, idx, plat.only_strict(Platform("linux", "arm64")))
    assert {str(p) for p in image_platforms(blobs, idx)} == {"linux/386", "linux/arm64/v8", "linux/amd64"}
    size = image_size(blobs, idx, plat.only(Platform("linux", "amd64")))
    s = samples["busybox"]
    assert size == idx.size + s.manifest.size + s.config.size + sum(x.size for x in s.layers)


def test_check_reports_present_and_missing(new_store: NewStore, samples: Mapping[str, SampleImage]) -> None:
    s = samples["layered"]
    store = new_store()
    load(store, s.blobs)
    r = check(store, s.manifest)
    assert r.complete and r.status == "complete (4/4)" and repr(r) == "<CheckResult complete (4/4)>"
    store.delete(s.layers[1].digest)
    r = check(store, s.manifest)
    assert r.status == "incomplete (3/4)" and r.missing == [s.layers[1]] and not r.complete
    store.delete(s.manifest.digest)
    assert check(store, s.manifest).status == "unavailable (0/?)"


def test_image_size_matches_reference_shape(samples: Mapping[str, SampleImage]) -> None:
    s = samples["layered"]
    total = image_size(s.blobs, s.manifest)
    assert total == s.manifest.size + s.config.size + sum(x.size for x in s.layers)
    assert 0.9 * 2**20 < total < 1.1 * 2**20  # "1.0 MiB" in ctr images ls, as in the reference


class LyingProvider:
    """Serves arbitrary bytes under any digest: the only way to build a loop in a DAG of hashes."""

    def __init__(self, docs: dict[str, bytes]) -> None:
        self.docs = docs

    def reader_at(self, digest: str) -> object:
        data = self.docs.get(digest)
        if data is None:
            raise NotFound(digest)
        return BlobMap([data]).reader_at(next(iter(BlobMap([data]))))


def _index(*children: Descriptor) -> bytes:
    return json.dumps({"schemaVersion": 2, "manifests": [c.to_json() for c in children]}).encode()


def test_index_loops_and_depth_are_refused() -> None:
    a = "sha256:" + "a" * 64
    b = "sha256:" + "b" * 64
    body_a, body_b = b"", b""
    for _ in range(4):  # the sizes inside the bodies settle after a few rounds
        da = Descriptor(MEDIA_TYPE_OCI_INDEX, a, len(body_a))
        db = Descriptor(MEDIA_TYPE_OCI_INDEX, b, len(body_b))
        body_a, body_b = _index(db), _index(da)
    p = LyingProvider({a: body_a, b: body_b})
    with pytest.raises(InvalidArgument, match="index loop"):
        walk(lambda d: children(p, d), Descriptor(MEDIA_TYPE_OCI_INDEX, a, len(body_a)))
    # a long chain of distinct indexes hits the depth limit
    chain: dict[str, bytes] = {}
    prev: Descriptor | None = None
    for i in range(40):
        d = f"sha256:{i:064x}"
        body = _index(prev) if prev else _index()
        chain[d] = body
        prev = Descriptor(MEDIA_TYPE_OCI_INDEX, d, len(body))
    with pytest.raises(InvalidArgument, match="deeper than"):
        walk(lambda d: children(LyingProvider(chain), d), prev)  # type: ignore[arg-type]


def test_children_of_blobs_and_unknown_types(new_store: NewStore, samples: Mapping[str, SampleImage]) -> None:
    s = samples["busybox"]
    assert children(s.blobs, s.manifest) == [s.config, *s.layers]
    assert children(s.blobs, s.layers[0]) == [] and children(s.blobs, s.config) == []
    assert children(s.blobs, Descriptor("application/x-unknown", s.config.digest, s.config.size)) == []
    with pytest.raises(NotFound):
        children(new_store(), s.manifest)
