"""A full disk: the daemon's root on a 6 MiB tmpfs, filled by content and by records.

Writes that do not fit fail with a clear error naming the cause (ENOSPC has no kind of its
own in containerd's errdefs either: UNKNOWN, with "no space left on device" in the message),
nothing already committed is damaged, the database passes its integrity check, the daemon
keeps serving - also after a restart on the full disk - and once space is freed, writes work
again.
"""
from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyctrd.client import Client
from pyctrd.core import digest as digests
from pyctrd.core.leases import lease
from pyctrd.errdefs import AlreadyExists, PyctrdError
from tests.fixtures.daemon import DaemonProcess, start_daemon
from tests.reliability.crash import integrity
from tests.reliability.figures import record

pytestmark = pytest.mark.requires_root


@pytest.fixture
def small_root(short_tmp: Path) -> Iterator[Path]:
    disk = short_tmp / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(disk)], check=True)
    try:
        (disk / "ballast").write_bytes(b"\0" * (512 * 1024))  # what an admin frees to recover
        yield disk / "root"
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _start(short_tmp: Path, root: Path) -> DaemonProcess:
    d = start_daemon(short_tmp, args=("--root", str(root)))
    d.root = root
    return d


def _write(c: Client, data: bytes, ref: str) -> str:
    dg = digests.from_bytes(data)
    w = c.content.writer(ref, total=len(data), expected=dg)
    try:
        for off in range(0, len(data), 64 * 1024):
            w.write(data[off:off + 64 * 1024])
        w.commit(len(data), dg)
    finally:
        w.close()
    return dg


def _clear(exc: PyctrdError) -> None:
    text = str(exc).lower()
    assert "no space left on device" in text or "disk is full" in text, exc
    assert "Traceback" not in str(exc) and "Errno" not in str(exc), exc  # mapped, not a bare OSError


def test_a_full_disk_fails_cleanly_and_recovers(short_tmp: Path, small_root: Path) -> None:
    d = _start(short_tmp, small_root)
    try:
        c = d.client("full")
        c.leases.create("keep")
        kept: dict[str, bytes] = {}
        failures = 0
        for i in range(40):  # 40 x 256 KiB into 6 MiB: the disk fills up on the way
            data = bytes([i]) * (256 * 1024)
            try:
                with lease("keep"):
                    dg = _write(c, data, f"b{i}")
                kept[dg] = data
            except PyctrdError as exc:
                _clear(exc)
                failures += 1
                if failures >= 3:
                    break
        assert failures and kept, "the disk never filled up"
        assert c.version().version  # still serving
        for n in range(200):  # records: containers with big labels, until the database is full too
            try:
                c.containers.create(f"c{n}", spec={"ociVersion": "1.0.2"}, runtime="io.containerd.runc.v2",
                                    labels={"k": "x" * 3000})
            except PyctrdError as exc:
                _clear(exc)
                break
        else:
            pytest.fail("the database never filled up")
        assert integrity(d.root) == "ok"
        for dg, data in kept.items():  # nothing committed was damaged
            r = c.content.reader_at(dg)
            assert r.read_at(0, r.size) == data
            r.close()
        for st in c.content.list_statuses():  # what did not fit is left as ingests: abort them
            c.content.abort(st.ref)
        d.stop(9)
        # With the disk full, even deletions fail: SQLite needs journal space to delete (bolt
        # would need free pages). Free some, as an admin would, then clean up through the API.
        (small_root.parent / "ballast").unlink()
        d = _start(short_tmp, small_root)  # a restart on a full disk
        c = d.client("full")
        assert integrity(d.root) == "ok" and c.version().version
        for x in c.containers.list():
            c.containers.delete(x.id)
        c.leases.delete("keep", sync=True)  # frees the blobs
        c.leases.create("after")
        with lease("after"):
            again = _write(c, b"after" * 50_000, "after")  # writes work again
        assert c.content.info(again).size == 250_000
        record("faults", "disk full (root on a 6 MiB tmpfs)", failures, "refused writes")
    finally:
        rc = d.stop()
        log = d.log_text()
        assert rc == 0 and "Traceback" not in log, log[-3000:]


