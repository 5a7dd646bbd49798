"""The two offline sample images, built from the host's static busybox.

- ``busybox``: one gzip layer holding a minimal root filesystem -- ``/bin/busybox`` with
  symlinks for the common applets, ``/etc/passwd`` and ``/etc/group``, and empty ``/dev``,
  ``/proc``, ``/sys``, ``/tmp``, ``/var``, ``/root``.
- ``layered``: the *same* first layer (same digest: the two images share it) plus two small
  layers: the first adds ``/etc/hello``, ``/etc/goodbye`` and ``/opt/data/{a,stale}``; the second
  changes ``/etc/hello``, whites out ``/etc/goodbye`` and makes ``/opt/data`` opaque (holding
  ``a`` and ``b``). Running it shows "hello from layer2", no goodbye, and ``a b`` in /opt/data.

Both are OCI manifests whose config says ``Cmd ["sh"]`` and a standard ``PATH``. Every byte is
deterministic, so digests only change when the busybox binary does.
"""
from __future__ import annotations

import functools
import hashlib
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

from ...core.images import Image
from ...core.images.manifest import Manifest, encode
from ...core.images.platforms import default_platform
from ...core.ocispec import (
    MEDIA_TYPE_OCI_CONFIG,
    MEDIA_TYPE_OCI_LAYER_GZIP,
    MEDIA_TYPE_OCI_MANIFEST,
    Descriptor,
    Platform,
)
from ...errdefs import NotFound
from ..blobmap import BlobMap
from .layers import LayerBuilder, gzip_deterministic

__all__ = ["APPLETS", "BUSYBOX", "CREATED", "GROUP", "PASSWD", "PATH_ENV", "MediaTypes", "SampleImage", "base_layer",
           "base_tar", "build_busybox", "build_layered", "build_samples"]

BUSYBOX = "/usr/bin/busybox"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CREATED = "2023-01-01T00:00:00Z"
#: Applets linked into /bin (those the binary lacks are skipped).
APPLETS = (
    "[", "ash", "awk", "basename", "cat", "chmod", "chown", "cp", "cut", "date", "df", "dirname", "du",
    "echo", "env", "expr", "false", "find", "free", "grep", "head", "hostname", "id", "ip", "kill",
    "less", "ln", "ls", "md5sum", "mkdir", "mktemp", "more", "mount", "mv", "nc", "nproc", "ping", "printf",
    "ps", "pwd", "readlink", "rm", "rmdir", "sed", "seq", "sh", "sha256sum", "sleep", "sort", "stat",
    "tail", "tar", "tee", "test", "timeout", "top", "touch", "tr", "true", "umount", "uname", "uniq",
    "uptime", "vi", "wc", "wget", "which", "whoami", "xargs", "yes",
)
PASSWD = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = b"root:x:0:\nnogroup:x:65534:\n"


@dataclass(frozen=True)
class SampleImage:
    """A built image: its manifest descriptor and every blob it needs."""

    name: str
    manifest: Descriptor
    config: Descriptor
    layers: tuple[Descriptor, ...]
    diff_ids: tuple[str, ...]
    blobs: BlobMap

    def __repr__(self) -> str:
        return f"<SampleImage {self.name} {self.manifest.digest[:19]} layers={len(self.layers)}>"

    def reference(self, registry: str | None = None, tag: str = "latest") -> str:
        """``<registry>/<name>:<tag>``, or the docker.io name if no registry is given."""
        return f"{registry}/{self.name}:{tag}" if registry else f"docker.io/library/{self.name}:{tag}"

    def image(self, registry: str | None = None) -> Image:
        return Image(self.reference(registry), self.manifest)


def _applets(busybox: str) -> list[str]:
    out = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split()
    return sorted(set(APPLETS) & set(out))


def base_layer(busybox: str = BUSYBOX) -> LayerBuilder:
    """The busybox root filesystem (layer 0 of both images)."""
    if not os.path.exists(busybox):
        raise NotFound(f"{busybox} (apt-get install busybox-static)")
    with open(busybox, "rb") as f:
        binary = f.read()
    b = LayerBuilder()
    for d, mode in (("bin", 0o755), ("dev", 0o755), ("etc", 0o755), ("proc", 0o555), ("root", 0o700),
                    ("sys", 0o555), ("tmp", 0o1777), ("var", 0o755)):
        b.dir(d, mode)
    b.file("bin/busybox", binary, 0o755)
    for applet in _applets(busybox):
        b.symlink(f"bin/{applet}", "busybox")
    b.file("etc/passwd", PASSWD).file("etc/group", GROUP)
    return b


