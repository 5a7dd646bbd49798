"""One daemon process per test module, with a small world in namespace ``rel`` (see api_corpus.World).

``served`` (a module-scoped fixture, registered in conftest) yields a :class:`Served`: the
daemon, the world, a raw gRPC channel and the base directory. Afterwards the daemon must stop
cleanly (exit 0) and the directory is removed.
"""
from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from pyctrd.core.leases import lease
from pyctrd.core.metadata import Image
from pyctrd.core.ocispec import Descriptor
from tests.fixtures.blobs import write_blob
from tests.fixtures.daemon import DaemonProcess, start_daemon
from tests.reliability.api_corpus import World

__all__ = ["Served", "make_world", "served"]


@dataclass
class Served:
    daemon: DaemonProcess
    world: World
    channel: grpc.Channel
    base: Path


def make_world(d: DaemonProcess, token: str) -> World:
    c = d.client("rel")
    with lease("setup"):
        c.leases.create("setup")
        blob = write_blob(c.content, b"reliability")
    w = World(token=token, blob=blob, blob_size=len(b"reliability"))
    c.images.create(Image(w.image, Descriptor("application/octet-stream", blob, w.blob_size)))
    c.leases.create(w.lease)
    c.containers.create(w.container, spec={"ociVersion": "1.0.2"}, runtime=w.runtime)
    return w


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    base = Path(tempfile.mkdtemp(prefix="pyctrd-rel-", dir="/tmp"))
    d = start_daemon(base)
    ch = grpc.insecure_channel(f"unix://{d.address}", options=[("grpc.max_send_message_length", 64 << 20)])
    try:
        yield Served(d, make_world(d, f"relesc{secrets.token_hex(4)}"), ch, base)
    finally:
        ch.close()
        rc = d.stop()
        log = d.log_text()
        shutil.rmtree(base, ignore_errors=True)
        assert rc == 0, log[-3000:]
