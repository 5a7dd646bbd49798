"""Image records: validation, field paths, filters, namespaces."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pyctrd.core.images import Image
from pyctrd.core.metadata import ImageStore
from pyctrd.core.namespaces import namespace
from pyctrd.core.ocispec import MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_MANIFEST, Descriptor
from pyctrd.errdefs import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from pyctrd.plugins.metadata.sqlite.metadata import Metadata
from tests.fixtures.clock import FakeClock

A, B = "sha256:" + "a" * 64, "sha256:" + "b" * 64


def img(name: str, digest: str = A, **labels: str) -> Image:
    return Image(name, Descriptor(MEDIA_TYPE_OCI_MANIFEST, digest, 349, {"org.opencontainers.x": "1"}), labels)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def md(tmp_path: Path, clock: FakeClock) -> Iterator[Metadata]:
    m = Metadata(tmp_path / "meta.db", clock=clock)
    yield m
    m.close()


def test_create_get_list(md: Metadata) -> None:
    store = md.images
    assert isinstance(store, ImageStore)
    made = store.create(img("docker.io/library/busybox:latest", team="red"))
    assert repr(made) == "<Image docker.io/library/busybox:latest manifest sha256:aaaaaaaaaaaa>"
    assert made.created_at == made.updated_at and made.created_at is not None
    got = store.get("docker.io/library/busybox:latest")
    assert got == made and got.target.annotations == {"org.opencontainers.x": "1"}
    store.create(Image("example.com/idx:1", Descriptor(MEDIA_TYPE_OCI_INDEX, B, 10)))
    assert [i.name for i in store.list()] == ["docker.io/library/busybox:latest", "example.com/idx:1"]
    assert [i.name for i in store.list("labels.team==red")] == ["docker.io/library/busybox:latest"]
    assert [i.name for i in store.list(f"target.digest=={B}")] == ["example.com/idx:1"]
    assert [i.name for i in store.list("target.mediatype~=index")] == ["example.com/idx:1"]
    assert [i.name for i in store.list("name~=^docker.io/", "name==example.com/idx:1")] == [
        "docker.io/library/busybox:latest", "example.com/idx:1"]
    assert [i.name for i in store.list('annotations."org.opencontainers.x"==1')] == [
        "docker.io/library/busybox:latest"]
    with pytest.raises(AlreadyExists, match='image "example.com/idx:1"'):
        store.create(img("example.com/idx:1"))
    with pytest.raises(NotFound, match='image "nope"'):
        store.get("nope")
    assert repr(store) == "<ImageRecords ns=default images=2>"


@pytest.mark.parametrize("bad, message", [
    (Image("", Descriptor(MEDIA_TYPE_OCI_MANIFEST, A, 1)), "name must not be empty"),
    (Image("a b", Descriptor(MEDIA_TYPE_OCI_MANIFEST, A, 1)), "white space"),
    (Image("x", Descriptor(MEDIA_TYPE_OCI_MANIFEST, "sha256:1", 1)), "Target.Digest"),
    (Image("x", Descriptor(MEDIA_TYPE_OCI_MANIFEST, A, 0)), "Target.Size must be greater than zero"),
    (Image("x", Descriptor("", A, 1)), "Target.MediaType must be set"),
    (Image("x", Descriptor(MEDIA_TYPE_OCI_MANIFEST, A, 1), {"containerd.io/gc.ref.content": "x"}), "gc.ref"),
])
def test_invalid_images_are_refused(md: Metadata, bad: Image, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        md.images.create(bad)
    assert md.images.list() == []


def test_update_with_and_without_field_paths(md: Metadata, clock: FakeClock) -> None:
    store = md.images
    created = store.create(img("x:1", a="1", b="2"))
    clock.advance(60)
    out = store.update(Image("x:1", Descriptor(MEDIA_TYPE_OCI_MANIFEST, A, 1), {"a": "new", "c": "3"}),
                       ["labels.a", "labels.b"])
    assert out.labels == {"a": "new"} and out.target == created.target  # b removed, c not asked for
    assert out.created_at == created.created_at and out.updated_at == clock.now
    moved = store.update(Image("x:1", Descriptor(MEDIA_TYPE_OCI_INDEX, B, 9, {"k": "v"})), ["target"])
    assert (moved.target.digest, moved.target.media_type, moved.target.annotations) == (B, MEDIA_TYPE_OCI_INDEX,
                                                                                          {"k": "v"})
    ann = store.update(Image("x:1", Descriptor("", "", 0, {"k2": "v2"})), ["annotations.k2", "annotations.k"])
    assert ann.target.annotations == {"k2": "v2"} and ann.target.digest == B
    whole = store.update(img("x:1", only="this"))
    assert whole.labels == {"only": "this"} and whole.target.digest == A
    assert store.get("x:1") == whole
    with pytest.raises(InvalidArgument, match='cannot update "name"'):
        store.update(img("x:1"), ["name"])
    with pytest.raises(InvalidArgument, match="Target.Size"):
        store.update(Image("x:1", Descriptor(MEDIA_TYPE_OCI_MANIFEST, A, 0)), ["target"])
    with pytest.raises(NotFound):
        store.update(img("y:1"))
    assert store.get("x:1") == whole  # refused updates changed nothing


def test_delete_and_namespaces(md: Metadata) -> None:
    with namespace("lab"):
        md.images.create(img("x:1"))
    assert md.images.list() == []
    with pytest.raises(FailedPrecondition, match='namespace "lab" must be empty, but it still has images'):
        md.namespaces.delete("lab")
    with namespace("lab"):
        md.images.delete("x:1")
        with pytest.raises(NotFound):
            md.images.delete("x:1")
    md.namespaces.delete("lab")
