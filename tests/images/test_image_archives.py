"""Importing and exporting OCI layouts and docker archives (through a stand-in content store)."""
from __future__ import annotations

import datetime as dt
import io
import json
import tarfile
from collections.abc import Mapping
from pathlib import Path

import pytest

from pyctrd.core.images import check
from pyctrd.core.images import platforms as plat
from pyctrd.core.images.manifest import parse_manifest
from pyctrd.core.ocispec import (
    MEDIA_TYPE_DOCKER_CONFIG,
    MEDIA_TYPE_DOCKER_LAYER,
    MEDIA_TYPE_DOCKER_MANIFEST,
    Platform,
)
from pyctrd.errdefs import FailedPrecondition, InvalidArgument, NotFound
from pyctrd.images.archive import export_oci, import_images, import_index
from pyctrd.images.samples import SampleImage, build_samples, write_samples
from tests.fixtures.stores import NewStore, digests, labels

TODAY = dt.date(2024, 5, 1)


@pytest.fixture(scope="module")
def samples() -> Mapping[str, SampleImage]:
    return build_samples()


@pytest.fixture(scope="module")
def files(samples: Mapping[str, SampleImage], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return write_samples(tmp_path_factory.mktemp("samples"), samples)


def test_import_oci_tar_names_images_like_containerd(new_store: NewStore, files: dict[str, str], samples: Mapping[str, SampleImage]) -> None:
    store = new_store()
    res = import_images(store, files["layered-oci.tar"], today=TODAY)
    lay = samples["layered"]
    assert [i.name for i in res.images] == ["docker.io/library/layered:latest"]  # outputs/images-ls-imported.txt
    assert res.images[0].target.digest == lay.manifest.digest
    assert repr(res) == f"<ImportResult {res.index.digest[:19]} images=['docker.io/library/layered:latest']>"
    assert check(store, res.images[0].target).status == "complete (4/4)"
    assert labels(store)[res.index.digest] == {"containerd.io/gc.ref.content.m.0": lay.manifest.digest}
    assert labels(store)[lay.manifest.digest]["containerd.io/gc.ref.content.l.2"] == lay.layers[2].digest
    assert all(ref.startswith("tar-") for ref in store.opened_refs)
    # the directory form imports the same
    store2 = new_store()
    res2 = import_images(store2, files["layered-oci"], today=TODAY)
    assert res2.index == res.index and digests(store2) == digests(store)


def test_import_docker_archive(new_store: NewStore, files: dict[str, str], samples: Mapping[str, SampleImage]) -> None:
    store = new_store()
    res = import_images(store, files["busybox-docker.tar"], today=TODAY)
    [img] = res.images
    assert img.name == "docker.io/library/busybox:latest"
    assert img.target.media_type == MEDIA_TYPE_DOCKER_MANIFEST  # as outputs/images-ls-imported.txt shows
    assert img.target.platform == plat.default_platform()
    man = parse_manifest(store.blob_path(img.target.digest).read_bytes(), MEDIA_TYPE_DOCKER_MANIFEST)
    bb = samples["busybox"]
    assert man.config.media_type == MEDIA_TYPE_DOCKER_CONFIG and man.config.digest == bb.config.digest
    assert [(x.media_type, x.digest) for x in man.layers] == [(MEDIA_TYPE_DOCKER_LAYER, bb.layers[0].digest)]
    assert check(store, img.target).complete
    assert any(r.startswith("manifest-sha256:") for r in store.opened_refs)
    # importing twice is idempotent (same index digest, content already there)
    assert import_index(store, files["busybox-docker.tar"]) == res.index


def test_import_names_without_image_name_annotation(new_store: NewStore, files: dict[str, str], samples: Mapping[str, SampleImage],
                                                    tmp_path: Path) -> None:
    layout = Path(files["busybox-oci"])
    plain = tmp_path / "plain"
    plain.mkdir()
    for p in layout.rglob("*"):
        if p.is_file():
            (plain / p.relative_to(layout)).parent.mkdir(parents=True, exist_ok=True)
            (plain / p.relative_to(layout)).write_bytes(p.read_bytes())
    idx = json.loads((plain / "index.json").read_text())
    del idx["manifests"][0]["annotations"]["io.containerd.image.name"]
    (plain / "index.json").write_text(json.dumps(idx))
    digest = samples["busybox"].manifest.digest

    def names(**kw: object) -> list[str]:
        return [i.name for i in import_images(new_store(), plain, today=TODAY, **kw).images]  # type: ignore[arg-type]

    assert names() == ["import-2024-05-01:latest"]
    assert names(base_name="foo/bar") == ["foo/bar:latest"]
    assert names(base_name="foo/bar", digests=True) == ["foo/bar:latest", f"foo/bar@{digest}"]
    assert names(base_name="foo/bar", digests=True, skip_digest_for_named=True) == ["foo/bar:latest"]
    assert names(index_name="my-index")[0] == "my-index"
    with pytest.raises(InvalidArgument, match="skip-digest-for-named"):
        names(skip_digest_for_named=True)


def test_import_platform_filter(new_store: NewStore, files: dict[str, str]) -> None:
    with pytest.raises(FailedPrecondition, match="filtered out"):
        import_images(new_store(), files["busybox-docker.tar"],
                      platform=plat.only_strict(Platform("linux", "s390x")))
    assert import_images(new_store(), files["busybox-docker.tar"], all_platforms=True).images


def test_export_round_trip_is_byte_identical(new_store: NewStore, files: dict[str, str], tmp_path: Path) -> None:
    store = new_store()
    res = import_images(store, files["layered-oci.tar"], today=TODAY)
    out = tmp_path / "again.tar"
    index = export_oci(store, res.images, out)
    assert out.read_bytes() == Path(files["layered-oci.tar"]).read_bytes()
    assert index == res.index
    # docker archive -> store -> OCI tar -> new store: same image, same content
    s2 = new_store()
    imported = import_images(s2, files["busybox-docker.tar"]).images
    buf = io.BytesIO()
    export_oci(s2, imported, buf)
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue())) as tf:
        names = tf.getnames()
    assert names[:2] == ["blobs", "blobs/sha256"] and names[-3:] == ["index.json", "manifest.json", "oci-layout"]
    s3 = new_store()
    again = import_images(s3, io.BytesIO(buf.getvalue())).images
    assert [(i.name, i.target.digest) for i in again] == [(i.name, i.target.digest) for i in imported]
    assert check(s3, again[0].target).complete


