"""Load: 8 workers running container lifecycles through both shims, beside real pulls of the
overlapping sample images (``busybox`` and ``layered`` share their base layer) from the real
docker-registry, and pull-like writers of overlapping blobs. 8 x 10 lifecycles and 4 pullers x 2
pulls in CI; 8 x 200 and 4 x 25 under ``make soak``.

Every operation succeeds or fails with a clear error; every blob is downloaded from the registry
once (counted by a proxy in front of it) and every layer stack committed once; blobs written by
several writers at once are stored once; and afterwards nothing is left: no task, container,
shim, bundle, mount, cgroup, FIFO, ingest or snapshot (the ``rt`` fixture checks the host side
too), and the daemon's open file descriptors are back to what they were before the load.
"""
from __future__ import annotations

import contextlib
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import pytest

from pyctrd import errdefs
from pyctrd.cgroups import Hierarchies
from pyctrd.client import Client
from pyctrd.core import digest as digests
from pyctrd.core.leases import lease
from pyctrd.core.snapshots.storage.metastore import MAX_IDLE
from pyctrd.images.samples import SampleImage
from pyctrd.plugins.runtime.v2.binary import resolve_runtime
from tests.fixtures.registry import Registry
from tests.reliability.counting_proxy import CountingProxy
from tests.reliability.figures import record, scaled
from tests.runtime.conftest import Env, needs_go_shim, shim_pids, wait_exit, wait_for

pytestmark = needs_go_shim
WORKERS = 8
LIFECYCLES = scaled(10, 200)
PULLERS, PULLS = 4, scaled(2, 25)
SAMPLES = ["busybox", "layered"]
RUNTIMES = ["io.containerd.runc.v2", "io.containerd.pyrunc.v1"]


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def fds(pid: int) -> dict[int, str]:
    """The process's open descriptors and what they point at."""
    out = {}
    for name in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(FileNotFoundError):
            out[int(name)] = os.readlink(f"/proc/{pid}/fd/{name}")
    return out


class Tally:
    def __init__(self) -> None:
        self.ops: Counter[str] = Counter()
        self.failures: list[str] = []
        self.lock = threading.Lock()

    def ok(self, what: str) -> None:
        with self.lock:
            self.ops[what] += 1

    def failed(self, what: str, exc: BaseException) -> None:
        with self.lock:
            self.failures.append(f"{what}: {type(exc).__name__}: {exc}")


def lifecycles(rt: Env, worker: int, tally: Tally) -> None:
    rng = random.Random(worker)
    c = Client(rt.daemon.address, rt.namespace)
    try:
        for n in range(LIFECYCLES):
            id, runtime = f"l{worker}-{n}", RUNTIMES[(worker + n) % 2]
            try:
                c.containers.create(id, spec=rt.spec(id, "sh", "-c", f"echo {id}"), runtime=runtime)
                tally.ok("containers.create")
                io = rt.capture() if rng.random() < 0.5 else None
                task = c.tasks.create(id, io=io)
                tally.ok("tasks.create")
                task.start()
                tally.ok("tasks.start")
                exit = task.wait(timeout=60)
                assert exit.status == 0, exit
                tally.ok("tasks.wait")
                if io is not None:
                    assert task.io is not None and task.io.stdout.getvalue() == f"{id}\n".encode()  # type: ignore[union-attr]
                task.delete()
                tally.ok("tasks.delete")
                c.containers.delete(id)
                tally.ok("containers.delete")
            except errdefs.PyctrdError as exc:
                tally.failed(id, exc)
                _remove(c, id)
    finally:
        c.close()


def _remove(c: Client, id: str) -> None:
    with contextlib.suppress(errdefs.PyctrdError):
        c.tasks.get(id).delete(force=True)
    with contextlib.suppress(errdefs.PyctrdError):
        c.containers.delete(id)


def pull_like(rt: Env, worker: int, blobs: list[bytes], tally: Tally) -> None:
    """Write every blob, in an order of its own, under containerd's ingest refs: several
    writers meet on the same refs (one waits, the others find the blob there)."""
    rng = random.Random(100 + worker)
    c = Client(rt.daemon.address, rt.namespace)
    c.leases.create(f"pull{worker}")
    order = list(blobs)
    rng.shuffle(order)
    try:
        with lease(f"pull{worker}"):
            for data in order:
                dg = digests.from_bytes(data)
                for attempt in range(200):
                    try:
                        w = c.content.writer(f"layer-{dg}", total=len(data), expected=dg)
                    except errdefs.AlreadyExists:
                        tally.ok("content.exists")
                        break
                    except errdefs.Unavailable:  # another writer holds the ref: wait as a pull does
                        time.sleep(0.01 * min(attempt + 1, 10))
                        continue
                    try:
                        off = w.status().offset
                        w.write(data[off:])
                        w.commit(len(data), dg)
                        tally.ok("content.commit")
                    except errdefs.AlreadyExists:
                        tally.ok("content.exists")
                    finally:
                        w.close()
                    break
                else:
                    tally.failed(f"blob {dg[:19]}", TimeoutError("ref stayed locked"))
    except errdefs.PyctrdError as exc:
        tally.failed(f"pull {worker}", exc)
    finally:
        c.close()


