"""Namespaces: what lives in one is invisible and untouchable from another, service by service.

Namespace A holds a blob (with labels), an unfinished ingest, an image, a lease with a
resource, containers and a running task; namespace B holds a container *and task of the same
ID*. From B, every service is asked about A's objects by name: each answer is NotFound (or a
list without them), and afterwards A's objects are exactly as they were. Events subscribed
with ``namespace==B`` carry nothing of A's.
"""
from __future__ import annotations

import signal
from pathlib import Path

import pytest

from pyctrd import errdefs
from pyctrd.core import digest as digests
from pyctrd.core.content import Info
from pyctrd.core.leases import Resource, lease
from pyctrd.core.metadata import Image
from pyctrd.core.ocispec import Descriptor
from tests.fixtures.blobs import write_blob
from tests.reliability.figures import record
from tests.runtime.conftest import Env, EventLog, needs_go_shim

pytestmark = needs_go_shim
DATA = b"namespace A's blob"


def _not_found(fn: object, n: list[int]) -> None:
    with pytest.raises(errdefs.NotFound):
        fn()  # type: ignore[operator]
    n[0] += 1


def test_every_service_keeps_namespaces_apart(rt: Env) -> None:
    a = rt.client
    b_ns = f"{rt.namespace}-b"
    rt.extra_namespaces.append(b_ns)
    b = a.with_namespace(b_ns)
    n = [0]

    # namespace A
    a.leases.create("la")
    with lease("la"):
        blob = write_blob(a.content, DATA, {"owner": "a"})
        w = a.content.writer("ing", total=100)
        w.write(b"x" * 40)
        w.close()
    a.leases.add_resource("la", Resource(blob, "content"))
    a.images.create(Image("img", Descriptor("application/octet-stream", blob, len(DATA)), {"owner": "a"}))
    a.containers.create("onlya", spec=rt.spec("onlya", "sleep", "1000"), labels={"owner": "a"})
    a.containers.create("same", spec=rt.spec("same", "sleep", "1000"), labels={"owner": "a"})
    ta = a.tasks.create("same")
    ta.start()
    a.tasks.create("onlya").start()
    # namespace B: the same container and task ID
    b.containers.create("same", spec=rt.spec("same", "sleep", "1000", namespace=b_ns), labels={"owner": "b"})
    tb = b.tasks.create("same")
    tb.start()
    assert ta.pid != tb.pid

    events = EventLog(rt.daemon.address, f'namespace=="{b_ns}"')
    try:
        # content
        _not_found(lambda: b.content.info(blob), n)
        _not_found(lambda: b.content.reader_at(blob), n)
        _not_found(lambda: b.content.delete(blob), n)
        _not_found(lambda: b.content.update(Info(blob, 0, labels={"owner": "b"}), ["labels.owner"]), n)
        _not_found(lambda: b.content.status("ing"), n)
        _not_found(lambda: b.content.abort("ing"), n)
        assert blob not in {i.digest for i in b.content.walk()}
        assert "ing" not in {s.ref for s in b.content.list_statuses()}
        b.leases.create("lb")
        with lease("lb"):
            wb = b.content.writer("ing", total=100)  # B's own ingest of that name: empty
            assert wb.status().offset == 0
            wb.close()
        b.content.abort("ing")
        # images
        _not_found(lambda: b.images.get("img"), n)
        _not_found(lambda: b.images.update(Image("img", Descriptor("x", blob, 1)), ["labels"]), n)
        _not_found(lambda: b.images.delete("img"), n)
        assert "img" not in {i.name for i in b.images.list()}
        # leases
        _not_found(lambda: b.leases.delete("la"), n)
        _not_found(lambda: b.leases.list_resources("la"), n)
        _not_found(lambda: b.leases.add_resource("la", Resource(blob, "content")), n)
        assert "la" not in {x.id for x in b.leases.list()}
        # containers
        _not_found(lambda: b.containers.get("onlya"), n)
        _not_found(lambda: b.containers.delete("onlya"), n)
        assert b.containers.get("same").labels == {"owner": "b"}
        assert {c.id for c in b.containers.list()} == {"same"}
        # tasks
        _not_found(lambda: b.tasks.get("onlya"), n)
        _not_found(lambda: b.tasks.get("onlya").kill(signal.SIGKILL), n)
        assert {s.id for s in b.tasks.list()} == {"same"}
        assert {m[1] for m in b.tasks.metrics()} <= {"same"}
        tb.kill(signal.SIGKILL)
        tb.wait(timeout=30)
        tb.delete()
        b.containers.delete("same")
        # events: A's activity is not delivered to a subscriber of B
        a.containers.create("ev", spec=rt.spec("ev", "true"))
        a.containers.delete("ev")
        b.containers.create("evb", spec=rt.spec("evb", "true", namespace=b_ns))
        events.wait("/containers/create")
        assert {e.namespace for e in events.envelopes} == {b_ns}
        b.containers.delete("evb")
        # a namespace with things in it cannot be deleted from anywhere
        with pytest.raises(errdefs.FailedPrecondition):
            b.namespaces.delete(rt.namespace)
    finally:
        events.close()

    # A is exactly as it was
    assert a.content.info(blob).labels == {"owner": "a"}
    r = a.content.reader_at(blob)
    assert r.read_at(0, r.size) == DATA
    r.close()
    assert a.content.status("ing").offset == 40
    assert a.images.get("img").labels == {"owner": "a"}
    assert {x.id for x in a.leases.list_resources("la")} == {blob, "ing"}  # the ingest was opened in it too
    assert a.containers.get("same").labels == {"owner": "a"}
    assert {s.id: s.status for s in a.tasks.list()} == {"same": "running", "onlya": "running"}
    assert ta.status().pid == ta.pid
    for id in ("same", "onlya"):
        a.tasks.get(id).delete(force=True)
        a.containers.delete(id)
    a.images.delete("img")
    a.content.abort("ing")
    a.leases.delete("la", sync=True)
    b.leases.delete("lb")
    assert digests.is_digest(blob)
    record("isolation", "cross-namespace requests refused (NotFound)", n[0])


