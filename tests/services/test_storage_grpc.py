"""The content, leases and images services over real gRPC (in-process daemon)."""
from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pyctrd._api.containerd.api.services.content.v1 import content_pb2 as pb
from pyctrd._api.containerd.api.services.content.v1 import content_pb2_grpc as pb_grpc
from pyctrd.client import Client
from pyctrd.core import digest as digests
from pyctrd.core.images import Image
from pyctrd.core.leases import Resource
from pyctrd.core.ocispec import MEDIA_TYPE_OCI_MANIFEST, Descriptor
from pyctrd.errdefs import AlreadyExists, InvalidArgument, NotFound
from tests.fixtures.blobs import write_blob, write_image
from tests.fixtures.inprocess import InProcessDaemon, inprocess_daemon


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[InProcessDaemon]:
    with inprocess_daemon(tmp_path) as d:
        yield d


@pytest.fixture
def client(daemon: InProcessDaemon) -> Client:
    return daemon.client()


def raw_write(client: Client, *reqs: pb.WriteContentRequest) -> list[pb.WriteContentResponse]:
    """Send requests on one Write stream, all at once; collect every response (or raise)."""
    stub = client.conn.stub(pb_grpc.ContentStub, streaming=("Write",))
    return list(stub.Write(iter(reqs)))


def test_fixture_repr(daemon: InProcessDaemon) -> None:
    assert repr(daemon) == f"<InProcessDaemon {daemon.address} running=True>"


def test_write_protocol_stat_write_commit(client: Client) -> None:
    data = b"0123456789"
    d = digests.from_bytes(data)
    out = raw_write(client,
                    pb.WriteContentRequest(action=pb.STAT, ref="r", total=10, expected=d),
                    pb.WriteContentRequest(action=pb.WRITE, offset=0, data=data[:4]),
                    pb.WriteContentRequest(action=pb.WRITE, offset=4, data=data[4:]),
                    pb.WriteContentRequest(action=pb.COMMIT, offset=10, total=10, expected=d, labels={"a": "b"}))
    assert [(r.action, r.offset) for r in out] == [(pb.STAT, 0), (pb.WRITE, 4), (pb.WRITE, 10), (pb.COMMIT, 10)]
    assert out[0].total == 10 and out[0].started_at.seconds > 0
    assert out[-1].digest == d and client.content.info(d).labels == {"a": "b"}


def test_write_at_the_wrong_offset_fails_and_keeps_the_ingest(client: Client) -> None:
    with pytest.raises(InvalidArgument, match="write @7 must occur at current offset 3"):
        raw_write(client, pb.WriteContentRequest(action=pb.WRITE, ref="r", data=b"abc"),
                  pb.WriteContentRequest(action=pb.WRITE, offset=7, data=b"x"))
    assert client.content.status("r").offset == 3
    out = raw_write(client, pb.WriteContentRequest(action=pb.WRITE, ref="r", offset=0, data=b"xy"))
    assert out[0].offset == 2  # offset 0 restarts the ingest
    with pytest.raises(InvalidArgument, match="first message must have a reference"):
        raw_write(client, pb.WriteContentRequest(action=pb.STAT))


def test_expected_digest_already_here_ends_the_stream(client: Client) -> None:
    d = write_blob(client.content, b"have it")
    with pytest.raises(AlreadyExists, match=f"blob with expected digest {d} exists"):
        raw_write(client, pb.WriteContentRequest(action=pb.WRITE, ref="dup", data=b"have"),
                  pb.WriteContentRequest(action=pb.COMMIT, offset=4, expected=d))
    with pytest.raises(NotFound):  # the ingest was aborted
        client.content.status("dup")


def test_read_offsets_and_sizes(client: Client) -> None:
    data = bytes(range(256)) * 10
    d = write_blob(client.content, data)
    stub = client.conn.stub(pb_grpc.ContentStub, streaming=("Read",))

    def read(offset: int, size: int) -> bytes:
        return b"".join(r.data for r in stub.Read(pb.ReadContentRequest(digest=d, offset=offset, size=size)))

    assert read(0, 0) == data and read(100, 0) == data[100:]
    assert read(5, 10) == data[5:15] and read(2550, 100) == data[2550:]
    assert read(len(data), 0) == b""
    with pytest.raises(InvalidArgument, match="read past object length 2560 bytes"):
        read(len(data) + 1, 1)
    with pytest.raises(InvalidArgument, match="failed validation"):
        client.content.info("sha256:nope")


