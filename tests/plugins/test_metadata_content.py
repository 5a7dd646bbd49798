"""The namespaced content store: isolation, sharing policy, labels, leases, ingest records."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pyctrd.core import digest as digests
from pyctrd.core.content import ContentStore, Info
from pyctrd.core.leases import Resource, lease
from pyctrd.core.namespaces import namespace
from pyctrd.errdefs import AlreadyExists, InvalidArgument, NotFound
from pyctrd.plugins.content.local import LocalStore
from pyctrd.plugins.metadata.sqlite.metadata import Metadata
from tests.fixtures.clock import FakeClock

DATA = b"shared layer bytes"
D = digests.from_bytes(DATA)


def _md(tmp: Path, policy: str = "shared", clock: FakeClock | None = None) -> Metadata:
    kw = {"clock": clock} if clock else {}
    return Metadata(tmp / "meta.db", content=LocalStore(tmp / "content"), content_sharing_policy=policy, **kw)


@pytest.fixture
def md(tmp_path: Path) -> Iterator[Metadata]:
    m = _md(tmp_path)
    yield m
    m.close()


def commit(cs: ContentStore, ref: str, data: bytes, labels: dict[str, str] | None = None) -> str:
    with cs.writer(ref, total=len(data)) as w:  # type: ignore[attr-defined]
        w.write(data)
        w.commit(len(data), "", labels)
    return digests.from_bytes(data)


def test_is_a_content_store_with_a_repr(md: Metadata) -> None:
    cs = md.content_store
    assert isinstance(cs, ContentStore)
    commit(cs, "r", DATA)
    assert repr(cs) == "<NamespacedContentStore ns=default blobs=1 shared>"
    with namespace("other"):
        assert repr(cs) == "<NamespacedContentStore ns=other blobs=0 shared>"


def test_blobs_are_invisible_in_other_namespaces(md: Metadata) -> None:
    cs = md.content_store
    with namespace("a"):
        commit(cs, "r", DATA, {"team": "a"})
    with namespace("b"):
        for call in (lambda: cs.info(D), lambda: cs.reader_at(D), lambda: cs.delete(D)):
            with pytest.raises(NotFound, match="content digest"):
                call()
        assert list(cs.walk()) == []
    with namespace("a"):
        assert cs.info(D).labels == {"team": "a"}


def test_same_ref_in_two_namespaces_are_two_ingests(md: Metadata) -> None:
    cs = md.content_store
    with namespace("a"):
        wa = cs.writer("layer")
        wa.write(b"aaa")
    with namespace("b"):
        wb = cs.writer("layer")  # not locked: a different backend ref
        wb.write(b"bbbbb")
        assert [(s.ref, s.offset) for s in cs.list_statuses()] == [("layer", 5)]
    with namespace("a"):
        assert cs.status("layer").offset == 3
    assert wa.bref != wb.bref and wa.bref.startswith("a/") and wb.bref.startswith("b/")
    wa.close()
    wb.close()


def test_shared_policy_adds_a_record_without_bytes(md: Metadata) -> None:
    cs = md.content_store
    with namespace("a"):
        commit(cs, "r", DATA)
    with namespace("b"):
        w = cs.writer("r", total=len(DATA), expected=D)
        assert w.shared and repr(w) == f"<NamespacedWriter b/r offset={len(DATA)}/{len(DATA)} shared>"
        st = w.status()
        assert (st.offset, st.total, st.expected) == (len(DATA), len(DATA), D)
        assert md.content.list_statuses() == []  # no backend ingest at all
        w.commit(len(DATA), D, {"from": "a"})
        assert cs.info(D).labels == {"from": "a"}
        with pytest.raises(AlreadyExists):  # now the namespace has it
            cs.writer("again", expected=D)
    assert [i.digest for i in md.content.walk()] == [D]  # stored once


def test_shared_writer_with_a_different_total_must_write(md: Metadata) -> None:
    cs = md.content_store
    commit(cs, "r", DATA)
    with namespace("b"):
        w = cs.writer("r", total=len(DATA) + 1, expected=D)
        assert not w.shared and w.status().offset == 0
        w.close()


def test_writing_to_a_shared_writer_starts_a_private_ingest(md: Metadata) -> None:
    cs = md.content_store
    commit(cs, "r", DATA)
    with namespace("b"):
        w = cs.writer("r", expected=D)
        w.write(DATA)  # the caller proves it has the bytes
        assert not w.shared and w.status().offset == len(DATA)
        w.commit(len(DATA), D)
        assert cs.info(D).size == len(DATA)


def test_isolated_policy_makes_every_namespace_write(tmp_path: Path) -> None:
    md = _md(tmp_path, "isolated")
    cs = md.content_store
    commit(cs, "r", DATA)
    with namespace("b"):
        w = cs.writer("r", total=len(DATA), expected=D)
        assert not w.shared and w.status().offset == 0
        with pytest.raises(NotFound):
            cs.info(D)
        w.write(DATA)
        w.commit(len(DATA), D)
        assert cs.info(D).size == len(DATA)
    assert repr(cs).endswith("isolated>")
    md.close()


def test_delete_removes_the_record_not_the_bytes(md: Metadata) -> None:
    cs = md.content_store
    commit(cs, "r", DATA)
    with namespace("b"):
        commit(cs, "r", DATA)
    cs.delete(D)
    with pytest.raises(NotFound):
        cs.info(D)
    assert md.content.info(D).size == len(DATA)
    assert md.db.dirty == 1  # the collector will look
    with namespace("b"):
        assert cs.info(D).size == len(DATA)


def test_labels_are_validated_including_gc_labels(md: Metadata) -> None:
    cs = md.content_store
    w = cs.writer("r")
    w.write(DATA)
    with pytest.raises(InvalidArgument, match="gc.ref.content.l.0"):
        w.commit(0, "", {"containerd.io/gc.ref.content.l.0": "latest"})
    w.commit(0, "", {"containerd.io/gc.ref.content.l.0": D, "keep": "me"})  # still open: a retry works
    with pytest.raises(InvalidArgument, match="gc.expire"):
        cs.update(Info(D, 0, labels={"containerd.io/gc.expire": "never"}), ["labels.containerd.io/gc.expire"])
    with pytest.raises(InvalidArgument, match='cannot update "size"'):
        cs.update(Info(D, 0), ["size"])
    assert cs.info(D).labels == {"containerd.io/gc.ref.content.l.0": D, "keep": "me"}
    out = cs.update(Info(D, 0, labels={"new": "1"}), ["labels.new", "labels.keep"])
    assert out.labels == {"containerd.io/gc.ref.content.l.0": D, "new": "1"}


def test_writers_and_blobs_join_the_current_lease(md: Metadata) -> None:
    cs = md.content_store
    md.leases.create("pull")
    with lease("pull"):
        w = cs.writer("layer-1")
        w.write(DATA)
        assert md.leases.list_resources("pull") == [Resource("layer-1", "ingests")]
        w.commit(len(DATA), D)
        assert md.leases.list_resources("pull") == [Resource(D, "content")]
        cs.delete(D)
        assert md.leases.list_resources("pull") == []
    with md.db.view() as c:  # a leased ingest needs no expiry of its own
        assert c.execute("SELECT COUNT(*) FROM ingests").fetchone()[0] == 0


def test_an_existing_blob_joins_the_lease_before_already_exists(md: Metadata) -> None:
    cs = md.content_store
    commit(cs, "r", DATA)
    md.leases.create("pull")
    with lease("pull"), pytest.raises(AlreadyExists):
        cs.writer("r2", expected=D)
    assert md.leases.list_resources("pull") == [Resource(D, "content")]


def test_a_missing_lease_is_not_found(md: Metadata) -> None:
    with lease("nope"), pytest.raises(NotFound, match='lease "nope" does not exist'):
        md.content_store.writer("r")
    assert md.content_store.list_statuses() == []  # nothing half-made


def test_unleased_ingests_expire_after_a_day(tmp_path: Path) -> None:
    clock = FakeClock()
    md = _md(tmp_path, clock=clock)
    md.content_store.writer("r").close()
    with md.db.view() as c:
        (expire,) = c.execute("SELECT expire_at FROM ingests").fetchone()
    assert expire == "2024-05-02T12:00:00+00:00"
    md.close()


def test_abort_forgets_the_record_and_the_bytes(md: Metadata) -> None:
    cs = md.content_store
    w = cs.writer("r")
    w.write(b"partial")
    w.close()
    cs.abort("r")
    assert md.content.list_statuses() == []
    with pytest.raises(NotFound):
        cs.abort("r")
    commit(cs, "src", DATA)
    with namespace("b"):
        cs.writer("shared", expected=D).close()
        cs.abort("shared")  # a shared ingest has no bytes: still fine
        with pytest.raises(NotFound):
            cs.status("shared")
