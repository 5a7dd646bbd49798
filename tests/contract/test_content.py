"""The content store contract (containerd's content/testsuite, in pytest).

Every implementation of :class:`pyctrd.core.content.ContentStore` runs through these cases.
To add one, put a factory in :data:`FACTORIES`: ``factory(tmp_path) -> (store, cleanup)``.
A factory is called again with the *same* ``tmp_path`` to get a second instance on the same
data (``reopen``): that is how a crash or a daemon restart is simulated.
"""
from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pyctrd.core import digest as digests
from pyctrd.core.content import ContentStore, Info
from pyctrd.errdefs import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, Unavailable
from pyctrd.plugins.content.local import LocalStore

Factory = Callable[[Path], tuple[ContentStore, Callable[[], None]]]


def _local(tmp: Path) -> tuple[ContentStore, Callable[[], None]]:
    return LocalStore(tmp / "content"), lambda: None


def _metadata(tmp: Path) -> tuple[ContentStore, Callable[[], None]]:
    """The namespaced store of the metadata plugin over a local store (what the daemon serves)."""
    from pyctrd.plugins.metadata.sqlite.metadata import Metadata

    md = Metadata(tmp / "meta.db", content=LocalStore(tmp / "content"))
    assert md.content_store is not None
    return md.content_store, md.close


def _grpc(tmp: Path) -> tuple[ContentStore, Callable[[], None]]:
    """The client proxy against an in-process daemon rooted in ``tmp`` (restarted on reopen)."""
    from tests.fixtures.inprocess import restart_daemon_for

    return restart_daemon_for(tmp)


#: name -> factory: the local store, the namespaced metadata store, the gRPC proxy.
FACTORIES: dict[str, Factory] = {"local": _local, "metadata": _metadata, "grpc": _grpc}


@pytest.fixture(params=sorted(FACTORIES))
def reopen(request: pytest.FixtureRequest, tmp_path: Path, dump_tree: list[Path]) -> Iterator[
        Callable[[], ContentStore]]:
    """Opens an instance of the implementation on this test's directory (again and again)."""
    cleanups: list[Callable[[], None]] = []
    dump_tree.append(tmp_path)

    def open_store() -> ContentStore:
        store, cleanup = FACTORIES[request.param](tmp_path)
        cleanups.append(cleanup)
        return store

    yield open_store
    for cleanup in reversed(cleanups):
        cleanup()


@pytest.fixture
def content_store(reopen: Callable[[], ContentStore]) -> ContentStore:
    return reopen()


def blob(size: int, seed: int = 0) -> tuple[bytes, str]:
    data = random.Random(seed).randbytes(size)
    return data, digests.from_bytes(data)


def commit_blob(store: ContentStore, ref: str, data: bytes, labels: dict[str, str] | None = None) -> str:
    d = digests.from_bytes(data)
    w = store.writer(ref, total=len(data), expected=d)
    try:
        w.write(data)
        w.commit(len(data), d, labels)
    finally:
        w.close()
    return d


def read_all(store: ContentStore, d: str) -> bytes:
    r = store.reader_at(d)
    try:
        return r.read_at(0, r.size)
    finally:
        r.close()


# -- writing and reading -------------------------------------------------------------------
def test_write_commit_info_read(content_store: ContentStore) -> None:
    data, d = blob(300)
    before = datetime.now(UTC) - timedelta(seconds=1)
    w = content_store.writer("layer-1", total=300, expected=d)
    assert w.write(data[:100]) == 100 and w.write(data[100:]) == 200
    st = w.status()
    assert (st.ref, st.offset, st.total) == ("layer-1", 300, 300)
    assert w.digest() == d
    w.commit(300, d, {"origin": "test"})
    w.close()  # after commit: does nothing

    info = content_store.info(d)
    assert (info.digest, info.size, info.labels) == (d, 300, {"origin": "test"})
    assert info.created_at is not None and info.created_at.tzinfo is not None
    assert before <= info.created_at <= datetime.now(UTC) + timedelta(seconds=1)
    assert read_all(content_store, d) == data
    with pytest.raises(NotFound):
        content_store.status("layer-1")
    assert content_store.list_statuses() == []
    assert [i.digest for i in content_store.walk()] == [d]