def puller(rt: Env, proxy: CountingProxy, worker: int, tally: Tally, applied: list[str]) -> None:
    """Pull the sample images in turn (so the first round has both at once, sharing their base
    layer), with the unpack, into the test's namespace."""
    c = Client(rt.daemon.address, rt.namespace)
    try:
        for n in range(PULLS):
            ref = proxy.ref(SAMPLES[(worker + n) % 2])
            try:
                result = c.pull(ref, plain_http=True)
                tally.ok("pull")
                with tally.lock:
                    applied += result.unpacked[0][1].applied
            except errdefs.PyctrdError as exc:
                tally.failed(ref, exc)
    finally:
        c.close()


def new_fds(baseline: dict[int, str], now: dict[int, str]) -> list[str]:
    """Descriptors open now that were not before - except a snapshotter's metadata.db (and its
    write-ahead log) opened on first use: its connection pool may keep up to MAX_IDLE of them
    for reuse, by design."""
    pooled = Counter(t for t in now.values() if t.endswith(("/metadata.db", "/metadata.db-wal")))
    return [f"fd {n} -> {t}" for n, t in now.items() if baseline.get(n) != t
            and not (t.endswith(("/metadata.db", "/metadata.db-wal")) and pooled[t] <= MAX_IDLE)]


def leaks(rt: Env, baseline: dict[int, str]) -> dict[str, list[str]]:
    """Whatever the load left behind, by kind (each list must be empty)."""
    for pid in shim_pids(rt.namespace):
        wait_exit(pid, 10)
    h = Hierarchies.discover()
    with contextlib.suppress(AssertionError):  # descriptors of the last calls may take a moment to close
        wait_for(lambda: not new_fds(baseline, fds(rt.daemon.pid)), 15, "the daemon's fds back to the baseline")
    return {
        "tasks": [t.id for t in rt.client.tasks.list()],
        "containers": [c.id for c in rt.client.containers.list()],
        "shims": [str(p) for p in shim_pids(rt.namespace)],
        "bundles": os.listdir(rt.state) + os.listdir(rt.work),
        "mounts": [m for m in Path("/proc/self/mountinfo").read_text().splitlines()
                   if ("/l" in m and rt.namespace in m) or str(rt.daemon.root) in m],
        "cgroups": [str(p) for mnt in h.mountpoints
                    for p in (Path(mnt) / rt.namespace).glob("l*-*")],
        "ingests": [s.ref for s in rt.client.content.list_statuses()],
        "snapshots": [s.name for s in rt.client.snapshotter("overlayfs").walk()],
        "fds": new_fds(baseline, fds(rt.daemon.pid)),
    }


