"""Decompression bombs through a daemon: the walking differ's ``max_uncompressed_size``, set in
the daemon's TOML config, bounds what a pulled or imported layer may inflate to.

The tar-level bomb cases (tests/diff/hostile.py) apply layers directly with small limits; here
the limit comes from ``[plugins."io.containerd.differ.v1.walking"]`` in a real daemon's config
and the layer arrives the way a stranger's does: a 64 KiB gzip (64 MiB of zeros) served by a
registry and pulled, or inside an OCI archive and imported. The apply must stop at the limit with
InvalidArgument naming it; nothing half-extracted may stay in the snapshotter (no record, no
directory on disk, no mount) once the pull's lease is gone; and the daemon keeps serving.
containerd has no such limit (its walking differ inflates whatever it is given).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyctrd.client import Client
from pyctrd.core.ocispec import MEDIA_TYPE_OCI_CONFIG, MEDIA_TYPE_OCI_LAYER_GZIP, MEDIA_TYPE_OCI_MANIFEST
from pyctrd.errdefs import InvalidArgument
from tests.fixtures.daemon import DaemonProcess, start_daemon
from tests.reliability.figures import record
from tests.reliability.hostile_registry import Blob, HostileRegistry

pytestmark = pytest.mark.requires_root
LIMIT = 8 << 20
SNAPSHOTS = "io.containerd.snapshotter.v1.overlayfs/snapshots"


def walking_config(limit: int) -> str:
    return f'version = 2\n[plugins."io.containerd.differ.v1.walking"]\nmax_uncompressed_size = {limit}\n'


def zeros_layer(size: int) -> tuple[bytes, str]:
    """A gzip'd tar of one file of ``size`` zeros and its diff ID, built a MiB at a time."""
    t = tarfile.TarInfo("zeros")
    t.size = size
    gz, sha = zlib.compressobj(9, zlib.DEFLATED, 31), hashlib.sha256()
    out = []

    def feed(b: bytes) -> None:
        sha.update(b)
        out.append(gz.compress(b))

    feed(t.tobuf(tarfile.PAX_FORMAT))
    for _ in range(size >> 20):
        feed(bytes(1 << 20))
    feed(bytes(1024))  # two zero blocks: the end of the archive
    out.append(gz.flush())
    return b"".join(out), "sha256:" + sha.hexdigest()


def zeros_image(size: int) -> list[Blob]:
    """manifest, config, layer."""
    data, diff_id = zeros_layer(size)
    layer = Blob(MEDIA_TYPE_OCI_LAYER_GZIP, data)
    config = Blob(MEDIA_TYPE_OCI_CONFIG, json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {
        "type": "layers", "diff_ids": [diff_id]}}).encode())
    manifest = Blob(MEDIA_TYPE_OCI_MANIFEST, json.dumps({
        "schemaVersion": 2, "mediaType": MEDIA_TYPE_OCI_MANIFEST, "config": config.descriptor(),
        "layers": [layer.descriptor()]}).encode())
    return [manifest, config, layer]


def oci_archive(name: str, blobs: list[Blob]) -> bytes:
    """An OCI image layout tar (what ``ctr images export`` writes) holding one image."""
    index = {"schemaVersion": 2, "manifests": [{**blobs[0].descriptor(),
                                                "annotations": {"io.containerd.image.name": name}}]}
    files = {"oci-layout": b'{"imageLayoutVersion": "1.0.0"}', "index.json": json.dumps(index).encode(),
             **{f"blobs/sha256/{b.digest[7:]}": b.data for b in blobs}}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for path, data in files.items():
            ti = tarfile.TarInfo(path)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture(scope="module")
def reg() -> Iterator[HostileRegistry]:
    r = HostileRegistry()
    yield r
    r.close()


def daemon_with(base: Path, limit: int) -> DaemonProcess:
    return start_daemon(base, config_text=walking_config(limit), name=f"l{limit >> 20}")