def test_commit_without_size_or_digest_checks_nothing(content_store: ContentStore) -> None:
    data, d = blob(10)
    w = content_store.writer("anything")
    w.write(data)
    w.commit(0, "")
    assert content_store.info(d).size == 10


def test_small_and_empty_blobs(content_store: ContentStore) -> None:
    for i, data in enumerate([b"", b"x", b"hello"]):
        d = commit_blob(content_store, f"small-{i}", data)
        assert content_store.info(d).size == len(data)
        assert read_all(content_store, d) == data


def test_reader_at_offsets_and_past_end(content_store: ContentStore) -> None:
    data, d = blob(1000, seed=3)
    commit_blob(content_store, "r", data)
    r = content_store.reader_at(d)
    try:
        assert r.size == 1000
        assert r.read_at(0, 10) == data[:10]
        assert r.read_at(500, 100) == data[500:600]
        assert r.read_at(995, 10) == data[995:]  # short read only at the end
        assert r.read_at(1000, 10) == b""
        assert r.read_at(5000, 1) == b""
    finally:
        r.close()


def test_large_blob_streamed_in_chunks(content_store: ContentStore) -> None:
    size, chunk = 4 * 1024 * 1024 + 123, 64 * 1024
    data, d = blob(size, seed=7)
    w = content_store.writer("big", total=size)
    for i in range(0, size, chunk):
        w.write(data[i:i + chunk])
    assert content_store.status("big").offset == size
    w.commit(size, d)
    r = content_store.reader_at(d)
    try:
        h = hashlib.sha256()
        for off in range(0, r.size, 1 << 20):
            h.update(r.read_at(off, 1 << 20))
    finally:
        r.close()
    assert f"sha256:{h.hexdigest()}" == d


# -- resuming --------------------------------------------------------------------------------
def test_resume_after_close(content_store: ContentStore) -> None:
    data, d = blob(200, seed=1)
    w = content_store.writer("resume", total=200)
    w.write(data[:77])
    w.close()
    assert content_store.status("resume").offset == 77

    w = content_store.writer("resume", total=200)
    assert w.status().offset == 77
    assert w.digest() == digests.from_bytes(data[:77])  # what is on disk was hashed again
    w.write(data[77:])
    w.commit(200, d)
    assert read_all(content_store, d) == data


def test_resume_after_crash(reopen: Callable[[], ContentStore]) -> None:
    data, d = blob(500, seed=2)
    first = reopen()
    w = first.writer("crashy", total=500)
    w.write(data[:123])  # ... and the daemon dies: no close, no commit

    second = reopen()  # restarted on the same root
    st = second.status("crashy")
    assert (st.ref, st.offset, st.total) == ("crashy", 123, 500)
    w2 = second.writer("crashy", total=500)
    assert w2.status().offset == 123
    w2.write(data[123:])
    w2.commit(500, d)
    assert second.info(d).size == 500 and read_all(second, d) == data
    w.close()  # the dead writer's handle goes away quietly


def test_truncate_restarts(content_store: ContentStore) -> None:
    data, d = blob(64, seed=4)
    w = content_store.writer("t", total=64)
    w.write(b"garbage that must go")
    w.truncate(0)
    assert w.status().offset == 0 and content_store.status("t").offset == 0
    w.write(data)
    w.commit(64, d)
    assert read_all(content_store, d) == data


def test_partial_ingest_visible_in_status(content_store: ContentStore) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    w = content_store.writer("partial", total=100)
    w.write(b"x" * 40)
    st = content_store.status("partial")  # seen from outside while the writer is open
    assert (st.ref, st.offset, st.total) == ("partial", 40, 100)
    assert st.started_at is not None and st.updated_at is not None
    assert st.started_at.tzinfo is not None and before <= st.started_at <= st.updated_at
    assert [s.ref for s in content_store.list_statuses()] == ["partial"]
    w.close()


