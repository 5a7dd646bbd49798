"""The offline sample images: contents, whiteouts, shared layer, deterministic bytes."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Mapping
from pathlib import Path

import pytest

from pyctrd.core.images import platforms as plat
from pyctrd.errdefs import NotFound
from pyctrd.images.samples import SampleImage, build_busybox, build_samples
from pyctrd.images.samples.__main__ import main
from pyctrd.images.samples.layers import MTIME, LayerBuilder


@pytest.fixture(scope="module")
def samples() -> Mapping[str, SampleImage]:
    return build_samples()


def members(s: SampleImage, i: int) -> list[tarfile.TarInfo]:
    data = gzip.decompress(s.blobs[s.layers[i].digest])
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return tf.getmembers()


def merged(s: SampleImage) -> dict[str, bytes | None]:
    """Apply the layers the way overlayfs presents them (whiteouts and opaque dirs)."""
    fs: dict[str, bytes | None] = {}
    for i in range(len(s.layers)):
        tf = tarfile.open(fileobj=io.BytesIO(gzip.decompress(s.blobs[s.layers[i].digest])))
        for m in tf.getmembers():
            head, _, name = m.name.rpartition("/")
            if name == ".wh..wh..opq":
                fs = {k: v for k, v in fs.items() if not k.startswith(head + "/")}
            elif name.startswith(".wh."):
                gone = f"{head}/{name[4:]}" if head else name[4:]
                fs = {k: v for k, v in fs.items() if k != gone and not k.startswith(gone + "/")}
            else:
                f = tf.extractfile(m) if m.isreg() else None
                fs[m.name] = f.read() if f else None
    return fs


def test_busybox_rootfs(samples: Mapping[str, SampleImage]) -> None:
    s = samples["busybox"]
    assert repr(s).startswith("<SampleImage busybox sha256:") and len(s.layers) == 1
    ms = {m.name: m for m in members(s, 0)}
    assert list(ms) == sorted(ms)
    assert ms["bin/busybox"].isreg() and ms["bin/busybox"].mode == 0o755
    for applet in ("sh", "ls", "cat", "echo", "sleep", "ps", "test", "mkdir", "rm", "env", "id", "hostname", "wc",
                   "head", "grep"):
        assert ms[f"bin/{applet}"].issym() and ms[f"bin/{applet}"].linkname == "busybox"
    for d in ("proc", "sys", "dev", "tmp", "var", "root", "etc"):
        assert ms[d].isdir()
    assert ms["tmp"].mode == 0o1777 and ms["root"].mode == 0o700
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in ms.values()} == {(MTIME, 0, 0, "", "")}
    fs = merged(s)
    assert fs["etc/passwd"].startswith(b"root:x:0:0:root:/root:/bin/sh\n")  # type: ignore[union-attr]
    assert fs["bin/busybox"] == Path("/usr/bin/busybox").read_bytes()


def test_layered_image(samples: Mapping[str, SampleImage]) -> None:
    lay, bb = samples["layered"], samples["busybox"]
    assert len(lay.layers) == 3 and lay.layers[0] == bb.layers[0]  # the shared layer: same blob
    names1 = [m.name for m in members(lay, 1)]
    names2 = [m.name for m in members(lay, 2)]
    assert "etc/goodbye" in names1 and "etc/.wh.goodbye" in names2 and "opt/data/.wh..wh..opq" in names2
    fs = merged(lay)
    assert fs["etc/hello"] == b"hello from layer2\n" and "etc/goodbye" not in fs
    assert sorted(k for k in fs if k.startswith("etc/")) == ["etc/group", "etc/hello", "etc/passwd"]
    assert sorted(k[len("opt/data/"):] for k in fs if k.startswith("opt/data/")) == ["a", "b"]
    cfg = json.loads(lay.blobs[lay.config.digest])
    assert cfg["config"] == {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                             "Cmd": ["sh"]}
    assert (cfg["os"], cfg["architecture"]) == ("linux", plat.default_platform().architecture)
    assert cfg["rootfs"]["diff_ids"] == [
        "sha256:" + hashlib.sha256(gzip.decompress(lay.blobs[x.digest])).hexdigest() for x in lay.layers]
    assert list(lay.diff_ids) == cfg["rootfs"]["diff_ids"]
    man = json.loads(lay.blobs[lay.manifest.digest])
    assert list(man) == ["schemaVersion", "config", "layers"]  # as outputs/manifest-layered.txt
    assert all(x["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip" for x in man["layers"])
    assert lay.blobs[lay.layers[1].digest][4:8] == b"\0\0\0\0"  # gzip mtime 0


def test_digests_are_stable_across_processes(tmp_path: Path, samples: Mapping[str, SampleImage]) -> None:
    env = {**os.environ, "PYTHONHASHSEED": "random"}
    outs = []
    for run in ("a", "b"):
        p = subprocess.run([sys.executable, "-m", "pyctrd.images.samples", "--out", str(tmp_path / run)],
                           capture_output=True, text=True, check=True, env=env)
        outs.append(p.stdout.replace(str(tmp_path / run), "OUT"))
    assert outs[0] == outs[1]
    assert f"busybox: {samples['busybox'].manifest.digest}" in outs[0]
    for f in sorted((tmp_path / "a").rglob("*")):
        if f.is_file():
            assert f.read_bytes() == (tmp_path / "b" / f.relative_to(tmp_path / "a")).read_bytes(), f


def test_cli_and_missing_busybox(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--out", str(tmp_path)]) == 0
    assert sorted(os.listdir(tmp_path)) == ["busybox-docker.tar", "busybox-oci", "busybox-oci.tar",
                                            "layered-docker.tar", "layered-oci", "layered-oci.tar"]
    assert main(["--out", str(tmp_path), "--busybox", "/nonexistent/busybox"]) == 1
    assert "busybox-static" in capsys.readouterr().err
    with pytest.raises(NotFound):
        build_busybox("/nonexistent/busybox")


def test_layer_builder_rejects_escaping_paths() -> None:
    for bad in ("", "/", "a/../../etc"):
        with pytest.raises(ValueError):
            LayerBuilder().file(bad, b"")