def test_snapshots_keep_namespaces_apart(short_tmp: Path) -> None:
    """A snapshot (active key and committed name) made in A is NotFound from B for every
    call that names it - also as a parent - and B's snapshot of the same key is its own."""
    from pyctrd.core.snapshots import Info as SnapInfo
    from tests.fixtures.daemon import start_daemon

    d = start_daemon(short_tmp)
    n = [0]
    try:
        a, b = d.client("sa").snapshotter("native"), d.client("sb").snapshotter("native")
        d.client("sa").leases.create("l")
        d.client("sb").leases.create("l")
        with lease("l"):
            a.prepare("base-key", labels={"owner": "a"})
            a.commit("base", "base-key", labels={"owner": "a"})
            a.prepare("ka", "base")
            _not_found(lambda: b.stat("ka"), n)
            _not_found(lambda: b.stat("base"), n)
            _not_found(lambda: b.mounts("ka"), n)
            _not_found(lambda: b.usage("ka"), n)
            _not_found(lambda: b.remove("ka"), n)
            _not_found(lambda: b.remove("base"), n)
            _not_found(lambda: b.commit("stolen", "ka"), n)
            _not_found(lambda: b.prepare("kb", "base"), n)
            _not_found(lambda: b.view("vb", "base"), n)
            _not_found(lambda: b.update(SnapInfo(name="base", labels={"owner": "b"}), ["labels.owner"]), n)
            assert not {i.name for i in b.walk()} & {"ka", "base", "base-key"}
            b.prepare("ka")  # B's own snapshot of that key
            assert b.stat("ka").parent == "" and a.stat("ka").parent == "base"
            b.remove("ka")
        assert a.stat("base").labels == {"owner": "a"} and a.stat("ka").kind.name == "ACTIVE"
        a.remove("ka")
        a.remove("base")
    finally:
        assert d.stop() == 0
    record("isolation", "cross-namespace snapshot requests refused (NotFound)", n[0])
