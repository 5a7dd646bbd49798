"""The local content store beyond the contract: containerd's exact on-disk layout, files a
real containerd wrote, times from an injected clock, reprs, the plugin, and staying in root."""
from __future__ import annotations

import gc
import hashlib
import json
import os
import stat
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pyctrd.core import digest as digests
from pyctrd.core.content import ContentStore, Info
from pyctrd.errdefs import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from pyctrd.plugin import REGISTRY, InitContext, Plugin, types
from pyctrd.plugins.content.local import LocalStore
from pyctrd.plugins.content.local.files import format_time, parse_time

T0 = datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=UTC)
HELLO = digests.from_bytes(b"hello")


class Clock:
    def __init__(self, t: datetime = T0) -> None:
        self.t = t

    def __call__(self) -> datetime:
        return self.t

    def advance(self, seconds: float) -> datetime:
        self.t += timedelta(seconds=seconds)
        return self.t


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) + ("/" if p.is_dir() else "") for p in root.rglob("*"))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> LocalStore:
    return LocalStore(tmp_path / "content", clock=clock)


def test_is_a_content_store(store: LocalStore) -> None:
    assert isinstance(store, ContentStore)


def test_layout_is_containerds(store: LocalStore, clock: Clock) -> None:
    root, ref = store.root, "layer-sha256:abc"
    assert tree(root) == ["ingest/"]
    w = store.writer(ref, total=5)
    ingest = root / "ingest" / hashlib.sha256(ref.encode()).hexdigest()
    assert store.ingest_path(ref) == ingest
    assert tree(ingest) == ["data", "ref", "startedat", "total", "updatedat"]
    assert (ingest / "ref").read_text() == ref
    assert (ingest / "startedat").read_text() == "2024-05-01T12:00:00.25Z"
    assert (ingest / "total").read_text() == "5"
    clock.advance(5)
    w.write(b"hello")
    assert (ingest / "data").read_bytes() == b"hello"  # unbuffered: on disk at once
    w.close()
    assert (ingest / "updatedat").read_text() == "2024-05-01T12:00:05.25Z"

    committed_at = clock.advance(55)
    w = store.writer(ref, total=5)
    w.commit(5, HELLO)
    blob = root / "blobs" / "sha256" / digests.hex_of(HELLO)
    assert store.blob_path(HELLO) == blob
    assert tree(root) == ["blobs/", "blobs/sha256/", f"blobs/sha256/{blob.name}", "ingest/"]
    assert blob.read_bytes() == b"hello"
    assert stat.S_IMODE(blob.stat().st_mode) & 0o222 == 0  # read-only
    info = store.info(HELLO)
    assert info.created_at == committed_at and info.created_at.tzinfo is UTC


def test_labels_sidecar_only_while_labels_exist(store: LocalStore) -> None:
    label_file = store.root / "labels" / "sha256" / f"{digests.hex_of(HELLO)}.json"
    w = store.writer("r")
    w.write(b"hello")
    w.commit(5, HELLO, {"b": "2", "a": "1"})
    assert json.loads(label_file.read_text()) == {"a": "1", "b": "2"}
    store.update(Info(HELLO, 5))
    assert not label_file.exists()
    store.update(Info(HELLO, 5, labels={"x": "y"}))
    store.delete(HELLO)
    assert not label_file.exists() and not store.blob_path(HELLO).exists()


def test_times_come_from_the_clock(store: LocalStore, clock: Clock) -> None:
    w = store.writer("timed")
    assert w.status().started_at == T0
    later = clock.advance(3)
    w.write(b"hello")
    assert w.status().updated_at == later and w.status().started_at == T0
    assert store.status("timed").started_at == T0
    w.commit(5, HELLO)
    updated = clock.advance(60)
    out = store.update(Info(HELLO, 5, labels={"a": "b"}))
    assert out.updated_at == updated and out.created_at == later
    assert store.info(HELLO).updated_at == updated  # kept in the blob's atime, as containerd does


