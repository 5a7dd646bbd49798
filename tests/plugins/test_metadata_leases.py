"""Lease records and their resources in the metadata database."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pyctrd.core.leases import Lease, LeaseManager, Resource
from pyctrd.core.namespaces import namespace
from pyctrd.errdefs import AlreadyExists, InvalidArgument, NotFound, NotImplemented
from pyctrd.plugins.metadata.sqlite.metadata import Metadata
from tests.fixtures.clock import FakeClock

D = "sha256:" + "e" * 64


@pytest.fixture
def md(tmp_path: Path) -> Iterator[Metadata]:
    m = Metadata(tmp_path / "meta.db", clock=FakeClock())
    yield m
    m.close()


def test_create_list_filter_delete(md: Metadata) -> None:
    ls = md.leases
    assert isinstance(ls, LeaseManager)
    made = ls.create("b-lease", {"team": "red", "containerd.io/gc.expire": "2024-05-02T12:00:00Z"})
    assert repr(made) == "<Lease b-lease expires=2024-05-02T12:00:00Z>"
    assert made.created_at is not None and made.created_at.isoformat() == "2024-05-01T12:00:00+00:00"
    ls.create("a-lease", {"containerd.io/gc.flat": ""})
    assert [x.id for x in ls.list()] == ["a-lease", "b-lease"]
    assert [x.id for x in ls.list("labels.team==red")] == ["b-lease"]
    assert [x.id for x in ls.list("id==a-lease", "labels.team")] == ["a-lease", "b-lease"]
    assert repr(ls.list("id==a-lease")[0]) == "<Lease a-lease flat>"
    with pytest.raises(AlreadyExists, match='lease "a-lease"'):
        ls.create("a-lease")
    ls.delete("a-lease")
    with pytest.raises(NotFound, match='lease "a-lease"'):
        ls.delete("a-lease")
    with pytest.raises(InvalidArgument):
        ls.list("id==")
    assert repr(ls) == "<LeaseStore 1 leases>"


def test_random_ids_and_bad_labels(md: Metadata) -> None:
    a, b = md.leases.create(""), md.leases.create("")
    assert a.id and b.id and a.id != b.id
    with pytest.raises(InvalidArgument, match="RFC 3339"):
        md.leases.create("x", {"containerd.io/gc.expire": "in an hour"})
    with pytest.raises(InvalidArgument, match="maximum size"):
        md.leases.create("y", {"k": "v" * 5000})
    assert {x.id for x in md.leases.list()} == {a.id, b.id}


def test_resources_are_typed_as_containerd_types_them(md: Metadata) -> None:
    ls = md.leases
    ls.create("l")
    for r in (Resource(D, "content"), Resource("ref-1", "ingests"), Resource("k1", "snapshots/overlayfs"),
              Resource(D, "content")):  # twice is fine
        ls.add_resource("l", r)
    assert ls.list_resources("l") == [Resource(D, "content"), Resource("ref-1", "ingests"),
                                      Resource("k1", "snapshots/overlayfs")]
    ls.delete_resource("l", Resource("k1", "snapshots/overlayfs"))
    ls.delete_resource("l", Resource("k9", "snapshots/overlayfs"))  # not held: fine
    assert len(ls.list_resources("l")) == 2
    with pytest.raises(InvalidArgument, match="invalid content resource id"):
        ls.add_resource("l", Resource("latest", "content"))
    with pytest.raises(InvalidArgument, match="invalid snapshot resource type"):
        ls.add_resource("l", Resource("k", "snapshots"))
    with pytest.raises(InvalidArgument, match="invalid resource type"):
        ls.add_resource("l", Resource("r", "ingests/x"))
    with pytest.raises(NotImplemented, match="resource type images not supported yet"):
        ls.add_resource("l", Resource("busybox", "images"))
    with pytest.raises(NotFound):
        ls.add_resource("missing", Resource(D, "content"))
    with pytest.raises(NotFound):
        ls.list_resources("missing")


def test_leases_belong_to_a_namespace_and_go_with_it(md: Metadata) -> None:
    with namespace("a"):
        md.leases.create("l")
        md.leases.add_resource("l", Resource(D, "content"))
    assert md.leases.list() == []
    with pytest.raises(NotFound):
        md.leases.delete("l")
    md.namespaces.delete("a")  # leases do not keep a namespace alive (containerd neither)
    with namespace("a"):
        assert md.leases.list() == []
    with md.db.view() as c:
        assert c.execute("SELECT COUNT(*) FROM lease_resources").fetchone()[0] == 0


def test_deleting_marks_the_database_dirty(md: Metadata) -> None:
    seen: list[bool] = []
    md.register_mutation_callback(seen.append)
    md.leases.create("l")
    md.leases.delete("l")
    md.leases.create("m")
    assert seen == [False, True, True]  # dirty until a collection runs
    md.garbage_collect()
    md.leases.create("n")
    assert seen[-1] is False
    assert Lease("x") == Lease("x", None, {})
