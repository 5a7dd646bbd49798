"""Exporting images from a content store: OCI image layout (tar or directory), docker archive.

The OCI tar is what ``ctr images export`` writes: ``oci-layout``, ``index.json`` naming each
image (``io.containerd.image.name`` and ``org.opencontainers.image.ref.name`` annotations),
every blob under ``blobs/sha256/``, and a docker-compatible ``manifest.json`` so that
``docker load`` understands it too. Entries are sorted and carry fixed times and owners, so the
same images always export to the same bytes.
"""
from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import Iterator, Sequence
from typing import IO

from ...core.content import Provider
from ...core.digest import hex_of
from ...core.images import Image
from ...core.images import platforms as plat
from ...core.images.manifest import Index, encode, parse_manifest
from ...core.images.mediatypes import (
    ANNOTATION_IMAGE_NAME,
    ANNOTATION_REF_NAME,
    is_index_type,
    is_manifest_type,
)
from ...core.images.reference import parse_docker_ref, parse_spec
from ...core.images.walk import children, read_blob, select_manifests, walk
from ...core.ocispec import MEDIA_TYPE_OCI_INDEX, Descriptor
from ...errdefs import FailedPrecondition, InvalidArgument, map_exceptions

__all__ = ["export_docker_archive", "export_oci"]

_CHUNK = 1 << 20


class _Sink:
    """Writes named entries to a tar stream or into a directory, in sorted order."""

    def __init__(self, out: str | os.PathLike[str] | IO[bytes], directory: bool) -> None:
        if directory and not isinstance(out, (str, os.PathLike)):
            raise InvalidArgument("an OCI layout directory needs a path, not a stream")
        self.dir = os.fspath(out) if directory and isinstance(out, (str, os.PathLike)) else None
        self._own: IO[bytes] | None = None
        if not directory:
            f = open(os.fspath(out), "wb") if isinstance(out, (str, os.PathLike)) else out
            self._own = f if isinstance(out, (str, os.PathLike)) else None
            self.tar = tarfile.open(fileobj=f, mode="w|", format=tarfile.USTAR_FORMAT)
        elif self.dir is not None:
            os.makedirs(self.dir, exist_ok=True)

    def dir_entry(self, name: str) -> None:
        if self.dir is not None:
            os.makedirs(os.path.join(self.dir, name), exist_ok=True)
            return
        ti = tarfile.TarInfo(name.rstrip("/") + "/")
        ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, 0
        self.tar.addfile(ti)

    def file(self, name: str, mode: int, size: int, reader: IO[bytes]) -> None:
        if self.dir is not None:
            path = os.path.join(self.dir, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path + ".tmp", "wb") as f:
                while chunk := reader.read(_CHUNK):
                    f.write(chunk)
            os.replace(path + ".tmp", path)
            return
        ti = tarfile.TarInfo(name)
        ti.size, ti.mode, ti.mtime = size, mode, 0
        self.tar.addfile(ti, reader)

    def close(self) -> None:
        if self.dir is None:
            self.tar.close()
            if self._own:
                self._own.close()


class _BlobReader(io.RawIOBase):
    """Reads a blob from a provider, checking its digest when the end is reached."""

    def __init__(self, provider: Provider, desc: Descriptor) -> None:
        self._ra, self._desc, self._pos = provider.reader_at(desc.digest), desc, 0
        self._h = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        left = self._desc.size - self._pos
        data = self._ra.read_at(self._pos, left if n < 0 else min(n, left)) if left > 0 else b""
        self._pos += len(data)
        self._h.update(data)
        if self._pos >= self._desc.size:
            self._ra.close()
            if "sha256:" + self._h.hexdigest() != self._desc.digest:
                raise FailedPrecondition(f"unexpected digest copied for {self._desc.digest}")
        return data


def _bytes(data: bytes) -> IO[bytes]:
    return io.BytesIO(data)


def _records(provider: Provider, desc: Descriptor,
             matcher: plat.MatchComparer | None) -> Iterator[Descriptor]:
    found: list[Descriptor] = []

    def handle(d: Descriptor) -> list[Descriptor]:
        found.append(d)
        kids = children(provider, d)
        if is_index_type(d.media_type) and matcher is not None:
            kids = select_manifests(kids, matcher, None)
        return kids

    walk(handle, desc)
    return iter(found)