def test_resumes_an_ingest_written_by_containerd(store: LocalStore) -> None:
    ref = "fetched-by-containerd"
    ingest = store.root / "ingest" / hashlib.sha256(ref.encode()).hexdigest()
    ingest.mkdir()
    (ingest / "ref").write_text(ref)
    (ingest / "data").write_bytes(b"hel")
    (ingest / "startedat").write_text("2024-05-01T14:00:00.123456789+02:00")  # Go, local zone
    (ingest / "updatedat").write_text("2024-05-01T14:00:01.5+02:00")
    st = store.status(ref)
    assert (st.offset, st.total) == (3, 0)
    assert st.started_at == datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    w = store.writer(ref, total=5)
    assert w.status().offset == 3 and (ingest / "total").read_text() == "5"
    w.write(b"lo")
    w.commit(5, HELLO)
    assert store.blob_path(HELLO).read_bytes() == b"hello"


def test_resume_with_a_different_total_is_refused(store: LocalStore) -> None:
    w = store.writer("t", total=10)
    w.write(b"1234")
    w.close()
    with pytest.raises(FailedPrecondition, match="total 11 differs"):
        store.writer("t", total=11)
    assert store.status("t").offset == 4
    assert store.writer("t", total=10).status().offset == 4  # nothing lost, not locked


def test_half_created_ingest_starts_over_but_orphan_data_is_kept(store: LocalStore) -> None:
    half = store.ingest_path("half")
    half.mkdir()
    (half / "ref").write_text("half")  # crashed before the timestamps and data
    assert store.list_statuses() == []
    w = store.writer("half")
    assert w.status().offset == 0
    w.close()
    assert [s.ref for s in store.list_statuses()] == ["half"]

    orphan = store.ingest_path("orphan")
    orphan.mkdir()
    (orphan / "data").write_bytes(b"precious")
    with pytest.raises(FailedPrecondition):
        store.writer("orphan")
    assert (orphan / "data").read_bytes() == b"precious"


def test_truncate_to_a_middle_offset(store: LocalStore) -> None:
    w = store.writer("cut")
    w.write(b"0123456789")
    w.truncate(4)
    assert w.digest() == digests.from_bytes(b"0123") and store.status("cut").offset == 4
    with pytest.raises(InvalidArgument):
        w.truncate(5)
    with pytest.raises(InvalidArgument):
        w.truncate(-1)
    w.write(b"4")
    w.commit(5, digests.from_bytes(b"01234"))


def test_dropped_writer_releases_its_ref(store: LocalStore) -> None:
    w = store.writer("dropped")
    w.write(b"ab")
    del w
    gc.collect()
    again = store.writer("dropped")
    assert again.status().offset == 2
    again.close()


def test_each_store_object_has_its_own_lock_table(tmp_path: Path) -> None:
    # Two objects on one root behave like two processes (a restart after a crash).
    first, second = LocalStore(tmp_path / "c"), LocalStore(tmp_path / "c")
    w = first.writer("r")
    with pytest.raises(Unavailable):
        first.writer("r")
    second.writer("r").close()
    w.close()


def test_reader(store: LocalStore) -> None:
    w = store.writer("r")
    w.write(b"hello")
    w.commit(5, HELLO)
    with store.reader_at(HELLO) as r:
        assert repr(r) == f"<BlobReader {HELLO[:19]}… 5B>"
        with pytest.raises(InvalidArgument):
            r.read_at(-1, 2)
        assert r.read_at(1, 3) == b"ell"
    with pytest.raises(FailedPrecondition):
        r.read_at(0, 1)


def test_walk_and_list_skip_strays(store: LocalStore) -> None:
    w = store.writer("r")
    w.write(b"hello")
    w.commit(5, HELLO)
    (store.root / "blobs" / "sha256" / ".tmp-leftover").write_text("x")
    (store.root / "ingest" / "stray-file").write_text("x")
    assert [i.digest for i in store.walk()] == [HELLO]
    assert store.list_statuses() == []