def test_export_refuses_non_manifests_and_missing_content(new_store: NewStore, samples: Mapping[str, SampleImage], tmp_path: Path) -> None:
    from pyctrd.core.images import Image

    s = samples["busybox"]
    with pytest.raises(InvalidArgument, match="only manifests"):
        export_oci(s.blobs, [Image("x", s.config)], tmp_path / "x.tar")
    with pytest.raises(NotFound):
        export_oci(new_store(), [s.image()], tmp_path / "y.tar")


def _tar(entries: dict[str, bytes], symlinks: dict[str, str] | None = None) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in entries.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        for name, target in (symlinks or {}).items():
            ti = tarfile.TarInfo(name)
            ti.type, ti.linkname = tarfile.SYMTYPE, target
            tf.addfile(ti)
    buf.seek(0)
    return buf


def test_malformed_archives(new_store: NewStore, samples: Mapping[str, SampleImage]) -> None:
    s = samples["busybox"]
    cfg, layer = s.blobs[s.config.digest], s.blobs[s.layers[0].digest]
    cases = [
        (io.BytesIO(b"definitely not a tar" * 50), "not a valid image archive"),
        (_tar({"hello.txt": b"hi"}), "unrecognized image format"),
        (_tar({"oci-layout": b'{"imageLayoutVersion": "2.0.0"}', "index.json": b"{}"}), "unsupported OCI version"),
        (_tar({"oci-layout": b'{"imageLayoutVersion": "1.0.0"}'}), "missing index.json"),
        (_tar({"oci-layout": b"{nope"}), "malformed JSON"),
        (_tar({"blobs/sha256/" + "0" * 64: b"not what the name says"}), "expected"),
        (_tar({"manifest.json": b'{"Config": 1}'}), "must be a list"),
        (_tar({"manifest.json": b'[{"Config": "c.json", "Layers": [], "RepoTags": []}]'}), "image config 'c.json' not found"),
        (_tar({"manifest.json": b'[{"Config": "c.json", "Layers": ["l.tar"]}]', "c.json": cfg}), "layer 'l.tar' not found"),
        (_tar({"manifest.json": b'[{"Config": "c.json", "Layers": ["x/l.tar"]}]', "c.json": cfg},
              {"x/l.tar": "../missing.tar"}), "no target for symlink"),
        (_tar({"manifest.json": b'[{"Config": "c.json", "Layers": [], "RepoTags": ["Bad Name"]}]', "c.json": cfg}),
         "invalid reference format"),
    ]
    for source, text in cases:
        with pytest.raises(InvalidArgument, match=text):
            import_images(new_store(), source)
    # symlinked layers (docker save dedups identical layers this way) resolve
    ok = _tar({"manifest.json": json.dumps([{"Config": "c.json", "Layers": ["a/layer.tar", "b/layer.tar"],
                                             "RepoTags": ["x:1"]}]).encode(), "c.json": cfg, "a/layer.tar": layer},
              {"b/layer.tar": "../a/layer.tar"})
    [img] = import_images(new_store(), ok).images
    assert img.name == "docker.io/library/x:1"
    # an index naming a manifest the archive does not hold
    idx = json.dumps({"schemaVersion": 2, "manifests": [s.manifest.to_json()]}).encode()
    with pytest.raises(NotFound, match="archive is incomplete"):
        import_images(new_store(), _tar({"oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": idx}))
