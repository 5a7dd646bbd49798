"""kill -9 the daemon during content writes, container and image writes, and garbage collection.

Each test runs workers against a real daemon process, kills it at a seeded random count of
acknowledged operations, restarts it on the same root, and checks: the metadata database
passes ``PRAGMA integrity_check``; everything acknowledged is there (committed blobs with
their bytes, containers, images); nothing half-made is visible; ingests cut off resume where
their bytes end, or are collected with their lease. Rounds: 3 per test in CI, 25 under soak.
"""
from __future__ import annotations

import contextlib
import random
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pytest

from pyctrd.client import Client
from pyctrd.core import digest as digests
from pyctrd.core.leases import lease
from pyctrd.core.metadata import Image
from pyctrd.core.ocispec import Descriptor
from pyctrd.errdefs import AlreadyExists, NotFound, PyctrdError
from tests.fixtures.blobs import write_blob
from tests.fixtures.daemon import DaemonProcess, start_daemon
from tests.reliability.crash import Killer, integrity, run_workers
from tests.reliability.figures import record, scaled

ROUNDS = scaled(3, 25)
CHUNK = 64 * 1024
#: GC when asked (and after deletions), so collections run during the GC test's workload.
CONFIG = '''version = 2
[plugins."io.containerd.gc.v1.scheduler"]
  startup_delay = "0s"
'''


@dataclass
class Rig:
    base: Path
    daemon: DaemonProcess

    def restart(self) -> None:
        self.daemon.stop(9)  # already dead after the kill; SIGKILL otherwise
        self.daemon = start_daemon(self.base, config_text=CONFIG)

    def client(self, ns: str = "crash") -> Client:
        return self.daemon.client(ns)


@pytest.fixture
def rig() -> Iterator[Rig]:
    base = Path(tempfile.mkdtemp(prefix="pyctrd-k-", dir="/tmp"))
    r = Rig(base, start_daemon(base, config_text=CONFIG))
    try:
        yield r
    finally:
        rc = r.daemon.stop()
        log = r.daemon.log_text()
        shutil.rmtree(base, ignore_errors=True)
        assert rc == 0, log[-3000:]
        assert "Traceback" not in log, log[log.index("Traceback") - 300:][:3000]


@dataclass
class Ledger:
    """What the workers know the daemon acknowledged, and what was in flight at the kill."""

    committed: dict[str, bytes] = field(default_factory=dict)
    inflight: dict[str, bytes] = field(default_factory=dict)   # ref -> data
    created: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)
    uncertain: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _write_blobs(address: str, rnd: int, led: Ledger, killer: Killer, i: int) -> None:
    wrng, cl = random.Random(rnd * 100 + i), Client(address, "crash")
    try:
        for n in range(40):
            data = wrng.randbytes(wrng.randrange(1, 600_000))
            dg, ref = digests.from_bytes(data), f"r{rnd}-{i}-{n}"
            with led.lock:
                led.inflight[ref] = data
            with lease(f"w{rnd}"):
                w = cl.content.writer(ref, total=len(data), expected=dg)
            try:
                for off in range(0, len(data), CHUNK):
                    w.write(data[off:off + CHUNK])
                    killer.ack()
                w.commit(len(data), dg)
            finally:
                w.close()
            with led.lock:
                led.committed[dg] = led.inflight.pop(ref)
            killer.ack()
    finally:
        cl.close()