@functools.lru_cache(maxsize=4)
def _base_tar(busybox: str, stamp: tuple[int, int]) -> bytes:
    return base_layer(busybox).tar()


def base_tar(busybox: str = BUSYBOX) -> bytes:
    """Layer 0 as an uncompressed tar (cached while the binary is unchanged).

    Raises:
        NotFound: the busybox binary is missing.
    """
    try:
        st = os.stat(busybox)
    except FileNotFoundError:
        raise NotFound(f"{busybox} (apt-get install busybox-static)") from None
    return _base_tar(busybox, (st.st_mtime_ns, st.st_size))


@dataclass(frozen=True)
class MediaTypes:
    """The media types an image is written with: OCI's (the default) or Docker's."""

    manifest: str = MEDIA_TYPE_OCI_MANIFEST
    config: str = MEDIA_TYPE_OCI_CONFIG
    layer: str = MEDIA_TYPE_OCI_LAYER_GZIP


def _image(name: str, layers: list[tuple[bytes, str]], blobs: BlobMap, *, types: MediaTypes = MediaTypes(),
           platform: Platform | None = None) -> SampleImage:
    """Assemble config + manifest from (uncompressed tar, history note) pairs."""
    plat = platform or default_platform()
    descs, diff_ids, history = [], [], []
    for tar, note in layers:
        gz = gzip_deterministic(tar)
        descs.append(Descriptor(types.layer, blobs.add(gz), len(gz)))
        diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
        history.append({"created": CREATED, "created_by": note, "comment": "pyctrd sample"})
    # compact JSON + newline (Go's json.Encoder), like the reference images' documents
    config = encode({"created": CREATED, "architecture": plat.architecture, "os": plat.os,
                     "config": {"Env": [PATH_ENV], "Cmd": ["sh"]},
                     "rootfs": {"type": "layers", "diff_ids": diff_ids}, "history": history}) + b"\n"
    cdesc = Descriptor(types.config, blobs.add(config), len(config))
    mdata = encode(Manifest(types.manifest, cdesc, tuple(descs)).to_json()) + b"\n"
    mdesc = Descriptor(types.manifest, blobs.add(mdata), len(mdata), platform=platform)
    return SampleImage(name, mdesc, cdesc, tuple(descs), tuple(diff_ids), blobs)


def build_busybox(busybox: str = BUSYBOX, blobs: BlobMap | None = None) -> SampleImage:
    """Raises NotFound if the busybox binary is missing."""
    return _image("busybox", [(base_tar(busybox), "busybox rootfs")], blobs or BlobMap())


def build_layered(busybox: str = BUSYBOX, blobs: BlobMap | None = None) -> SampleImage:
    """Raises NotFound if the busybox binary is missing."""
    l1 = (LayerBuilder().dir("etc").dir("opt").dir("opt/data")
          .file("etc/hello", b"hello from layer1\n").file("etc/goodbye", b"goodbye\n")
          .file("opt/data/a", b"a from layer1\n").file("opt/data/stale", b"hidden by layer2\n"))
    l2 = (LayerBuilder().dir("etc").dir("opt").dir("opt/data")
          .file("etc/hello", b"hello from layer2\n").whiteout("etc/goodbye")
          .opaque("opt/data").file("opt/data/a", b"a from layer2\n").file("opt/data/b", b"b from layer2\n"))
    return _image("layered", [(base_tar(busybox), "busybox rootfs"),
                              (l1.tar(), "add /etc/hello, /etc/goodbye, /opt/data"),
                              (l2.tar(), "change /etc/hello, delete /etc/goodbye, opaque /opt/data")],
                  blobs or BlobMap())


def build_samples(busybox: str = BUSYBOX) -> Mapping[str, SampleImage]:
    """Both images over one shared BlobMap (the shared layer is stored once)."""
    blobs = BlobMap()
    return {"busybox": build_busybox(busybox, blobs), "layered": build_layered(busybox, blobs)}