@pytest.fixture(scope="module")
def base() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="pyctrd-bomb-", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def small(base: Path) -> Iterator[DaemonProcess]:
    d = daemon_with(base, LIMIT)
    yield d
    rc = d.stop()
    assert rc == 0, d.log_text()[-3000:]


def exported_limit(c: Client) -> int:
    [walking] = [p for p in c.plugins() if p.type == "io.containerd.differ.v1" and p.id == "walking"]
    return int(walking.exports["max_uncompressed_size"])


def nothing_extracted(d: DaemonProcess, c: Client) -> None:
    """No snapshot record, no snapshot directory, no mount of the daemon's: GC ran first."""
    c.leases.create("gc")
    c.leases.delete("gc", sync=True)
    assert not list(c.snapshotter("overlayfs").walk())
    on_disk = d.root / SNAPSHOTS
    assert not on_disk.exists() or not os.listdir(on_disk), os.listdir(on_disk)
    assert str(d.root) not in Path("/proc/self/mountinfo").read_text()
    assert not [s for s in c.content.list_statuses() if s.offset]


def test_a_bomb_pulled_or_imported_stops_at_the_configured_limit(small: DaemonProcess, reg: HostileRegistry) -> None:
    c = small.client("bomb")
    assert exported_limit(c) == LIMIT
    bomb = zeros_image(64 << 20)
    assert len(bomb[2].data) < 128 << 10  # a 64 KiB download claiming 64 MiB
    reg.add(bomb[0], tag="bomb").add(*bomb[1:])
    with pytest.raises(InvalidArgument, match=f"uncompressed size limit of {LIMIT} bytes"):
        c.pull(reg.ref("bomb"), plain_http=True)
    c.images.delete(reg.ref("bomb"), sync=True)  # fetched and recorded; never unpacked
    nothing_extracted(small, c)
    with pytest.raises(InvalidArgument, match=f"uncompressed size limit of {LIMIT} bytes"):
        c.import_archive(io.BytesIO(oci_archive("example.com/bomb:latest", bomb)))
    c.images.delete("example.com/bomb:latest", sync=True)
    nothing_extracted(small, c)
    # the daemon keeps serving, and a layer under the limit unpacks
    fine = zeros_image(4 << 20)
    reg.add(fine[0], tag="fine").add(*fine[1:])
    result = c.pull(reg.ref("fine"), plain_http=True)
    assert [s.name for s in c.snapshotter("overlayfs").walk()] == [result.unpacked[0][1].chain_id]
    c.images.delete(reg.ref("fine"), sync=True)
    nothing_extracted(small, c)
    record("bombs", "decompression bombs through a daemon (pull, import)", 2)


def test_the_limit_is_the_configured_one(small: DaemonProcess, reg: HostileRegistry, base: Path) -> None:
    """The same 16 MiB layer: refused under the 8 MiB daemon, unpacked by one configured with
    32 MiB - the setting, not a built-in, decides."""
    img = zeros_image(16 << 20)
    reg.add(img[0], tag="sixteen").add(*img[1:])
    c = small.client("limit")
    with pytest.raises(InvalidArgument, match=f"limit of {LIMIT} bytes"):
        c.pull(reg.ref("sixteen"), plain_http=True)
    c.images.delete(reg.ref("sixteen"), sync=True)
    nothing_extracted(small, c)
    big = daemon_with(base, 32 << 20)
    try:
        cb = big.client("limit")
        assert exported_limit(cb) == 32 << 20
        result = cb.pull(reg.ref("sixteen"), plain_http=True)
        assert result.unpacked[0][1].applied
        cb.images.delete(reg.ref("sixteen"), sync=True)
        nothing_extracted(big, cb)
    finally:
        rc = big.stop()
    assert rc == 0, big.log_text()[-3000:]
    record("bombs", "configured max_uncompressed_size honoured (two daemons)", 2)
