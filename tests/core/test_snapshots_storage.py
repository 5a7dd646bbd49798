"""The snapshot records (Info, Kind, Usage) and the SQLite metadata store under them."""
from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pyctrd.core.filters import parse
from pyctrd.core.snapshots import (
    Info,
    Kind,
    Usage,
    adapt_info,
    disk_usage,
    filter_inherited_labels,
    validate_labels,
)
from pyctrd.core.snapshots.storage import MetaStore, Snapshot
from pyctrd.errdefs import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound

T0 = datetime(2026, 11, 28, 4, 53, 45, 426498, tzinfo=UTC)


class FakeClock:
    """Time that moves only when told to."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[MetaStore]:
    ms = MetaStore(tmp_path / "metadata.db", snapshotter="overlayfs", clock=clock)
    yield ms
    ms.close()


def commit_chain(ms: MetaStore, *names: str) -> None:
    parent = ""
    for name in names:
        with ms.transaction(writable=True) as tx:
            tx.create_snapshot(Kind.ACTIVE, f"{name}-a", parent)
            tx.commit_active(f"{name}-a", name, Usage())
        parent = name


# -- records -----------------------------------------------------------------------------

def test_kind_spelling_and_values() -> None:
    assert [str(k) for k in (Kind.VIEW, Kind.ACTIVE, Kind.COMMITTED)] == ["View", "Active", "Committed"]
    assert [int(k) for k in (Kind.VIEW, Kind.ACTIVE, Kind.COMMITTED)] == [1, 2, 3]  # the proto's
    assert Kind.parse("Committed") is Kind.COMMITTED and Kind.parse("bogus") is Kind.UNKNOWN


def test_info_repr_and_ctr_json() -> None:
    chain = "sha256:e535420c8dc9c2f354a40ef498dc79974f2970becc8b2b0b5b618458857bae2d"
    info = Info(name="c1", kind=Kind.ACTIVE, parent=chain, created=T0, updated=T0, snapshotter="overlayfs")
    assert repr(info) == "<Snapshot overlayfs:c1 ACTIVE parent=sha256:e535420c8dc9…>"
    assert repr(Info(name=chain, kind=Kind.COMMITTED)) == "<Snapshot sha256:e535420c8dc9… COMMITTED>"
    # the shape of reference/outputs/snapshots-info-c1.txt (key order included)
    assert list(info.to_json().items()) == [
        ("Kind", "Active"), ("Name", "c1"), ("Parent", chain),
        ("Created", "2026-11-28T04:53:45.426498Z"), ("Updated", "2026-11-28T04:53:45.426498Z")]
    assert "Labels" in Info(name="x", labels={"a": "b"}).to_json()
    assert "<caption>&lt;Snapshot overlayfs:c1" in info._repr_html_()


def test_usage_add_and_repr() -> None:
    assert Usage(8192, 3) + Usage(1024, 1) == Usage(9216, 4)
    assert repr(Usage(1992294, 64)) == "<Usage 1.9 MiB, 64 inodes>"


def test_filter_adaptor_fields() -> None:
    info = Info(name="a", kind=Kind.VIEW, parent="p", labels={"x.y": "1"})
    def match(text: str) -> bool:
        return bool(parse(text).match(adapt_info(info)))

    assert match("kind==view") and match("name==a") and match("parent==p") and match('labels."x.y"==1')
    assert not match("labels.z") and not match("kind==active") and not match("size==1")
    assert not parse("kind").match(adapt_info(Info(name="u")))  # UNKNOWN kind is absent


def test_label_helpers() -> None:
    assert filter_inherited_labels({"containerd.io/snapshot.ref": "r", "containerd.io/gc.root": "x"}) == {
        "containerd.io/snapshot.ref": "r"}
    assert validate_labels({"k": "v" * 4095}) == {"k": "v" * 4095}
    with pytest.raises(InvalidArgument, match="maximum size"):
        validate_labels({"k": "v" * 4096})
    with pytest.raises(InvalidArgument):
        validate_labels({"k": 1})


def test_disk_usage_counts_each_inode_once(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(b"x" * 10000)
    os.link(tmp_path / "d" / "f", tmp_path / "g")
    os.symlink("d/f", tmp_path / "l")
    u = disk_usage(tmp_path)
    blocks = sum(os.lstat(p).st_blocks for p in (tmp_path, tmp_path / "d", tmp_path / "d" / "f",
                                                  tmp_path / "l"))
    assert u == Usage(size=blocks * 512, inodes=4)


# -- the store ---------------------------------------------------------------------------

def test_file_is_created_on_first_use_and_private(tmp_path: Path) -> None:
    ms = MetaStore(tmp_path / "metadata.db")
    assert not (tmp_path / "metadata.db").exists()  # as containerd: unused, no file
    with ms.transaction() as tx:
        assert tx.walk() == []
    assert (tmp_path / "metadata.db").stat().st_mode & 0o777 == 0o600
    ms.close()
    assert sorted(os.listdir(tmp_path)) == ["metadata.db"]  # closed: no -wal/-shm/-journal left


def test_commits_go_to_a_write_ahead_log(tmp_path: Path) -> None:
    ms = MetaStore(tmp_path / "metadata.db")
    with ms.transaction(writable=True) as tx:
        tx.create_snapshot(Kind.ACTIVE, "a")
    assert (tmp_path / "metadata.db-wal").exists()  # one fsync of the log per commit
    conn = sqlite3.connect(tmp_path / "metadata.db")
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    conn.close()
    ms.close()
    again = MetaStore(tmp_path / "metadata.db")
    with again.transaction() as tx:
        assert [i.name for i in tx.walk()] == ["a"]
    again.close()


def test_times_come_from_the_clock(store: MetaStore, clock: FakeClock) -> None:
    with store.transaction(writable=True) as tx:
        tx.create_snapshot(Kind.ACTIVE, "a", labels={"x": "1"})
    t1 = clock.advance(5)
    with store.transaction(writable=True) as tx:
        info = tx.update_info(Info(name="a", labels={"y": "2"}), ["labels.y"])
    assert (info.created, info.updated, info.labels) == (T0, t1, {"x": "1", "y": "2"})
    t2 = clock.advance(5)
    with store.transaction(writable=True) as tx:
        tx.commit_active("a", "A", Usage(4096, 2), {"c": "3"})
        _, committed, usage = tx.get_info("A")
    assert (committed.created, committed.updated, committed.labels) == (t2, t2, {"c": "3"})
    assert usage == Usage(4096, 2) and committed.kind is Kind.COMMITTED


def test_ids_grow_and_are_never_reused(tmp_path: Path) -> None:
    ms = MetaStore(tmp_path / "metadata.db")
    with ms.transaction(writable=True) as tx:
        a, b = tx.create_snapshot(Kind.ACTIVE, "a"), tx.create_snapshot(Kind.VIEW, "b")
        tx.remove("b")
        c = tx.create_snapshot(Kind.ACTIVE, "c")
        assert tx.commit_active("a", "A", Usage()) == a.id  # commit keeps the ID (the directory)
    assert (a.id, b.id, c.id) == ("1", "2", "3")
    ms.close()
    again = MetaStore(tmp_path / "metadata.db")
    with again.transaction(writable=True) as tx:
        assert tx.create_snapshot(Kind.ACTIVE, "b").id == "4"
        assert tx.id_map() == {"1": "A", "3": "c", "4": "b"}
    again.close()


def test_parent_chain_nearest_first(store: MetaStore) -> None:
    commit_chain(store, "l1", "l2", "l3")
    with store.transaction(writable=True) as tx:
        s = tx.create_snapshot(Kind.ACTIVE, "c1", "l3")
        assert s == Snapshot("4", Kind.ACTIVE, ("3", "2", "1"))
        assert tx.get_snapshot("c1") == s
        assert repr(s) == "<storage.Snapshot 4 ACTIVE parents=[3,2,1]>"
        with pytest.raises(FailedPrecondition, match="not active or view"):
            tx.get_snapshot("l3")
        assert tx.get_info("c1")[1].parent == "l3"


def test_create_and_commit_errors_in_containerd_order(store: MetaStore) -> None:
    commit_chain(store, "base")
    with store.transaction(writable=True) as tx:
        tx.create_snapshot(Kind.ACTIVE, "a", "base")
        tx.create_snapshot(Kind.VIEW, "v", "base")
        with pytest.raises(InvalidArgument):
            tx.create_snapshot(Kind.COMMITTED, "x")
        with pytest.raises(NotFound, match='parent snapshot "nope"'):
            tx.create_snapshot(Kind.ACTIVE, "x", "nope")
        with pytest.raises(InvalidArgument, match="not a committed"):
            tx.create_snapshot(Kind.ACTIVE, "x", "a")
        with pytest.raises(AlreadyExists):
            tx.create_snapshot(Kind.VIEW, "a", "base")
        # commit: a taken name wins over everything else, then a missing key, then the kind
        with pytest.raises(AlreadyExists, match="committed snapshot base"):
            tx.commit_active("nope", "base", Usage())
        with pytest.raises(NotFound):
            tx.commit_active("nope", "B", Usage())
        with pytest.raises(FailedPrecondition, match='"v" is not active'):
            tx.commit_active("v", "B", Usage())
        with pytest.raises(FailedPrecondition, match="with child"):
            tx.remove("base")
        with pytest.raises(InvalidArgument):
            tx.update_info(Info(name="a"), ["kind"])


def test_a_failed_block_rolls_back_and_undoes(store: MetaStore) -> None:
    undone: list[str] = []
    with pytest.raises(RuntimeError), store.transaction(writable=True) as tx:
        tx.create_snapshot(Kind.ACTIVE, "a")
        tx.on_rollback(lambda: undone.append("a"))
        raise RuntimeError("file work failed")
    assert undone == ["a"]
    with store.transaction(writable=True) as tx:
        with pytest.raises(NotFound):
            tx.get_info("a")
        tx.create_snapshot(Kind.ACTIVE, "b")
        tx.on_rollback(lambda: undone.append("b"))
    assert undone == ["a"]  # committed: nothing undone


def test_read_transactions_refuse_writes(store: MetaStore) -> None:
    with store.transaction() as tx, pytest.raises(FailedPrecondition):
        tx.create_snapshot(Kind.ACTIVE, "a")


def test_readers_do_not_wait_for_a_writer(store: MetaStore) -> None:
    commit_chain(store, "base")
    inside, release = threading.Event(), threading.Event()

    def slow_writer() -> None:
        with store.transaction(writable=True) as tx:
            tx.create_snapshot(Kind.ACTIVE, "pending")
            inside.set()
            release.wait(30)  # a writer busy copying files

    t = threading.Thread(target=slow_writer)
    t.start()
    try:
        assert inside.wait(30)
        with store.transaction() as tx:  # must not block
            assert [i.name for i in tx.walk()] == ["base"]  # and sees only committed data
    finally:
        release.set()
        t.join()
    with store.transaction() as tx:
        assert [i.name for i in tx.walk()] == ["base", "pending"]


def test_many_threads_get_distinct_ids(store: MetaStore) -> None:
    def create(n: int) -> None:
        for i in range(10):
            with store.transaction(writable=True) as tx:
                tx.create_snapshot(Kind.ACTIVE, f"t{n}-{i}")

    threads = [threading.Thread(target=create, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with store.transaction() as tx:
        assert sorted(map(int, tx.id_map())) == list(range(1, 81))


def test_a_burst_of_readers_leaves_at_most_max_idle_connections(store: MetaStore) -> None:
    """Twelve readers at once need twelve connections; afterwards the pool keeps MAX_IDLE of
    them and closes the rest (otherwise every burst would leave its fds open for good)."""
    from pyctrd.core.snapshots.storage.metastore import MAX_IDLE

    def open_on_db() -> int:
        return sum(os.readlink(f"/proc/self/fd/{fd}") == str(store.path) for fd in os.listdir("/proc/self/fd")
                   if os.path.exists(f"/proc/self/fd/{fd}"))

    commit_chain(store, "a")
    barrier = threading.Barrier(12)

    def read() -> None:
        with store.transaction() as tx:
            barrier.wait(30)
            list(tx.walk())
            barrier.wait(30)  # all twelve hold their connection here

    def burst() -> int:
        threads = [threading.Thread(target=read) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return open_on_db()

    first = burst()
    # In WAL mode SQLite may hold a closed connection's descriptor until the file's last lock
    # goes (closing it would drop the process's POSIX locks) and hands it to the next
    # connection: bursts reuse descriptors, they never add to them.
    assert [burst() for _ in range(3)] == [first] * 3 and first <= 12
    assert len(store._idle) <= MAX_IDLE < 12
    store.close()
    assert open_on_db() == 0


def test_closed_store_and_newer_schema(tmp_path: Path) -> None:
    ms = MetaStore(tmp_path / "metadata.db")
    commit_chain(ms, "a")
    assert repr(ms) == f"<MetaStore {tmp_path}/metadata.db>"
    ms.close()
    ms.close()
    assert repr(ms) == f"<MetaStore {tmp_path}/metadata.db closed>"
    with pytest.raises(FailedPrecondition, match="closed"), ms.transaction():
        pass
    with sqlite3.connect(tmp_path / "metadata.db") as db:
        db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(FailedPrecondition, match="schema version 99"), \
            MetaStore(tmp_path / "metadata.db").transaction():
        pass