# -- locking -------------------------------------------------------------------------------
def test_ref_locked_while_a_writer_is_open(content_store: ContentStore) -> None:
    w = content_store.writer("locked")
    with pytest.raises(Unavailable, match="ref locked locked"):
        content_store.writer("locked")
    other = content_store.writer("other")  # other refs are free
    other.close()
    w.close()
    content_store.writer("locked").close()  # released on close


def test_ref_lock_released_by_commit_success_and_failure(content_store: ContentStore) -> None:
    w = content_store.writer("c")
    w.write(b"abc")
    with pytest.raises(FailedPrecondition):
        w.commit(4, "")
    w = content_store.writer("c")  # not locked after a failed commit
    w.commit(3, "")
    content_store.writer("c").close()  # nor after a good one


def test_only_one_of_many_threads_gets_the_ref(content_store: ContentStore) -> None:
    n = 6
    tried, results = threading.Barrier(n), []
    done = threading.Barrier(n)

    def attempt() -> str:
        tried.wait()
        try:
            w = content_store.writer("contended")
        except Unavailable:
            done.wait()
            return "unavailable"
        done.wait()  # hold the lock until everyone has tried
        w.close()
        return "ok"

    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(lambda _: attempt(), range(n)))
    assert sorted(results) == ["ok"] + ["unavailable"] * (n - 1)


def test_concurrent_writers_on_different_refs(content_store: ContentStore) -> None:
    blobs = [blob(50_000 + i, seed=10 + i) for i in range(8)]

    def write(i: int) -> str:
        data, d = blobs[i]
        w = content_store.writer(f"layer-{i}", total=len(data), expected=d)
        for off in range(0, len(data), 4096):
            w.write(data[off:off + 4096])
        w.commit(len(data), d)
        return d

    with ThreadPoolExecutor(4) as pool:
        committed = list(pool.map(write, range(8)))
    assert committed == [d for _, d in blobs]
    assert sorted(i.digest for i in content_store.walk()) == sorted(committed)
    assert content_store.list_statuses() == []
    for data, d in blobs:
        assert read_all(content_store, d) == data


def test_concurrent_commits_of_the_same_content(content_store: ContentStore) -> None:
    n, (data, d) = 4, blob(10_000, seed=20)
    ready = threading.Barrier(n)

    def commit(i: int) -> str:
        w = content_store.writer(f"same-{i}")
        w.write(data)
        ready.wait()  # all commit at once
        try:
            w.commit(len(data), d)
        except AlreadyExists:
            return "exists"
        return "ok"

    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(commit, range(n)))
    assert sorted(results) == ["exists"] * (n - 1) + ["ok"]
    assert read_all(content_store, d) == data
    assert content_store.list_statuses() == []


# -- commit failures -----------------------------------------------------------------------
@pytest.mark.parametrize("size_delta, wrong_digest", [(1, False), (-1, False), (0, True)])
def test_commit_mismatch_commits_nothing(content_store: ContentStore, size_delta: int,
                                         wrong_digest: bool) -> None:
    data, d = blob(100, seed=5)
    expected = blob(100, seed=6)[1] if wrong_digest else d
    w = content_store.writer("bad", total=100)
    w.write(data)
    with pytest.raises(FailedPrecondition, match="unexpected commit"):
        w.commit(100 + size_delta, expected)
    with pytest.raises(NotFound):
        content_store.info(d)
    with pytest.raises(NotFound):
        content_store.info(expected)
    assert content_store.status("bad").offset == 100  # the ingest is kept ...
    w = content_store.writer("bad", total=100)
    assert w.status().offset == 100  # ... and resumes
    w.commit(100, d)
    assert read_all(content_store, d) == data


