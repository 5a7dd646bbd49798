"""Container records in the SQLite metadata store, and their wire form."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from google.protobuf import any_pb2

from pyctrd import errdefs
from pyctrd.core import namespaces, typeurl
from pyctrd.core.containers import Container, ContainerStore, RuntimeInfo
from pyctrd.core.containers.proto import from_proto, to_proto
from pyctrd.plugins.metadata.sqlite.metadata import Metadata

SPEC = typeurl.pack_json(typeurl.OCI_SPEC_URL, {"ociVersion": "1.0.2-dev", "process": {"args": ["true"]}})
RUNC = RuntimeInfo("io.containerd.runc.v2", any_pb2.Any(type_url="containerd.runc.v1.Options"))


@pytest.fixture
def md(tmp_path: Path) -> Metadata:
    m = Metadata(tmp_path / "meta.db")
    yield m
    m.close()


def c(id: str, **kw: object) -> Container:
    return Container(id, runtime=RUNC, spec=SPEC, **kw)  # type: ignore[arg-type]


def test_create_get_list_in_namespaces(md: Metadata) -> None:
    store = md.containers
    assert isinstance(store, ContainerStore)
    made = store.create(c("c1", labels={"team": "red"}, image="busybox", snapshotter="overlayfs", snapshot_key="c1",
                          extensions={"x": any_pb2.Any(type_url="t", value=b"\x01")}))
    assert made.created_at == made.updated_at and made.created_at is not None
    got = store.get("c1")
    assert got == made and repr(got) == "<Container c1 io.containerd.runc.v2 image=busybox snapshot=overlayfs/c1>"
    assert got.runtime.options == RUNC.options and json.loads(got.spec.value)["process"]["args"] == ["true"]
    assert md.namespaces.list() == ["default"]  # made implicitly, as containerd does
    with namespaces.namespace("other"):
        with pytest.raises(errdefs.NotFound, match='container "c1" in namespace "other"'):
            store.get("c1")
        store.create(c("c1"))
        assert [x.id for x in store.list()] == ["c1"]
    with pytest.raises(errdefs.AlreadyExists):
        store.create(c("c1"))
    with pytest.raises(errdefs.FailedPrecondition, match="containers"):
        md.namespaces.delete("other")  # not empty


def test_filters(md: Metadata) -> None:
    md.containers.create(c("a", labels={"team": "red", "a.b": "x"}, image="busybox"))
    md.containers.create(c("b", labels={"team": "blue"}))
    def ids(*f: str) -> list[str]:
        return [x.id for x in md.containers.list(*f)]
    assert ids() == ["a", "b"]
    assert ids("labels.team==red") == ["a"]
    assert ids('labels."a.b"') == ["a"]
    assert ids("image==busybox", "id==b") == ["a", "b"]
    assert ids("runtime.name==io.containerd.runc.v2,labels.team~=^bl") == ["b"]
    with pytest.raises(errdefs.InvalidArgument):
        ids("labels.team==")


def test_validation(md: Metadata) -> None:
    with pytest.raises(errdefs.InvalidArgument, match="container.ID"):
        md.containers.create(c("../x"))
    with pytest.raises(errdefs.InvalidArgument, match="Runtime.Name must be set"):
        md.containers.create(Container("c1", spec=SPEC))
    with pytest.raises(errdefs.InvalidArgument, match="Spec must be set"):
        md.containers.create(Container("c1", runtime=RUNC))
    with pytest.raises(errdefs.InvalidArgument, match="Snapshotter must be set"):
        md.containers.create(c("c1", snapshot_key="k"))
    with pytest.raises(errdefs.InvalidArgument, match="label key and value"):
        md.containers.create(c("c1", labels={"k": "v" * 5000}))
    assert md.containers.list() == []  # nothing half-made


def test_update_with_field_paths(md: Metadata) -> None:
    before = md.containers.create(c("c1", labels={"a": "1", "b": "2"}, image="old", snapshotter="overlayfs"))
    u = md.containers.update(Container("c1", labels={"a": "9", "c": "3"}), ["labels.a", "labels.b", "labels.c"])
    assert u.labels == {"a": "9", "c": "3"} and u.image == "old" and u.created_at == before.created_at
    assert u.updated_at is not None and before.updated_at is not None and u.updated_at > before.updated_at
    u = md.containers.update(Container("c1", image="new", snapshot_key="k2"), ["image", "snapshotkey"])
    assert (u.image, u.snapshot_key, u.snapshotter) == ("new", "k2", "overlayfs")
    with pytest.raises(errdefs.InvalidArgument, match='cannot update "runtime"'):
        md.containers.update(c("c1"), ["runtime"])
    with pytest.raises(errdefs.InvalidArgument, match="Snapshotter field is immutable"):
        md.containers.update(c("c1"))  # a full replace must keep the immutable fields
    full = md.containers.update(c("c1", snapshotter="overlayfs", labels={"z": "1"}))
    assert full.labels == {"z": "1"} and full.image == ""
    with pytest.raises(errdefs.NotFound):
        md.containers.update(c("nope"), ["labels"])


def test_delete_and_gc_references(md: Metadata) -> None:
    md.containers.create(c("c1", snapshotter="overlayfs", snapshot_key="c1",
                           labels={"containerd.io/gc.ref.content.config": "sha256:" + "a" * 64,
                                   "containerd.io/gc.ref.snapshot.native/0": "base", "team": "red"}))
    with namespaces.namespace("ns2"):
        md.containers.create(c("c2"))
    assert list(md.containers.references()) == [
        ("default", "c1", "snapshot/overlayfs", "c1"),
        ("default", "c1", "content", "sha256:" + "a" * 64),
        ("default", "c1", "snapshot/native", "base")]
    assert list(md.containers.references("ns2")) == []
    md.containers.delete("c1")
    with pytest.raises(errdefs.NotFound):
        md.containers.delete("c1")
    assert list(md.containers.references()) == []


def test_records_survive_reopening(tmp_path: Path) -> None:
    m = Metadata(tmp_path / "meta.db")
    m.containers.create(c("c1", labels={"a": "b"}))
    m.close()
    m = Metadata(tmp_path / "meta.db")
    assert m.containers.get("c1").labels == {"a": "b"}
    m.close()


def test_proto_round_trip() -> None:
    x = c("c1", labels={"a": "b"}, image="i", snapshotter="s", snapshot_key="k",
          extensions={"e": any_pb2.Any(type_url="t", value=b"v")})
    p = to_proto(x)
    assert p.runtime.options.type_url == "containerd.runc.v1.Options" and p.extensions["e"].value == b"v"
    assert from_proto(p) == x
    assert from_proto(to_proto(Container("c2", runtime=RuntimeInfo("r")))).spec is None


def test_containers_are_gc_roots(tmp_path: Path) -> None:
    from pyctrd.core.gc import Node
    from pyctrd.plugins.content.local import LocalStore
    from tests.fixtures.blobs import write_blob

    m = Metadata(tmp_path / "meta.db", content=LocalStore(tmp_path / "content"))
    kept, stray = write_blob(m.content_store, b"config"), write_blob(m.content_store, b"stray")
    m.containers.create(c("c1", snapshotter="overlayfs", snapshot_key="c1",
                          labels={"containerd.io/gc.ref.content.config": kept}))
    assert "container" in repr(m.collector)
    stats = m.garbage_collect()
    assert stats.removed == [Node("content", "default", stray)]  # the container's blob stayed
    with m.db.view() as tx:
        [tracker] = [t for t in m.collector.trackers if t.types == ("container",)]
        assert tracker.scan_roots(tx) == [Node("container", "default", "c1")]
        assert tracker.references(tx, Node("container", "default", "c1")) == [
            Node("snapshot/overlayfs", "default", "c1"), Node("content", "default", kept)]
    m.containers.delete("c1")
    assert m.garbage_collect().removed == [Node("content", "default", kept)]
    m.close()