def _write_records(address: str, rnd: int, led: Ledger, killer: Killer, spec: dict[str, object], target: Descriptor, i: int) -> None:
    wrng, cl = random.Random(rnd * 100 + i), Client(address, "crash")
    try:
        for n in range(60):
            name = f"x{rnd}-{i}-{n}"
            with led.lock:
                led.uncertain.add(name)
            if wrng.random() < 0.5:
                cl.containers.create(name, spec=spec, runtime="io.containerd.runc.v2", labels={"n": name})
            else:
                cl.images.create(Image(name, target, {"n": name}))
            with led.lock:
                led.uncertain.discard(name)
                led.created.add(name)
            killer.ack()
            if n % 3 == 2:
                victim = wrng.choice(sorted(x for x in led.created if x.startswith(f"x{rnd}-{i}-")))
                with led.lock:
                    led.uncertain.add(victim)
                try:
                    cl.containers.delete(victim)
                except NotFound:
                    cl.images.delete(victim)
                with led.lock:
                    led.uncertain.discard(victim)
                    led.created.discard(victim)
                    led.deleted.add(victim)
                killer.ack()
    finally:
        cl.close()


def _collect(address: str, rnd: int, led: Ledger, killer: Killer, images: dict[str, str], i: int) -> None:
    wrng, cl = random.Random(rnd * 100 + i), Client(address, "crash")
    try:
        for n in range(30):
            name, data = f"g{rnd}-{i}-{n}", wrng.randbytes(wrng.randrange(1, 50_000))
            with led.lock:
                led.uncertain.add(name)
            with cl.leases.lease(sync_delete=True):  # delete with a synchronous collection
                dg = write_blob(cl.content, data)
                cl.images.create(Image(name, Descriptor("application/octet-stream", dg, len(data))))
            with led.lock:
                images[name] = dg
                led.committed[dg] = data
                led.uncertain.discard(name)
                led.created.add(name)
            killer.ack()
            if n % 2:
                victim = wrng.choice(sorted(x for x in led.created if x.startswith(f"g{rnd}-{i}-")))
                with led.lock:
                    led.uncertain.add(victim)
                cl.images.delete(victim, sync=True)  # waits for the collection
                with led.lock:
                    led.uncertain.discard(victim)
                    led.created.discard(victim)
                    led.deleted.add(victim)
                killer.ack()
    finally:
        cl.close()


@pytest.mark.slow
def test_kill_during_content_writes(rig: Rig) -> None:
    resumed = collected = mid = 0
    for rnd in range(ROUNDS):
        rng = random.Random(rnd)
        led = Ledger()
        c = rig.client()
        c.leases.create(f"w{rnd}")
        killer = Killer(rig.daemon.pid, at=rng.randrange(4, 60))

        assert not run_workers(4, partial(_write_blobs, rig.daemon.address, rnd, led, killer), killer)
        mid += killer.finish()
        rig.restart()
        assert integrity(rig.daemon.root) == "ok"
        c = rig.client()
        for dg, data in led.committed.items():  # nothing acknowledged is lost
            r = c.content.reader_at(dg)
            assert r.read_at(0, r.size) == data
            r.close()
        keep = []
        c.leases.create(f"keep{rnd}")
        for k, (ref, data) in enumerate(sorted(led.inflight.items())):
            dg = digests.from_bytes(data)
            try:
                st = c.content.status(ref)
            except NotFound:
                continue  # the kill came before the ingest existed
            assert 0 <= st.offset <= len(data) and st.total in (0, len(data)), st
            if k % 2:
                continue  # left to be collected with its lease
            with lease(f"keep{rnd}"):
                try:
                    w = c.content.writer(ref, total=len(data), expected=dg)
                except AlreadyExists:  # committed just before the kill; the answer was lost
                    keep.append(dg)
                    continue
                try:
                    off = w.status().offset  # resumes where the bytes on disk end
                    w.write(data[off:])
                    w.commit(len(data), dg)
                finally:
                    w.close()
            keep.append(dg)
            resumed += 1
        c.leases.delete(f"w{rnd}", sync=True)  # the round's lease goes: its leftovers are collected
        assert not [s for s in c.content.list_statuses() if s.ref.startswith(f"r{rnd}-")], "ingests left"
        collected += sum(1 for ref in led.inflight if ref.startswith(f"r{rnd}-"))
        for dg in keep:
            assert c.content.info(dg).size > 0
        assert integrity(rig.daemon.root) == "ok"
    record("faults", "kill -9 during content writes", ROUNDS, "crashes survived")
    assert mid >= ROUNDS - 1, "the kills came mid-workload"
    record("faults", "ingests resumed after a crash", resumed, "ingests")