def test_an_ingest_cut_short_by_a_full_disk_resumes_after_space_is_freed(short_tmp: Path, small_root: Path) -> None:
    d = _start(short_tmp, small_root)
    try:
        c = d.client("full")
        c.leases.create("ballast")
        with lease("ballast"):
            _write(c, b"B" * (4 * 1024 * 1024), "ballast")
        data = bytes(range(256)) * 12_000  # ~3 MiB: does not fit beside the ballast
        dg = digests.from_bytes(data)
        c.leases.create("big")
        with lease("big"):
            w = c.content.writer("big", total=len(data), expected=dg)
        with pytest.raises(PyctrdError) as ei:
            for off in range(0, len(data), 64 * 1024):
                w.write(data[off:off + 64 * 1024])
            w.commit(len(data), dg)
        w.close()
        _clear(ei.value)
        st = c.content.status("big")
        assert 0 < st.offset < len(data)
        (small_root.parent / "ballast").unlink()  # room for the journal: deletions work again
        c.leases.delete("ballast", sync=True)
        with lease("big"):
            try:
                w = c.content.writer("big", total=len(data), expected=dg)
            except AlreadyExists:
                pytest.fail("committed although it did not fit")
            off = w.status().offset
            w.write(data[off:])
            w.commit(len(data), dg)
            w.close()
        r = c.content.reader_at(dg)
        assert r.read_at(0, r.size) == data
        r.close()
        assert integrity(d.root) == "ok"
        record("faults", "ingests resumed after a full disk", 1, "ingests")
    finally:
        rc = d.stop()
        assert rc == 0, d.log_text()[-3000:]


def test_a_pull_onto_a_full_disk(short_tmp: Path, small_root: Path) -> None:
    """A pull whose layers do not fit (blobs and the unpacked snapshot share the small disk)
    fails with "no space left on device", leaves no active snapshot or mount, and succeeds once
    space is freed - reusing the blobs it had fetched."""
    import io
    import random
    import tarfile

    from tests.reliability.hostile_registry import HostileRegistry, image

    def layer(seed: int) -> bytes:
        buf, rng = io.BytesIO(), random.Random(seed)
        with tarfile.open(fileobj=buf, mode="w") as tf:
            data = rng.randbytes(900_000)
            ti = tarfile.TarInfo(f"big{seed}")
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        return buf.getvalue()

    (small_root.parent / "ballast2").write_bytes(b"\0" * (2 * 1024 * 1024))
    reg = HostileRegistry()
    manifest, blobs = image([layer(1), layer(2)])
    reg.add(manifest, tag="big").add(*blobs)
    d = _start(short_tmp, small_root)
    try:
        c = d.client("full")
        with pytest.raises(PyctrdError) as ei:
            c.pull(reg.ref("big"), plain_http=True)
        _clear(ei.value)
        assert "cannot rollback" not in str(ei.value), ei.value  # the pull's own error, not a rollback's
        sn = c.snapshotter("overlayfs")
        assert not [m for m in Path("/proc/self/mountinfo").read_text().splitlines() if str(small_root) in m]
        assert integrity(d.root) == "ok" and c.version().version
        # On the full disk the pull could not even delete its lease (SQLite needs room to delete):
        # its extract-… snapshot stays leased. Once space is freed, the lease goes and takes it.
        (small_root.parent / "ballast2").unlink()
        for left in c.leases.list():
            c.leases.delete(left.id, sync=True)
        assert not [i for i in sn.walk() if i.kind.name == "ACTIVE"]
        result = c.pull(reg.ref("big"), plain_http=True)
        assert result.unpacked and len(result.fetch.existing) >= 1  # what had been fetched is reused
        c.images.delete(reg.ref("big"), sync=True)
        record("faults", "pull onto a full disk", 1)
    finally:
        reg.close()
        rc = d.stop()
        assert rc == 0, d.log_text()[-3000:]