def test_list_sends_blocks_of_a_hundred(client: Client) -> None:
    made = {write_blob(client.content, f"blob {i}".encode()) for i in range(101)}
    stub = client.conn.stub(pb_grpc.ContentStub, streaming=("List",))
    blocks = [len(r.info) for r in stub.List(pb.ListContentRequest())]
    assert blocks == [100, 1]
    assert {i.digest for i in client.content.walk()} == made
    assert len(list(client.content.walk('digest~="^sha256:0"'))) < 101


def test_namespaces_are_separate_over_grpc(client: Client) -> None:
    d = write_blob(client.content, b"mine")
    other = client.with_namespace("other")
    with pytest.raises(NotFound):
        other.content.info(d)
    assert list(other.content.walk()) == []


def events_of(daemon: InProcessDaemon, action: Any) -> list[tuple[str, str, Any]]:
    """Run ``action`` and return the envelopes published meanwhile (topic, namespace, event)."""
    ex = daemon.daemon.exchange
    assert ex is not None
    loop = daemon._loop

    async def subscribe() -> Any:
        return ex.subscribe('topic~="^/(content|images)/"')

    async def drain(sub: Any) -> list[Any]:
        await asyncio.sleep(0)
        out = []
        while not sub.queue.empty():
            out.append(sub.queue.get_nowait())
        sub.close()
        return out

    sub = asyncio.run_coroutine_threadsafe(subscribe(), loop).result(10)
    action()
    got = asyncio.run_coroutine_threadsafe(drain(sub), loop).result(10)
    return [(e.topic, e.namespace, e.event) for e in got]


def test_events_for_content_and_images(daemon: InProcessDaemon, client: Client) -> None:
    lab = client.with_namespace("lab")
    d = write_blob(lab.content, b"to delete")
    target = Descriptor(MEDIA_TYPE_OCI_MANIFEST, d, 9)

    def act() -> None:
        lab.content.delete(d)
        lab.images.create(Image("x:1", target, {"a": "1"}))
        lab.images.update(Image("x:1", target, {"a": "2"}), ["labels.a"])
        lab.images.delete("x:1")

    got = events_of(daemon, act)
    assert [(t, ns) for t, ns, _ in got] == [("/content/delete", "lab"), ("/images/create", "lab"),
                                             ("/images/update", "lab"), ("/images/delete", "lab")]
    assert got[0][2].digest == d and dict(got[2][2].labels) == {"a": "2"} and got[3][2].name == "x:1"


def test_images_over_grpc_and_sync_delete_collects(client: Client) -> None:
    with client.leases.lease() as lease:
        assert lease.labels["containerd.io/gc.expire"].endswith("Z")
        w = write_image(client.content, client.images, "example.com/app:1")
        assert {r.id for r in client.leases.list_resources(lease.id)} == w.blobs
    assert client.leases.list() == []  # the lease went, the image keeps the blobs
    got = client.images.get("example.com/app:1")
    assert got.target.digest == w.manifest and got.created_at is not None
    assert [i.name for i in client.images.list("name~=app")] == ["example.com/app:1"]
    up = client.images.update(Image("example.com/app:1", got.target, {"x": "y"}), ["labels.x"])
    assert up.labels == {"x": "y"}
    with pytest.raises(AlreadyExists):
        client.images.create(got)
    client.images.delete("example.com/app:1", sync=True)
    assert list(client.content.walk()) == []
    with pytest.raises(NotFound):
        client.images.delete("example.com/app:1")


def test_lease_header_and_sync_lease_delete(client: Client) -> None:
    client.leases.create("manual", {"team": "red"})
    leased = Client(_conn=client.conn.derive(lease="manual"))
    d = write_blob(leased.content, b"held by the lease")
    assert client.leases.list_resources("manual") == [Resource(d, "content")]
    client.leases.add_resource("manual", Resource("k1", "snapshots/overlayfs"))
    client.leases.delete_resource("manual", Resource("k1", "snapshots/overlayfs"))
    assert [x.id for x in client.leases.list("labels.team==red")] == ["manual"]
    assert client.content.info(d).size == len(b"held by the lease")
    client.leases.delete("manual", sync=True)
    with pytest.raises(NotFound):
        client.content.info(d)
    with pytest.raises(NotFound):
        client.leases.delete("manual")


def test_reprs_of_the_clients(client: Client) -> None:
    assert repr(client.content) == f"<ContentProxy {client.address} ns=default>"
    assert repr(client.leases) == f"<LeasesClient {client.address} ns=default>"
    assert repr(client.images) == f"<ImagesClient {client.address} ns=default>"
    w = client.content.writer("rr", total=3)
    assert repr(w) == "<RemoteWriter ref=rr offset=0/3>"
    w.close()
    assert repr(w) == "<RemoteWriter ref=rr offset=0/3 closed>"
