"""The walking differ plugin over the real local content store and real mounts."""
from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import pytest
from difftrees import build_full_tree, make_tar, ti, tree_state

from pyctrd.core.diff import LABEL_UNCOMPRESSED, Applier, ArchiveError, Comparer
from pyctrd.core.mount import Mount
from pyctrd.core.ocispec import (
    MEDIA_TYPE_DOCKER_LAYER,
    MEDIA_TYPE_OCI_CONFIG,
    MEDIA_TYPE_OCI_LAYER,
    MEDIA_TYPE_OCI_LAYER_GZIP,
    MEDIA_TYPE_OCI_LAYER_ZSTD,
    Descriptor,
)
from pyctrd.errdefs import NotFound, Unavailable
from pyctrd.errdefs import NotImplemented as NotImplementedErr
from pyctrd.plugin import InitContext, Plugin, Registration, types
from pyctrd.plugins.content.local import LocalStore
from pyctrd.plugins.content.local.writer import LocalWriter
from pyctrd.plugins.diff.walking import WalkingDiff, readonly_mounts
from pyctrd.plugins.diff.walking.plugin import REGISTRATION, WalkingConfig
from tests.fixtures.blobs import write_blob


def bind(path: Path) -> list[Mount]:
    return [Mount("bind", str(path), ("rbind", "rw"))]


@pytest.fixture
def store(short_tmp: Path) -> LocalStore:
    return LocalStore(short_tmp / "content")


def nothing_pending(store: LocalStore) -> bool:
    return store.list_statuses() == [] and not any((store.root / "ingest").iterdir())


@pytest.fixture
def differ(store: LocalStore, short_tmp: Path) -> WalkingDiff:
    return WalkingDiff(store, short_tmp / "state/mounts")


def test_protocols_and_repr(differ: WalkingDiff, short_tmp: Path) -> None:
    assert isinstance(differ, Applier) and isinstance(differ, Comparer)
    assert repr(differ) == f"<WalkingDiff {short_tmp}/state/mounts>"


def test_registration() -> None:
    assert (REGISTRATION.type, REGISTRATION.id, REGISTRATION.requires) == (types.DIFF, "walking", (types.METADATA,))
    assert REGISTRATION.platforms and isinstance(REGISTRATION.config, WalkingConfig)
    assert REGISTRATION.uri == "io.containerd.differ.v1.walking"


def _ic(tmp: Path, *plugins: tuple[str, object]) -> InitContext:
    ic = InitContext(REGISTRATION, root=tmp / "root", state=tmp / "state", config=WalkingConfig(max_file_size=5))
    for type_, instance in plugins:
        reg = Registration(type=type_, id="x", init=lambda ic: None)
        ic.plugins.add(Plugin(reg, None, ic.meta, instance=instance))
    return ic


def test_init_prefers_the_metadata_content_store(tmp_path: Path) -> None:
    class Metadata:
        content_store = LocalStore(tmp_path / "namespaced")

    md, plain = Metadata(), LocalStore(tmp_path / "plain")
    d = REGISTRATION.init(_ic(tmp_path, (types.METADATA, md), (types.CONTENT, plain)))
    assert d.store is md.content_store and d.limits.max_file_size == 5
    assert d.mount_dir == tmp_path / "state/mounts"
    d = REGISTRATION.init(_ic(tmp_path, (types.METADATA, object()), (types.CONTENT, plain)))
    assert d.store is plain
    d = REGISTRATION.init(_ic(tmp_path, (types.CONTENT, plain)))
    assert d.store is plain
    with pytest.raises(NotFound):
        REGISTRATION.init(_ic(tmp_path))


def test_readonly_mounts() -> None:
    ov = Mount("overlay", "overlay", ("index=off", "workdir=/w", "upperdir=/u", "lowerdir=/l1:/l2"))
    assert readonly_mounts([ov]) == [Mount("overlay", "overlay", ("index=off", "lowerdir=/u:/l1:/l2"))]
    assert readonly_mounts([Mount("bind", "/s", ("rbind", "rw"))]) == [Mount("bind", "/s", ("rbind", "ro"))]


def test_apply_rejects_unknown_media_and_missing_blob(differ: WalkingDiff, store: LocalStore) -> None:
    with pytest.raises(NotImplementedErr, match="no processor"):
        differ.apply(Descriptor(MEDIA_TYPE_OCI_CONFIG, "sha256:" + "0" * 64, 2), [])
    with pytest.raises(NotFound):
        differ.apply(Descriptor(MEDIA_TYPE_OCI_LAYER_GZIP, "sha256:" + "0" * 64, 2), [])