@pytest.mark.slow
def test_kill_during_container_and_image_writes(rig: Rig) -> None:
    c = rig.client()
    c.leases.create("blob")
    with lease("blob"):
        blob = write_blob(c.content, b"image target")
    target = Descriptor("application/octet-stream", blob, len(b"image target"))
    spec: dict[str, object] = {"ociVersion": "1.0.2", "process": {"args": ["true"]}}
    mid = 0
    for rnd in range(ROUNDS):
        rng = random.Random(1000 + rnd)
        led = Ledger()
        killer = Killer(rig.daemon.pid, at=rng.randrange(5, 120))

        assert not run_workers(4, partial(_write_records, rig.daemon.address, rnd, led, killer, spec, target), killer)
        mid += killer.finish()
        rig.restart()
        assert integrity(rig.daemon.root) == "ok"
        c = rig.client()
        have = {x.id: x for x in c.containers.list()} | {x.name: x for x in c.images.list()}
        mine = {k for k in have if k.startswith(f"x{rnd}-")}
        assert led.created - led.uncertain <= mine, "an acknowledged create was lost"
        assert not (led.deleted - led.uncertain) & mine, "an acknowledged delete came back"
        assert mine <= led.created | led.uncertain
        for name in mine:  # whatever exists is whole
            assert have[name].labels == {"n": name}
        for name in mine:
            try:
                c.containers.delete(name)
            except NotFound:
                c.images.delete(name)
    assert c.content.info(blob).size == len(b"image target")
    record("faults", "kill -9 during container/image writes", ROUNDS, "crashes survived")
    assert mid >= ROUNDS - 1, "the kills came mid-workload"


@pytest.mark.slow
def test_kill_during_garbage_collection(rig: Rig) -> None:
    mid = 0
    for rnd in range(ROUNDS):
        rng = random.Random(2000 + rnd)
        led = Ledger()
        images: dict[str, str] = {}
        killer = Killer(rig.daemon.pid, at=rng.randrange(4, 40))

        assert not run_workers(3, partial(_collect, rig.daemon.address, rnd, led, killer, images), killer)
        mid += killer.finish()
        rig.restart()
        assert integrity(rig.daemon.root) == "ok"
        c = rig.client()
        names = {x.name for x in c.images.list() if x.name.startswith(f"g{rnd}-")}
        assert led.created - led.uncertain <= names
        for name in names:  # a collection cut short never takes what an image holds
            dg = images.get(name) or c.images.get(name).target.digest
            r = c.content.reader_at(dg)
            assert digests.from_bytes(r.read_at(0, r.size)) == dg
            r.close()
        for name in names:
            c.images.delete(name, sync=True)
        left = {i.digest for i in c.content.walk()} & {images[n] for n in images}
        assert not left, f"garbage not collected after the restart: {len(left)} blobs"
    record("faults", "kill -9 during garbage collection", ROUNDS, "crashes survived")
    assert mid >= ROUNDS - 1, "the kills came mid-workload"


def test_a_killed_daemon_serves_again_with_nothing_written_elsewhere(rig: Rig) -> None:
    """After the rounds above a fresh start is quick and clean: the lock and socket of the dead
    daemon are taken over, and root and state hold only what plugins made."""
    rig.daemon.stop(9)
    rig.restart()
    assert rig.client().version().version
    assert sorted(p.name for p in rig.base.iterdir()) == sorted(["d-root", "d-state", "d.log", "d-config.toml"])
    try:
        rig.client().content.info("sha256:" + "0" * 64)
    except PyctrdError as exc:
        assert isinstance(exc, NotFound)


