"""Containers from pulled images: the client's new_container, pyctr run IMAGE and ctr run IMAGE."""
from __future__ import annotations

import pytest

from pyctrd import errdefs
from tests.fixtures.registry import Registry
from tests.runtime.conftest import Env

pytestmark = pytest.mark.requires_root


def _pull(rt: Env, pushed: Registry, name: str) -> str:
    ref = f"{pushed.host}/{name}:latest"
    rt.client.pull(ref, plain_http=True)
    return ref


def test_new_container_from_layered_image_sees_every_layer(rt: Env, pushed: Registry) -> None:
    ref = _pull(rt, pushed, "layered")
    c = rt.client.new_container("img1", ref, args=["sh", "-c", "cat /etc/hello; test -e /etc/goodbye || echo gone"])
    assert (c.image, c.snapshotter, c.snapshot_key) == (ref, "overlayfs", "img1")
    sn = rt.client.snapshotter("overlayfs")
    info = sn.stat("img1")
    assert str(info.kind) == "Active" and info.parent.startswith("sha256:")
    spec = rt.client.containers.spec("img1")
    assert "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" in spec["process"]["env"]
    task = rt.client.tasks.create("img1", io=rt.capture())
    out = task.io.stdout  # type: ignore[union-attr]
    task.start()
    assert task.wait(timeout=30).status == 0
    assert out.getvalue() == b"hello from layer2\ngone\n"  # type: ignore[union-attr]
    task.delete()
    rt.client.containers.delete("img1", snapshot_cleanup=True)
    with pytest.raises(errdefs.NotFound):
        sn.stat("img1")


def test_new_container_keeps_its_snapshot_through_a_collection_before_the_record(
        rt: Env, pushed: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    """Between preparing the snapshot and creating the record nothing refers to the snapshot:
    new_container holds a lease (as containerd's NewContainer), so a GC then keeps it."""
    ref = _pull(rt, pushed, "busybox")
    real_create = rt.client.containers.create
    collections = []

    def create_after_a_collection(*args: object, **kw: object) -> object:
        throwaway = rt.client.leases.create("collect-now")
        rt.client.leases.delete(throwaway.id, sync=True)  # returns after a full collection
        collections.append(throwaway.id)
        return real_create(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(rt.client.containers, "create", create_after_a_collection)
    rt.client.new_container("gc1", ref, args=["true"])
    monkeypatch.undo()
    assert collections == ["collect-now"]
    assert str(rt.client.snapshotter("overlayfs").stat("gc1").kind) == "Active"
    assert rt.client.leases.list() == []  # the lease went with the block
    rt.client.containers.delete("gc1", snapshot_cleanup=True)


def test_new_container_needs_a_pulled_image(rt: Env) -> None:
    with pytest.raises(errdefs.NotFound, match="not found"):
        rt.client.new_container("nope", "127.0.0.1:1/absent:latest")


def test_pyctr_run_image_propagates_output_and_exit_code(rt: Env, pushed: Registry) -> None:
    ref = _pull(rt, pushed, "busybox")
    r = rt.pyctr("run", "--rm", ref, "p1", "sh", "-c", "echo out; echo err >&2; exit 5", check=False)
    assert (r.returncode, r.stdout) == (5, "out\n") and "err" in r.stderr
    assert rt.client.containers.list() == []
    assert [i.name for i in rt.client.snapshotter().walk() if str(i.kind) == "Active"] == []


def test_real_ctr_runs_an_image_through_pyctrd(rt: Env, pushed: Registry) -> None:
    ref = f"{pushed.host}/layered:latest"
    rt.ctr("images", "pull", "--plain-http", ref)
    out = rt.ctr("run", "--rm", ref, "t1", "sh", "-c", "cat /etc/hello; ls /opt/data").stdout
    assert out == "hello from layer2\na\nb\n"
    assert rt.ctr("containers", "ls", "-q").stdout == ""


def test_pyctr_runs_a_docker_format_image(rt: Env, pushed_docker: Registry) -> None:
    """A Docker v2 manifest list (docker config and rootfs.diff.tar.gzip layer) pulled, unpacked and run."""
    ref = f"{pushed_docker.host}/busybox-docker-list:latest"
    rt.pyctr("images", "pull", "--plain-http", ref)
    r = rt.pyctr("run", "--rm", ref, "dock1", "sh", "-c", "echo $PATH; busybox | head -1 | cut -d' ' -f1")
    assert r.stdout == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nBusyBox\n"
    assert rt.client.containers.list() == []