@pytest.mark.slow
def test_lifecycles_under_load_leave_nothing(rt: Env, pushed: Registry, samples: Mapping[str, SampleImage]) -> None:
    for runtime in RUNTIMES:
        try:
            resolve_runtime(runtime)
        except errdefs.NotFound:
            pytest.skip(f"{runtime}'s shim is not installed")
    # warm up each shim once, so the baseline holds whatever the daemon keeps open for good
    for runtime in RUNTIMES:
        rt.client.containers.create("warm", spec=rt.spec("warm", "true"), runtime=runtime)
        task = rt.client.tasks.create("warm")
        task.start()
        task.wait(timeout=30)
        task.delete()
        rt.client.containers.delete("warm")
    baseline = fds(rt.daemon.pid)
    blobs = [random.Random(i).randbytes(random.Random(i).randrange(100_000, 1_000_000)) for i in range(12)]
    proxy = CountingProxy(pushed.host)  # counts what reaches the real registry
    tally, applied = Tally(), []
    threads = [threading.Thread(target=lifecycles, args=(rt, w, tally)) for w in range(WORKERS)]
    threads += [threading.Thread(target=pull_like, args=(rt, w, blobs, tally)) for w in range(4)]
    threads += [threading.Thread(target=puller, args=(rt, proxy, w, tally, applied)) for w in range(PULLERS)]
    t0 = time.monotonic()
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(1800)
            assert not t.is_alive(), "a worker hung"
    finally:
        proxy.close()
    elapsed = time.monotonic() - t0
    unclear = [f for f in tally.failures if "Traceback" in f or ": Unknown:" in f]
    assert not unclear, "\n".join(unclear[:20])
    assert not tally.failures, f"{len(tally.failures)} failed:\n" + "\n".join(tally.failures[:20])
    assert tally.ops["tasks.delete"] == WORKERS * LIFECYCLES and tally.ops["pull"] == PULLERS * PULLS

    # shared blobs are stored once
    want = {digests.from_bytes(b) for b in blobs}
    infos = [i.digest for i in rt.client.content.walk() if i.digest in want]
    assert sorted(infos) == sorted(want)
    on_disk = rt.daemon.root / "io.containerd.content.v1.content" / "blobs" / "sha256"
    assert {f"sha256:{p.name}" for p in on_disk.iterdir()} >= want

    # Pulls in one namespace meet on containerd's ingest refs: one downloads a blob, the others
    # wait while the ref is locked (Unavailable) and then find it committed. So each blob -
    # the shared base layer included - reached the registry once, however many pulls wanted it.
    pulled = {d.digest for name in SAMPLES for d in (samples[name].config, *samples[name].layers)}
    gets = proxy.blob_gets()
    assert set(gets) == pulled and set(gets.values()) == {1}, gets
    # ... and each layer stack was committed once (two unpacks racing on a stack may both apply
    # it - containerd 1.6 has no lock there either - but the second commit is thrown away)
    chains = [s for s in rt.client.snapshotter("overlayfs").walk()]
    assert sorted(s.name for s in chains) == sorted({*applied}) and len(chains) == 3, chains
    assert all(s.kind.name == "COMMITTED" for s in chains), chains
    for name in SAMPLES:
        rt.client.images.delete(proxy.ref(name), sync=True)

    left = leaks(rt, baseline)
    record("load", "leaks after load (fds, shims, bundles, mounts, cgroups, ingests, snapshots)",
           sum(len(v) for v in left.values()), "leaks")
    assert not any(left.values()), {k: v[:5] for k, v in left.items() if v}

    total = sum(tally.ops.values())
    record("load", f"lifecycles ({WORKERS} workers, both shims)", WORKERS * LIFECYCLES, "lifecycles")
    record("load", "operations under load", total, "operations")
    record("load", f"real pulls under load ({PULLERS} pullers, 2 images sharing a layer)", tally.ops["pull"], "pulls")
    record("load", "blob downloads for those pulls (each blob once)", sum(gets.values()), "downloads")
    record("load", "layer applies for those pulls (3 stacks; a racing second apply is discarded)", len(applied),
           "applies")
    record("load", "pull-like blob writes (4 writers x 12 shared blobs)",
           tally.ops["content.commit"] + tally.ops["content.exists"], "writes")
    print(f"\n[load] {total} operations in {elapsed:.1f}s; {dict(tally.ops)}")


@pytest.mark.slow
@pytest.mark.requires_root
def test_concurrent_pulls_of_overlapping_images(short_tmp: Path) -> None:
    """Six clients pull and unpack three images that share two of their three layers, at the
    same time, again and again: every pull succeeds; each blob and each committed snapshot
    exists once; nothing is left active; removing the images leaves no snapshot, blob or ingest."""
    from tests.fixtures.daemon import start_daemon
    from tests.reliability.hostile_registry import HostileRegistry, image
    from tests.reliability.test_crash_storage import _layer

    reg = HostileRegistry()
    refs, blobs = [], set()
    for k in range(3):
        manifest, parts = image([_layer(200), _layer(201), _layer(300 + k)])
        reg.add(manifest, tag=f"p{k}").add(*parts)
        refs.append(reg.ref(f"p{k}"))
        blobs |= {manifest.digest, *(b.digest for b in parts)}
    d = start_daemon(short_tmp)
    tally = Tally()
    rounds = scaled(3, 25)

    def puller(w: int) -> None:
        c = Client(d.address, "pulls")
        try:
            for n in range(rounds):
                ref = refs[(w + n) % 3]
                try:
                    c.pull(ref, plain_http=True)
                    tally.ok("pull")
                except errdefs.PyctrdError as exc:
                    tally.failed(ref, exc)
        finally:
            c.close()

    try:
        threads = [threading.Thread(target=puller, args=(w,)) for w in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(600)
            assert not t.is_alive()
        assert not tally.failures, "\n".join(tally.failures[:20])
        c = d.client("pulls")
        assert sorted(i.digest for i in c.content.walk()) == sorted(blobs)  # each blob once
        sn = c.snapshotter("overlayfs")
        infos = list(sn.walk())
        assert all(i.kind.name == "COMMITTED" for i in infos), [i for i in infos if i.kind.name != "COMMITTED"]
        assert len(infos) == len({i.name for i in infos}) == 2 + 3  # shared chain of 2, one top each
        assert not c.content.list_statuses()
        for ref in refs:
            c.images.delete(ref, sync=True)
        assert not list(sn.walk()) and not list(c.content.walk())
    finally:
        reg.close()
        assert d.stop() == 0
    record("load", "concurrent pulls of overlapping images (6 clients)", tally.ops["pull"], "pulls")