def _layer(seed: int, files: int = 6) -> bytes:
    import io
    import tarfile

    rng, buf = random.Random(seed), io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for f in range(files):
            data = rng.randbytes(rng.randrange(1000, 60_000))
            ti = tarfile.TarInfo(f"d{seed}/f{f}")
            ti.size, ti.mode, ti.mtime = len(data), 0o644, 1_500_000_000
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def _puller(address: str, refs: list[str], killer: Killer, done: set[str], lock: threading.Lock, i: int) -> None:
    cl = Client(address, "crash")
    try:
        for n in range(6):
            ref = refs[(i + n) % len(refs)]
            cl.pull(ref, plain_http=True, progress=lambda p: killer.ack(), on_unpack=lambda *a: killer.ack())
            with lock:
                done.add(ref)
            killer.ack()
            with contextlib.suppress(NotFound):
                cl.images.delete(ref, sync=True)
            with lock:
                done.discard(ref)
            killer.ack()
    finally:
        cl.close()


@pytest.mark.slow
@pytest.mark.requires_root
def test_kill_during_pull_and_unpack(rig: Rig) -> None:
    """Three clients pull and unpack images sharing layers (a registry in memory) and remove
    them again, while the daemon is killed at a seeded count of pull steps. After each
    restart: the database intact; an image either whole (every blob there and readable) or
    absent; once the dead pulls' leases are gone, no active snapshot and no mount is left;
    and every image pulls and unpacks again."""
    from tests.reliability.hostile_registry import HostileRegistry, image

    reg = HostileRegistry()
    refs = []
    for k in range(3):  # three images: one layer of their own, two shared
        manifest, blobs = image([_layer(100), _layer(101), _layer(k)])
        reg.add(manifest, tag=f"i{k}").add(*blobs)
        refs.append(reg.ref(f"i{k}"))
    mid = 0
    try:
        for rnd in range(scaled(2, 15)):
            rng = random.Random(4000 + rnd)
            killer = Killer(rig.daemon.pid, at=rng.randrange(5, 80))
            done: set[str] = set()
            work = partial(_puller, rig.daemon.address, refs, killer, done, threading.Lock())
            assert not run_workers(3, work, killer)
            mid += killer.finish()
            rig.restart()
            assert integrity(rig.daemon.root) == "ok"
            c = rig.client()
            for img in c.images.list():  # whatever image exists is whole
                for d in _walk_blobs(c, img.target):
                    r = c.content.reader_at(d)
                    assert digests.from_bytes(r.read_at(0, r.size)) == d
                    r.close()
            for lease_ in c.leases.list():  # the dead pulls' leases: their extract-… snapshots go
                c.leases.delete(lease_.id, sync=True)
            sn = c.snapshotter("overlayfs")
            active = [i for i in sn.walk() if i.kind.name == "ACTIVE"]
            assert not active, active
            mounts = [m for m in Path("/proc/self/mountinfo").read_text().splitlines() if str(rig.base) in m]
            assert not mounts, mounts
            for ref in refs:  # and every image pulls again
                c.pull(ref, plain_http=True)
            for ref in refs:
                c.images.delete(ref, sync=True)
            assert not list(sn.walk()), "snapshots left after the images went"
    finally:
        reg.close()
    record("faults", "kill -9 during pull and unpack", scaled(2, 15), "crashes survived")
    assert mid >= scaled(2, 15) - 1


def _walk_blobs(c: Client, target: Descriptor) -> list[str]:
    import json

    out, todo = [], [target]
    while todo:
        d = todo.pop()
        out.append(d.digest)
        if "manifest" in d.media_type:
            r = c.content.reader_at(d.digest)
            doc = json.loads(r.read_at(0, r.size))
            r.close()
            todo += [Descriptor(x["mediaType"], x["digest"], x["size"]) for x in [doc["config"], *doc["layers"]]]
    return out