@pytest.mark.requires_root
def test_compare_then_apply_round_trip(differ: WalkingDiff, store: LocalStore, short_tmp: Path) -> None:
    empty, src, dst = short_tmp / "empty", short_tmp / "src", short_tmp / "dst"
    empty.mkdir()
    dst.mkdir()
    build_full_tree(src)
    desc = differ.compare(bind(empty), bind(src), labels={"x": "y"})
    assert desc.media_type == MEDIA_TYPE_OCI_LAYER_GZIP
    blob = store.blob_path(desc.digest).read_bytes()
    raw = gzip.decompress(blob)
    diff_id = "sha256:" + hashlib.sha256(raw).hexdigest()
    assert store.info(desc.digest).labels == {"x": "y", LABEL_UNCOMPRESSED: diff_id}
    assert desc.size == len(blob) and nothing_pending(store)
    applied = differ.apply(desc, bind(dst))
    assert applied == Descriptor(MEDIA_TYPE_OCI_LAYER, diff_id, len(raw))
    assert tree_state(dst) == tree_state(src)
    assert os.listdir(short_tmp / "state/mounts") == []  # every temporary mount undone and removed
    # same trees again: the blob exists already, the label is still right
    again = differ.compare(bind(empty), bind(src), ref="fixed-ref")
    assert again.digest == desc.digest and store.info(desc.digest).labels[LABEL_UNCOMPRESSED] == diff_id


@pytest.mark.requires_root
def test_second_layer_and_uncompressed_media(differ: WalkingDiff, store: LocalStore, short_tmp: Path) -> None:
    base, changed, dst = short_tmp / "base", short_tmp / "changed", short_tmp / "dst"
    for d in (base, changed, dst):
        (d / "etc").mkdir(parents=True)
        (d / "etc/old").write_text("old")
        (d / "etc/keep").write_text("keep")
    (changed / "etc/old").unlink()
    (changed / "etc/new").write_text("new")
    desc = differ.compare(bind(base), bind(changed), media_type=MEDIA_TYPE_OCI_LAYER)
    raw = store.blob_path(desc.digest).read_bytes()
    assert desc.media_type == MEDIA_TYPE_OCI_LAYER and desc.digest == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert LABEL_UNCOMPRESSED not in store.info(desc.digest).labels
    assert differ.apply(desc, bind(dst)).digest == desc.digest  # uncompressed: digest is the diff ID
    assert sorted(os.listdir(dst / "etc")) == ["keep", "new"]
    with pytest.raises(NotImplementedErr, match="unsupported diff media type"):
        differ.compare(bind(base), bind(changed), media_type=MEDIA_TYPE_OCI_LAYER_ZSTD)


@pytest.mark.requires_root
def test_apply_onto_single_overlay_goes_to_upperdir(differ: WalkingDiff, store: LocalStore,
                                                   short_tmp: Path) -> None:
    lower, upper, work = short_tmp / "lower", short_tmp / "upper", short_tmp / "work"
    for d in (lower, upper, work):
        d.mkdir()
    (lower / "gone").write_text("x")
    blob = gzip.compress(make_tar(ti(".wh.gone"), ti("new", data=b"n")))
    desc = Descriptor(MEDIA_TYPE_DOCKER_LAYER, write_blob(store, blob), len(blob))
    mounts = [Mount("overlay", "overlay", (f"lowerdir={lower}", f"upperdir={upper}", f"workdir={work}"))]
    out = differ.apply(desc, mounts)
    assert out.media_type == MEDIA_TYPE_OCI_LAYER
    assert os.stat(upper / "gone").st_rdev == 0 and (upper / "new").read_bytes() == b"n"
    assert not (short_tmp / "state/mounts").exists()  # nothing was mounted


@pytest.mark.requires_root
def test_apply_verifies_the_blob_digest(differ: WalkingDiff, store: LocalStore, short_tmp: Path) -> None:
    dst = short_tmp / "dst"
    dst.mkdir()
    good = gzip.compress(make_tar(ti("f", data=b"x")))
    bad_digest = "sha256:" + "1" * 64
    store.blob_path(bad_digest).parent.mkdir(parents=True, exist_ok=True)
    store.blob_path(bad_digest).write_bytes(good)  # bytes rotted on disk: not what the digest names
    with pytest.raises(ArchiveError, match="layer digest mismatch") as exc:
        differ.apply(Descriptor(MEDIA_TYPE_OCI_LAYER_GZIP, bad_digest, len(good)), bind(dst))
    assert exc.value.stats.entries == 1  # what was applied is reported; the caller discards dst
    d = write_blob(store, good)
    with pytest.raises(ArchiveError, match="size mismatch"):
        differ.apply(Descriptor(MEDIA_TYPE_OCI_LAYER_GZIP, d, len(good) + 1), bind(dst))
    assert os.listdir(short_tmp / "state/mounts") == []


@pytest.mark.requires_root
def test_compare_failure_aborts_the_ingest(differ: WalkingDiff, store: LocalStore, short_tmp: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    src = short_tmp / "src"
    src.mkdir()
    (src / "f").write_bytes(os.urandom(4096))

    def broken(self: object, data: bytes) -> int:
        raise Unavailable("disk gone")

    monkeypatch.setattr(LocalWriter, "write", broken)  # fault injection at the lowest seam
    with pytest.raises(Unavailable):
        differ.compare([], bind(src))
    assert nothing_pending(store) and list(store.walk()) == []
    assert os.listdir(short_tmp / "state/mounts") == []