def export_oci(provider: Provider, images: Sequence[Image], out: str | os.PathLike[str] | IO[bytes], *,
               platform: plat.MatchComparer | None = None, docker_manifest: bool = True,
               directory: bool = False) -> Descriptor:
    """Write ``images`` as an OCI image layout (tar, or a directory if ``directory``).

    Args:
        platform: export only these platforms' manifests of an index (None: all).
        docker_manifest: also write docker's ``manifest.json``.

    Returns the descriptor of the ``index.json`` written.

    Raises:
        NotFound: content missing from ``provider``.
        InvalidArgument: a target that is not a manifest or index; a malformed document.
        FailedPrecondition: a blob whose bytes do not match its digest.
    """
    entries: list[Descriptor] = []
    blobs: dict[str, Descriptor] = {}
    docker: dict[str, tuple[Descriptor, list[str]]] = {}
    for img in images:
        t = img.target
        if not (is_manifest_type(t.media_type) or is_index_type(t.media_type)):
            raise InvalidArgument(f"only manifests may be exported, {img.name} is {t.media_type}")
        ann = {**t.annotations, ANNOTATION_IMAGE_NAME: img.name, ANNOTATION_REF_NAME: _ref_name(img.name)}
        entries.append(Descriptor(t.media_type, t.digest, t.size, ann, t.platform, t.urls))
        for d in _records(provider, t, platform):
            blobs[d.digest] = d
        if docker_manifest:
            m: Descriptor | None = t
            if not is_manifest_type(t.media_type):
                kids = [k for k in children(provider, t) if is_manifest_type(k.media_type)]
                m = next(iter(select_manifests(kids, platform or plat.default(), 1)), None)
            if m is not None:
                docker.setdefault(m.digest, (m, []))[1].append(img.name)
    index = encode(Index(MEDIA_TYPE_OCI_INDEX, tuple(entries)).to_json())
    files: dict[str, tuple[int, int, object]] = {
        "oci-layout": (0o444, 0, b'{"imageLayoutVersion":"1.0.0"}'),
        "index.json": (0o644, 0, index),
    }
    for d in blobs.values():
        files[f"blobs/sha256/{hex_of(d.digest)}"] = (0o444, d.size, d)
    if docker:
        files["manifest.json"] = (0o644, 0, _docker_manifest_json(provider, docker))
    _write(out, directory, files, provider)
    return Descriptor(MEDIA_TYPE_OCI_INDEX, "sha256:" + hashlib.sha256(index).hexdigest(), len(index))


def _docker_manifest_json(provider: Provider, docker: dict[str, tuple[Descriptor, list[str]]]) -> bytes:
    out = []
    for digest in sorted(docker):
        m, names = docker[digest]
        man = parse_manifest(read_blob(provider, m), m.media_type)
        out.append({"Config": f"blobs/sha256/{hex_of(man.config.digest)}",
                    "RepoTags": [parse_docker_ref(n).familiar for n in names],
                    "Layers": [f"blobs/sha256/{hex_of(x.digest)}" for x in man.layers]})
    return encode(out)


def _write(out: str | os.PathLike[str] | IO[bytes], directory: bool,
           files: dict[str, tuple[int, int, object]], provider: Provider) -> None:
    with map_exceptions(f"export to {os.fspath(out) if isinstance(out, (str, os.PathLike)) else 'stream'}"):
        sink = _Sink(out, directory)
        try:
            parents = {os.path.dirname(n) for n in files if "/" in n}
            dirs = {"/".join(d.split("/")[:i]) + "/" for d in parents for i in range(1, d.count("/") + 2)}
            for name in sorted([*files, *dirs]):
                if name.endswith("/"):
                    sink.dir_entry(name)
                    continue
                mode, _, content = files[name]
                if isinstance(content, Descriptor):
                    sink.file(name, mode, content.size, _BlobReader(provider, content))  # type: ignore[arg-type]
                else:
                    assert isinstance(content, bytes)
                    sink.file(name, mode, len(content), _bytes(content))
        finally:
            sink.close()


def _ref_name(name: str) -> str:
    """The OCI ref name for an image name: its tag/object, else the name itself."""
    try:
        return parse_spec(name).object or name
    except InvalidArgument:
        return name


def export_docker_archive(provider: Provider, name: str, target: Descriptor,
                          out: str | os.PathLike[str] | IO[bytes]) -> None:
    """Write one image as a classic ``docker save`` tarball: ``manifest.json``, ``repositories``,
    ``<config-hex>.json`` and ``<layer-hex>/layer.tar`` (the layer blob as stored; ``docker load``
    and containerd both detect its compression).

    Raises:
        NotFound: content missing; InvalidArgument: ``target`` is not a manifest.
    """
    if not is_manifest_type(target.media_type):
        raise InvalidArgument(f"a docker archive holds manifests, not {target.media_type}")
    man = parse_manifest(read_blob(provider, target), target.media_type)
    ref = parse_docker_ref(name)
    familiar = ref.familiar
    repo, _, tag = familiar.rpartition(":")
    layers = [f"{hex_of(x.digest)}/layer.tar" for x in man.layers]
    files: dict[str, tuple[int, int, object]] = {
        "manifest.json": (0o644, 0, encode([{"Config": f"{hex_of(man.config.digest)}.json",
                                             "RepoTags": [familiar], "Layers": layers}])),
        "repositories": (0o644, 0, encode({repo: {tag: hex_of(man.layers[-1].digest)}} if man.layers
                                          else {})),
        f"{hex_of(man.config.digest)}.json": (0o644, 0, man.config),
    }
    for path, layer in zip(layers, man.layers, strict=True):
        files[path] = (0o644, layer.size, layer)
    _write(out, False, files, provider)

