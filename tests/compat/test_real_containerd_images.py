"""Our images, archives and registry pushes, checked against the REAL containerd 1.6 and ctr.

containerd runs on temporary root/state/socket paths (never the defaults), with CRI disabled;
only content, images, snapshots and diff are used (no shims). Stopped by PID.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from pyctrd.images.archive import export_oci, import_images
from pyctrd.images.samples import SampleImage, build_samples, push_samples, write_samples
from pyctrd.remotes import DockerResolver, fetch_image
from tests.fixtures.registry import Registry
from tests.fixtures.stores import NewStore, labels

pytestmark = [pytest.mark.needs_ctr, pytest.mark.requires_root]
NS = "pyctrd-compat"


class Ctr:
    def __init__(self, sock: Path) -> None:
        self.sock = sock

    def __call__(self, *args: str) -> str:
        p = subprocess.run(["ctr", "-a", str(self.sock), "-n", NS, *args], capture_output=True, text=True,
                           timeout=60, check=False)
        assert p.returncode == 0, f"ctr {' '.join(args)}: {p.stderr}"
        return p.stdout

    def images(self) -> dict[str, tuple[str, str]]:
        rows = [line.split() for line in self("images", "ls").splitlines()[1:]]
        return {r[0]: (r[1], r[2]) for r in rows}

    def labels(self) -> dict[str, dict[str, str]]:
        out = {}
        for line in self("content", "ls").splitlines()[1:]:
            digest, *_, text = line.split("\t")
            labels: dict[str, str] = {}
            key = ""
            for part in text.split(","):  # values may hold commas ("busybox,layered")
                if "=" in part:
                    key, value = part.split("=", 1)
                    labels[key] = value
                elif key:
                    labels[key] += "," + part
            out[digest] = labels
        return out


@pytest.fixture(scope="module")
def ctr() -> Iterator[Ctr]:
    if shutil.which("containerd") is None:
        pytest.skip("needs Debian's containerd")
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="pyctrd-c-", dir="/tmp"))
    (d / "config.toml").write_text(
        f'version = 2\nroot = "{d}/root"\nstate = "{d}/state"\n'
        'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", '
        '"io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]\n'
        f'[grpc]\n  address = "{d}/c.sock"\n[ttrpc]\n  address = "{d}/t.sock"\n[debug]\n  address = ""\n'
        '[metrics]\n  address = ""\n')
    log = open(d / "log.txt", "wb")
    proc = subprocess.Popen(["containerd", "--config", str(d / "config.toml")], stdout=log, stderr=log,
                            start_new_session=True)
    c = Ctr(d / "c.sock")
    try:
        for _ in range(200):  # wait for the socket to answer (the daemon's start, not a fixed time)
            if proc.poll() is not None:
                pytest.fail("containerd exited:\n" + (d / "log.txt").read_text()[-2000:])
            if subprocess.run(["ctr", "-a", str(c.sock), "version"], capture_output=True, check=False).returncode == 0:
                break
            time.sleep(0.05)
        yield c
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()
        out = subprocess.run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True, text=True, check=False).stdout
        for target in sorted((t for t in out.split() if t.startswith(str(d))), reverse=True):
            subprocess.run(["umount", "-l", target], check=False)
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def samples() -> Mapping[str, SampleImage]:
    return build_samples()


@pytest.fixture(scope="module")
def files(samples: Mapping[str, SampleImage], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return write_samples(tmp_path_factory.mktemp("samples"), samples)


def test_ctr_imports_our_archives_as_we_do(new_store: NewStore, ctr: Ctr, files: dict[str, str]) -> None:
    for name in ("layered-oci.tar", "busybox-docker.tar"):
        out = ctr("images", "import", files[name])
        ours = import_images(new_store(), files[name]).images
        assert [(i.name, i.target.media_type) for i in ours] == [
            (n, ctr.images()[n][0]) for n in (i.name for i in ours)]
        # same digest: our docker manifest encodes exactly like containerd's
        assert all(ctr.images()[i.name][1] == i.target.digest for i in ours)
        assert f"unpacking {ours[0].name} ({ours[0].target.digest})...done" in out


def test_our_export_matches_ctr_export(new_store: NewStore, ctr: Ctr, files: dict[str, str], tmp_path: Path) -> None:
    ctr("images", "import", files["layered-oci.tar"])
    theirs = tmp_path / "theirs.tar"
    ctr("images", "export", str(theirs), "docker.io/library/layered:latest")
    store = new_store()
    imgs = import_images(store, theirs).images
    assert [i.name for i in imgs] == ["docker.io/library/layered:latest"]
    ours = tmp_path / "ours.tar"
    export_oci(store, imgs, ours)
    with tarfile.open(theirs) as a, tarfile.open(ours) as b:
        for member in ("index.json", "manifest.json", "oci-layout"):
            fa, fb = a.extractfile(member), b.extractfile(member)
            assert fa is not None and fb is not None
            assert json.loads(fa.read()) == json.loads(fb.read()), member
        assert sorted(n.rstrip("/") for n in a.getnames()) == sorted(b.getnames())


def test_ctr_pulls_our_pushes_and_labels_like_us(new_store: NewStore, ctr: Ctr, registry: Registry,
                                                  samples: Mapping[str, SampleImage]) -> None:
    push_samples(DockerResolver(), registry.host, samples)
    for name in ("busybox", "layered"):
        ctr("images", "pull", "--plain-http", registry.ref(name))
    store = new_store()
    for name in ("busybox", "layered"):
        fetch_image(DockerResolver(), registry.ref(name), store)
    theirs = ctr.labels()
    for digest, labels_ in labels(store).items():
        gc_and_source = {k: v for k, v in theirs[digest].items()
                         if k.startswith(("containerd.io/gc.ref.content", "containerd.io/distribution.source"))}
        assert gc_and_source == labels_, digest
    assert os.path.exists(ctr.sock)
