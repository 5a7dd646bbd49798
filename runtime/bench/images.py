"""Images in the benchmark: pull + unpack, archive import, unpacking many layers, and the
rootfs seam that lets lifecycles run from an image instead of a prepared directory.

Each measurement uses a fresh namespace per run (so nothing is found already there), and
removes the image with ``sync`` afterwards (the garbage collection it triggers has run when
the call returns). The registry is Debian's ``docker-registry`` on a loopback port with
the samples pushed (:class:`pyctrd.lab.registry.LocalRegistry`); archives are written by the
sample builder (:mod:`pyctrd.images.samples`).

All of it needs the client's image support (``Client.pull``, ``Client.import_archive``);
:func:`available` says whether this client has it, and the suite reports "not available"
otherwise.
"""
from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .. import errdefs
from ..client import Client

__all__ = ["ImageRootfs", "Registry", "available", "bench_import", "bench_layers", "bench_pull", "layers_archive",
           "sample_archive"]


def available() -> bool:
    """Does this client pull and import images?"""
    return hasattr(Client, "pull") and hasattr(Client, "import_archive")


def _fresh(address: str, prefix: str) -> Client:
    return Client(address, f"{prefix}-{secrets.token_hex(3)}")


def _drop(c: Client, names: Sequence[str]) -> None:
    """Remove the images (with their content and snapshots) and the namespace."""
    for name in names:
        with contextlib.suppress(errdefs.PyctrdError):
            c.images.delete(name, sync=True)
    with contextlib.suppress(errdefs.PyctrdError):
        c.namespaces.delete(c.namespace)


class Registry:
    """A loopback docker-registry holding the sample images (``busybox``, ``layered``)."""

    def __init__(self, dir: Path) -> None:
        from ..images.samples import build_samples, push_samples
        from ..lab.registry import LocalRegistry
        from ..remotes import DockerResolver

        self.local = LocalRegistry(dir).start()
        push_samples(DockerResolver(), self.local.address, build_samples())

    def ref(self, name: str) -> str:
        return f"{self.local.address}/{name}:latest"

    def stop(self) -> None:
        self.local.stop()


def bench_pull(address: str, ref: str) -> dict[str, float]:
    """One pull + unpack of ``ref`` into a fresh namespace: total, fetch and unpack ms."""
    c = _fresh(address, "bench-pull")
    try:
        t0 = time.perf_counter()
        r = c.pull(ref, plain_http=True)
        total = (time.perf_counter() - t0) * 1e3
        return {"total": total, "fetch": r.fetch_seconds * 1e3, "unpack": r.unpack_seconds * 1e3}
    finally:
        _drop(c, [ref])
        c.close()


def bench_import(address: str, archive: str) -> float:
    """One import (with unpack) of an OCI archive into a fresh namespace, in ms."""
    c = _fresh(address, "bench-import")
    names: list[str] = []
    try:
        t0 = time.perf_counter()
        names = [img.name for img in c.import_archive(archive)]
        return (time.perf_counter() - t0) * 1e3
    finally:
        _drop(c, names)
        c.close()


def sample_archive(dir: Path) -> str:
    """The three-layer sample as an OCI archive (``layered-oci.tar``) under ``dir``."""
    from ..images.samples import write_samples

    return write_samples(dir)["layered-oci.tar"]


def layers_archive(dir: Path, n: int) -> str:
    """An OCI archive of an image with ``n`` small layers (one file each), named ``layers-<n>``."""
    from ..core.images import platforms as plat
    from ..images.archive.exporter import export_oci
    from ..images.blobmap import BlobMap
    from ..images.samples import LayerBuilder
    from ..images.samples.build import _image as assemble  # the sample builder's image assembler

    layers = [(LayerBuilder().dir("layers").file(f"layers/{i}", f"layer {i}\n".encode()).tar(), f"layer {i}")
              for i in range(n)]
    sample = assemble(f"layers-{n}", layers, BlobMap())
    path = str(dir / f"layers-{n}.tar")
    export_oci(sample.blobs, [sample.image()], path, platform=plat.ALL)
    return path


def bench_layers(address: str, archives: dict[int, str]) -> dict[int, float]:
    """Import + unpack ms of each ``{layer count: archive}``."""
    return {n: bench_import(address, path) for n, path in archives.items()}


class ImageRootfs:
    """Lifecycles from an image: each container gets a snapshot of ``ref`` (``new_container``)
    and loses it when deleted. Pulls the image into the namespace once, on first use."""

    def __init__(self, ref: str, snapshotter: str = "overlayfs", plain_http: bool | None = None) -> None:
        host = ref.split("/", 1)[0] if "/" in ref else ""
        loopback = host.startswith(("127.", "localhost", "[::1]"))
        self.ref, self.snapshotter = ref, snapshotter
        self.plain_http = loopback if plain_http is None else plain_http  # https unless a loopback registry
        self._pulled: set[tuple[str, str]] = set()

    def ensure(self, c: Client) -> None:
        key = (c.address, c.namespace)
        if key not in self._pulled:
            c.pull(self.ref, plain_http=self.plain_http, snapshotter=self.snapshotter)
            self._pulled.add(key)

    def create(self, c: Client, id: str, runtime: str, args: Sequence[str]) -> Callable[[], None]:
        """Create container ``id`` from the image; returns what removes its snapshot."""
        c.new_container(id, self.ref, runtime=runtime, args=list(args), snapshotter=self.snapshotter)

        def remove() -> None:
            with contextlib.suppress(errdefs.NotFound):
                c.snapshotter(self.snapshotter).remove(id)
        return remove

    def rootfs(self, c: Client, id: str) -> list[Any]:
        """The mounts of container ``id``'s snapshot: what ``Tasks.Create`` is given (containerd
        itself does not look them up; pyctrd would, but both are told the same)."""
        return list(c.snapshotter(self.snapshotter).mounts(id))