def test_commit_of_existing_blob(content_store: ContentStore) -> None:
    data, d = blob(80)
    commit_blob(content_store, "first", data)
    for expected in (d, ""):  # with or without the digest given
        w = content_store.writer("second")
        w.write(data)
        with pytest.raises(AlreadyExists):
            w.commit(80, expected)
        with pytest.raises(NotFound):
            content_store.status("second")  # the ingest is removed
    assert [i.digest for i in content_store.walk()] == [d]


def test_writer_for_expected_blob_already_present(content_store: ContentStore) -> None:
    data, d = blob(30)
    commit_blob(content_store, "have", data)
    with pytest.raises(AlreadyExists):
        content_store.writer("again", total=30, expected=d)
    content_store.writer("again").close()  # the ref was not left locked


def test_commit_on_closed_writer(content_store: ContentStore) -> None:
    w = content_store.writer("closed")
    w.write(b"a")
    w.close()
    with pytest.raises(FailedPrecondition):
        w.commit(1, "")
    with pytest.raises(FailedPrecondition):
        w.write(b"b")


# -- ingests -------------------------------------------------------------------------------
def test_abort(content_store: ContentStore) -> None:
    w = content_store.writer("doomed")
    w.write(b"some bytes")
    w.close()
    content_store.abort("doomed")
    with pytest.raises(NotFound):
        content_store.status("doomed")
    assert content_store.list_statuses() == []
    with pytest.raises(NotFound):
        content_store.abort("doomed")
    assert content_store.writer("doomed").status().offset == 0  # a fresh start
    assert list(content_store.walk()) == []


def test_list_statuses_with_filters(content_store: ContentStore) -> None:
    for ref in ("layer-b", "config-1", "layer-a"):
        w = content_store.writer(ref)
        w.write(ref.encode())
        w.close()

    def refs(*filters: str) -> list[str]:
        return [s.ref for s in content_store.list_statuses(*filters)]

    assert refs() == ["config-1", "layer-a", "layer-b"]
    assert refs("ref~=^layer-") == ["layer-a", "layer-b"]
    assert refs("ref==config-1") == ["config-1"]
    assert refs("ref==config-1", "ref==layer-b") == ["config-1", "layer-b"]  # any of them
    assert refs("ref==nothing") == []
    assert content_store.status("layer-a").offset == len("layer-a")
    with pytest.raises(InvalidArgument):
        content_store.list_statuses("ref==")


# -- labels, walk, update, delete ------------------------------------------------------
def test_walk_with_filters(content_store: ContentStore) -> None:
    red = commit_blob(content_store, "a", b"aaa", {"team": "red", "containerd.io/gc.root": "x"})
    blue = commit_blob(content_store, "b", b"bbbb", {"team": "blue"})
    plain = commit_blob(content_store, "c", b"c")

    def walk(*filters: str) -> set[str]:
        return {i.digest for i in content_store.walk(*filters)}

    assert walk() == {red, blue, plain}
    assert walk("labels.team==red") == {red}
    assert walk("labels.team") == {red, blue}
    assert walk('labels."containerd.io/gc.root"') == {red}
    assert walk("labels.team!=red") == {blue, plain}
    assert walk("labels.team~=^b") == {blue}
    assert walk(f"digest=={plain}") == {plain}
    assert walk("size==4") == {blue}
    assert walk("labels.team==red", f"digest=={plain}") == {red, plain}
    assert {i.digest: i.labels for i in content_store.walk("labels.team")}[blue] == {"team": "blue"}
    with pytest.raises(InvalidArgument):
        list(content_store.walk("labels.team=="))


def test_update_replaces_all_labels_without_fieldpaths(content_store: ContentStore) -> None:
    d = commit_blob(content_store, "u", b"update me", {"a": "1", "b": "2"})
    out = content_store.update(Info(d, 0, labels={"c": "3"}))
    assert (out.digest, out.size, out.labels) == (d, 9, {"c": "3"})
    assert out.updated_at is not None and out.updated_at.tzinfo is not None
    assert content_store.info(d).labels == {"c": "3"}
    assert content_store.update(Info(d, 0, labels={"x": "y"}), ["labels"]).labels == {"x": "y"}
    assert content_store.update(Info(d, 0)).labels == {}
    assert content_store.info(d).labels == {}