def test_reprs(store: LocalStore) -> None:
    root = store.root
    assert repr(store) == f"<LocalStore {root} blobs=0 ingests=0>"
    w = store.writer("layer-1", total=20)
    w.write(b"0123456789")
    assert repr(w) == "<Writer ref=layer-1 offset=10/20>"
    assert repr(store) == f"<LocalStore {root} blobs=0 ingests=1>"
    w.close()
    assert repr(w) == "<Writer ref=layer-1 offset=10/20 closed>"
    long = store.writer("layer-sha256:" + "f" * 64)
    assert repr(long) == "<Writer ref=layer-sha256:ffffffffffffffffffffffffff… offset=0/?>"
    long.close()
    w = store.writer("hello")
    w.write(b"hello")
    w.commit(5, HELLO)
    assert repr(store) == f"<LocalStore {root} blobs=1 ingests=2>"
    assert repr(store.info(HELLO)) == "<Info sha256:2cf24dba5fb0 5B>"
    assert repr(store.status("layer-1")) == "<Status layer-1 10/20>"


def test_timestamp_text_round_trips() -> None:
    t = datetime(2024, 1, 2, 3, 4, 5, 600000, tzinfo=UTC)
    assert format_time(t) == "2024-01-02T03:04:05.6Z"
    assert format_time(t.replace(microsecond=0)) == "2024-01-02T03:04:05Z"
    assert parse_time(format_time(t)) == t
    with pytest.raises(InvalidArgument):
        parse_time("yesterday")


def test_nothing_is_written_outside_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scratch = tmp_path / "tmpdir"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    root = tmp_path / "deep" / "root"
    before = set(tree(tmp_path))
    store = LocalStore(root)
    for i in range(3):
        w = store.writer(f"layer-{i}", total=5)
        w.write(f"blob{i}".encode())
        w.commit(5, "", {"n": str(i)})
    d = digests.from_bytes(b"blob0")
    store.update(Info(d, 5, labels={"x": "y"}))
    store.delete(digests.from_bytes(b"blob1"))
    crashed = store.writer("crash", total=9)
    crashed.write(b"part")
    LocalStore(root).writer("crash", total=9).close()
    store.writer("gone").close()
    store.abort("gone")
    crashed.close()
    new = {p for p in set(tree(tmp_path)) - before if not p.startswith("deep/root/")}
    assert new == {"deep/"}  # and deep/root/ itself
    assert set(tree(root)) >= {"blobs/", "ingest/", "labels/"}
    assert list(scratch.iterdir()) == []


def test_plugin_registers_and_exports_root(tmp_path: Path) -> None:
    from pyctrd.plugins.content.local import plugin

    reg = plugin.REGISTRATION
    assert (reg.type, reg.id, reg.uri) == (types.CONTENT, "content", "io.containerd.content.v1.content")
    assert REGISTRY.get(types.CONTENT, "content") is reg
    ic = InitContext(reg, root=tmp_path / "root" / reg.uri, state=tmp_path / "state" / reg.uri)
    p = Plugin.run(reg, ic)
    assert p.status == "ok", p.error
    assert isinstance(p.instance, LocalStore) and p.instance.root == ic.root
    assert p.meta.exports == {"root": str(ic.root)}
    assert tree(tmp_path) == ["root/", f"root/{reg.uri}/", f"root/{reg.uri}/ingest/"]


def test_abort_of_unknown_and_status_messages(store: LocalStore) -> None:
    with pytest.raises(NotFound, match='ingest ref "nope": not found'):
        store.status("nope")
    with pytest.raises(NotFound, match='ingest ref "nope"'):
        store.abort("nope")
    with pytest.raises(NotFound, match=f"content {HELLO}: not found"):
        store.info(HELLO)


def test_fsyncs_where_containerd_syncs(store: LocalStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The timestamps are synced (containerd's writeToCompletion opens them O_SYNC), ref and
    total are not (os.WriteFile); commit syncs the data and the rename. Each fsync of a new
    file costs an ext4 journal commit: per blob this is most of an unpack's cost."""
    synced: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:  # a spy: records which file, then really syncs it
        name = Path(os.readlink(f"/proc/self/fd/{fd}")).name
        synced.append(name.split(".")[1] if name.startswith(".") else name)  # ".startedat.x.tmp"
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with store.writer("hello-ref", total=5) as w:
        assert synced == ["startedat", "updatedat"]
        w.write(b"hello")
        w.commit(5, HELLO)
    assert synced == ["startedat", "updatedat", "data", digests.ALGORITHM]  # the blob, its directory
    assert store.info(HELLO).size == 5 and tree(store.root / "ingest") == []