def test_update_only_named_labels_with_fieldpaths(content_store: ContentStore) -> None:
    d = commit_blob(content_store, "u", b"update me", {"a": "1", "b": "2", "keep": "k"})
    out = content_store.update(Info(d, 0, labels={"a": "new", "c": "3", "ignored": "!"}),
                               ["labels.a", "labels.b", "labels.c"])
    assert out.labels == {"a": "new", "c": "3", "keep": "k"}  # b: absent from info -> removed
    assert content_store.info(d).labels == out.labels
    child = blob(1, seed=98)[1]  # GC ref labels must name a digest (the metadata store checks)
    dotted = content_store.update(Info(d, 0, labels={"containerd.io/gc.ref.content.0": child}),
                                  ["labels.containerd.io/gc.ref.content.0"])
    assert dotted.labels["containerd.io/gc.ref.content.0"] == child


def test_update_refuses_bad_input_and_keeps_labels(content_store: ContentStore) -> None:
    d = commit_blob(content_store, "u", b"update me", {"a": "1"})
    with pytest.raises(InvalidArgument):
        content_store.update(Info(d, 0, labels={"k": "v" * 4096}))
    with pytest.raises(InvalidArgument):
        content_store.update(Info(d, 0, labels={"k": "v"}), ["size"])
    assert content_store.info(d).labels == {"a": "1"}
    ok = content_store.update(Info(d, 0, labels={"k": "v" * (4096 - 1)}))  # exactly at the limit
    assert len(ok.labels["k"]) == 4095
    with pytest.raises(NotFound):
        content_store.update(Info(blob(1, seed=99)[1], 0, labels={"a": "1"}))


def test_commit_refuses_oversized_labels_and_stays_open(content_store: ContentStore) -> None:
    w = content_store.writer("l")
    w.write(b"labelled")
    with pytest.raises(InvalidArgument):
        w.commit(8, "", {"big": "x" * 5000})
    w.commit(8, "", {"small": "ok"})
    assert content_store.info(digests.from_bytes(b"labelled")).labels == {"small": "ok"}


def test_delete(content_store: ContentStore) -> None:
    d = commit_blob(content_store, "del", b"bye", {"a": "b"})
    content_store.delete(d)
    with pytest.raises(NotFound):
        content_store.info(d)
    with pytest.raises(NotFound):
        content_store.reader_at(d)
    with pytest.raises(NotFound):
        content_store.delete(d)
    assert list(content_store.walk()) == []
    assert commit_blob(content_store, "del", b"bye") == d  # may be written again: no old labels
    assert content_store.info(d).labels == {}


# -- bad input -----------------------------------------------------------------------------
BAD_DIGESTS = ["", "sha256:xyz", "nope", "sha256:" + "A" * 64, "sha256:" + "a" * 63, "md5:" + "a" * 32]


@pytest.mark.parametrize("bad", BAD_DIGESTS)
def test_invalid_digests(content_store: ContentStore, bad: str) -> None:
    with pytest.raises(InvalidArgument):
        content_store.info(bad)
    with pytest.raises(InvalidArgument):
        content_store.reader_at(bad)
    with pytest.raises(InvalidArgument):
        content_store.delete(bad)
    with pytest.raises(InvalidArgument):
        content_store.update(Info(bad, 0, labels={"a": "b"}))
    if bad:  # "" means "no expected digest" to writer and commit
        with pytest.raises(InvalidArgument):
            content_store.writer("r", expected=bad)
        w = content_store.writer("r")  # the failed attempt left no lock
        w.write(b"kept")
        with pytest.raises(InvalidArgument):
            w.commit(4, bad)
        w.commit(4, "")  # the writer is still usable
        assert content_store.info(digests.from_bytes(b"kept")).size == 4


def test_empty_ref(content_store: ContentStore) -> None:
    with pytest.raises(InvalidArgument):
        content_store.writer("")
