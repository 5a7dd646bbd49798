"""Importing image archives into a content store, as ``ctr images import`` does.

Two formats are recognised, from a tar stream (plain or gzipped) or, for OCI, a directory:

- **OCI image layout**: ``oci-layout`` (``{"imageLayoutVersion": "1.0.0"}``), ``index.json``
  and ``blobs/sha256/<hex>``. The layout's ``index.json`` becomes the imported index as is.
- **docker archive** (``docker save``): ``manifest.json`` listing, per image, its config file,
  its layer files and its ``RepoTags``. containerd writes a docker schema 2 manifest for each
  and an OCI index over them, naming each entry after its normalised tag.

:func:`import_index` stores the blobs and returns the index descriptor;
:func:`import_images` also works out the image records to create, exactly as containerd names
them (``io.containerd.image.name`` annotation first, then the OCI ref name prefixed with
``--base-name`` or ``import-<date>``).
"""
from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import os
import re
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from ...core.content import Info, Ingester
from ...core.images import Image
from ...core.images import platforms as plat
from ...core.images.labels import children_labels
from ...core.images.manifest import Index, Manifest, encode, manifest_descriptor, parse_config, parse_index
from ...core.images.mediatypes import (
    ANNOTATION_IMAGE_NAME,
    ANNOTATION_REF_NAME,
    MEDIA_TYPE_DOCKER_LAYER_TAR,
    is_index_type,
)
from ...core.images.reference import parse_docker_ref, parse_spec
from ...core.images.walk import children, read_blob, walk
from ...core.ocispec import (
    MEDIA_TYPE_DOCKER_CONFIG,
    MEDIA_TYPE_DOCKER_LAYER,
    MEDIA_TYPE_DOCKER_MANIFEST,
    MEDIA_TYPE_OCI_INDEX,
    Descriptor,
)
from ...errdefs import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, map_exceptions
from ...remotes.pull import FetchStore

__all__ = ["JSON_LIMIT", "ImportResult", "import_images", "import_index", "write_blob"]

JSON_LIMIT = 20 << 20
_BLOB_PATH = re.compile(r"^blobs/sha256/([a-f0-9]{64})$")


def write_blob(store: Ingester, ref: str, data: bytes | IO[bytes], size: int, expected: str = "") -> str:
    """Write a whole blob through ``store.writer(ref)``; returns its digest (existing is fine).

    Raises:
        InvalidArgument: the bytes do not have the ``expected`` digest or the stated size.
    """
    try:
        w = store.writer(ref, total=size, expected=expected)
    except AlreadyExists:
        return expected
    h = hashlib.sha256()
    try:
        w.truncate(0)
        done = 0
        while done < size:
            n = min(1 << 20, size - done)
            chunk = data[done:done + n] if isinstance(data, bytes) else data.read(n)
            if not chunk:
                break
            h.update(chunk)
            w.write(chunk)
            done += len(chunk)
        digest = "sha256:" + h.hexdigest()
        if done != size or (expected and digest != expected):
            w.truncate(0)
            raise InvalidArgument(f"{ref}: content is {done} bytes with digest {digest}, "
                                  f"expected {size} bytes{' with ' + expected if expected else ''}")
        try:
            w.commit(size, digest)
        except AlreadyExists:
            pass
        except FailedPrecondition as exc:
            w.truncate(0)
            raise InvalidArgument(f"{ref}: {exc}") from None
        return digest
    finally:
        w.close()


@dataclass
class _Collected:
    layout: dict[str, Any] | None = None
    docker: list[Any] | None = None
    blobs: dict[str, Descriptor] = field(default_factory=dict)
    symlinks: dict[str, str] = field(default_factory=dict)


def _load_json(f: IO[bytes], size: int, name: str) -> Any:
    if size > JSON_LIMIT:
        raise InvalidArgument(f"{name} is larger than {JSON_LIMIT} bytes")
    try:
        return json.loads(f.read(size))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"untar {name}: malformed JSON: {exc}") from None


def _ingest(store: Ingester, c: _Collected, name: str, f: IO[bytes], size: int) -> None:
    name = os.path.normpath(name).lstrip("/")
    if name == "oci-layout":
        c.layout = _load_json(f, size, name)
    elif name == "manifest.json":
        c.docker = _load_json(f, size, name)
    else:
        m = _BLOB_PATH.fullmatch(name)
        expected = f"sha256:{m.group(1)}" if m else ""
        digest = write_blob(store, f"tar-{name}", f, size, expected)
        c.blobs[name] = Descriptor("", digest, size)


def _collect_tar(store: Ingester, fileobj: IO[bytes]) -> _Collected:
    c = _Collected()
    try:
        with tarfile.open(fileobj=fileobj, mode="r|*") as tf:
            for member in tf:
                if member.issym():
                    c.symlinks[os.path.normpath(member.name)] = os.path.normpath(
                        os.path.join(os.path.dirname(member.name), member.linkname))
                elif member.isreg():
                    f = tf.extractfile(member)
                    assert f is not None
                    _ingest(store, c, member.name, f, member.size)
    except (tarfile.TarError, EOFError, gzip.BadGzipFile) as exc:
        raise InvalidArgument(f"not a valid image archive: {exc}") from None
    return c


def _collect_dir(store: Ingester, root: str) -> _Collected:
    c = _Collected()
    names = ["oci-layout", "index.json"]
    blob_dir = os.path.join(root, "blobs", "sha256")
    if os.path.isdir(blob_dir):
        names += [f"blobs/sha256/{n}" for n in sorted(os.listdir(blob_dir))
                  if _BLOB_PATH.fullmatch(f"blobs/sha256/{n}")]
    for name in names:
        path = os.path.join(root, name)
        if not os.path.isfile(path):
            continue
        with map_exceptions(f"read {path}"), open(path, "rb") as f:
            _ingest(store, c, name, f, os.fstat(f.fileno()).st_size)
    return c


def _docker_index(store: FetchStore, c: _Collected) -> Descriptor:
    if not isinstance(c.docker, list):
        raise InvalidArgument("manifest.json must be a list of images")
    for name, target in c.symlinks.items():
        if target not in c.blobs:
            raise InvalidArgument(f"no target for symlink layer from {name!r} to {target!r}")
        c.blobs[name] = c.blobs[target]
    entries = []
    for i, m in enumerate(c.docker):
        if not isinstance(m, dict) or not isinstance(m.get("Config"), str) or \
                not isinstance(m.get("Layers", []), list) or not isinstance(m.get("RepoTags") or [], list):
            raise InvalidArgument(f"manifest.json entry {i}: needs Config (a string), Layers and RepoTags "
                                  "(lists)")
        cfg = c.blobs.get(os.path.normpath(m["Config"]))
        if cfg is None:
            raise InvalidArgument(f"image config {m['Config']!r} not found")
        config = Descriptor(MEDIA_TYPE_DOCKER_CONFIG, cfg.digest, cfg.size)
        layers = []
        for lf in m.get("Layers") or []:
            blob = c.blobs.get(os.path.normpath(str(lf)))
            if blob is None:
                raise InvalidArgument(f"failed to resolve layers: layer {lf!r} not found")
            ra = store.reader_at(blob.digest)
            head = ra.read_at(0, 2) if ra.size else b""
            ra.close()
            mt = MEDIA_TYPE_DOCKER_LAYER if head == b"\x1f\x8b" else MEDIA_TYPE_DOCKER_LAYER_TAR
            layers.append(Descriptor(mt, blob.digest, blob.size))
        desc, data = manifest_descriptor(Manifest(MEDIA_TYPE_DOCKER_MANIFEST, config, tuple(layers)))
        write_blob(store, f"manifest-{desc.digest}", data, len(data), desc.digest)
        platform = plat.normalize(parse_config(read_blob(store, config)).platform)
        desc = Descriptor(desc.media_type, desc.digest, desc.size, platform=platform)
        tags = m.get("RepoTags") or []
        if not tags:
            entries.append(desc)
        for tag in tags:
            name = str(parse_docker_ref(str(tag)))
            ann = {ANNOTATION_IMAGE_NAME: name, ANNOTATION_REF_NAME: parse_spec(name).object}
            entries.append(Descriptor(desc.media_type, desc.digest, desc.size, ann, platform))
    index = Index(MEDIA_TYPE_OCI_INDEX, tuple(entries))
    data = encode(index.to_json())
    idx, _ = manifest_descriptor(index)
    write_blob(store, f"manifest-{idx.digest}", data, len(data), idx.digest)
    return idx


def import_index(store: FetchStore, source: str | os.PathLike[str] | IO[bytes]) -> Descriptor:
    """Store an archive's blobs and return the descriptor of its index.

    Raises:
        InvalidArgument: not an archive we recognise, malformed JSON, missing files, blobs that
            do not match their names, an unsupported OCI layout version.
    """
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if os.path.isdir(path):
            c = _collect_dir(store, path)
        else:
            with map_exceptions(f"open {path}"), open(path, "rb") as f:
                c = _collect_tar(store, f)
    else:
        c = _collect_tar(store, source)
    if c.layout is not None:
        version = c.layout.get("imageLayoutVersion") if isinstance(c.layout, dict) else None
        if version != "1.0.0":
            raise InvalidArgument(f"unsupported OCI version {version!r}")
        idx = c.blobs.get("index.json")
        if idx is None:
            raise InvalidArgument("missing index.json in OCI layout 1.0.0")
        return Descriptor(MEDIA_TYPE_OCI_INDEX, idx.digest, idx.size)
    if c.docker is None:
        raise InvalidArgument("unrecognized image format (neither an OCI layout nor a docker archive)")
    return _docker_index(store, c)


@dataclass
class ImportResult:
    index: Descriptor
    images: list[Image]

    def __repr__(self) -> str:
        return f"<ImportResult {self.index.digest[:19]} images={[i.name for i in self.images]}>"


def _has_prefix(ref: str, prefix: str) -> bool:
    return ref.startswith(prefix) and (len(ref) == len(prefix) or ref[len(prefix)] in "/:@")


def _translator(base_name: str | None, today: dt.date) -> Callable[[str], str]:
    """ctr's ref translators: AddRefPrefix(import-<date>) or FilterRefPrefix(--base-name)."""
    prefix = base_name or f"import-{today.isoformat()}"

    def translate(ref: str) -> str:
        if any(ch in ref for ch in "/:@"):
            if base_name and not _has_prefix(ref, prefix):
                return ""
            return ref
        return f"{prefix}:{ref}"

    return translate


def import_images(store: FetchStore, source: str | os.PathLike[str] | IO[bytes], *,
                  base_name: str | None = None, digests: bool = False, skip_digest_for_named: bool = False,
                  index_name: str | None = None, platform: plat.MatchComparer | None = None,
                  all_platforms: bool = False, today: dt.date | None = None) -> ImportResult:
    """Import an archive and return the image records to create (containerd's client.Import).

    The GC labels from the index to its (platform-matching) manifests, and from manifests to
    configs and layers, are set on the stored content.

    Raises:
        InvalidArgument: as :func:`import_index`, or a malformed document inside the archive.
        NotFound: the archive's index or a manifest it lists is missing from it.
        FailedPrecondition: nothing in the archive matches the platform.
    """
    if skip_digest_for_named and not digests:
        raise InvalidArgument("--skip-digest-for-named must be specified with --digests option")
    index = import_index(store, source)
    translate = _translator(base_name, today or dt.date.today())
    prefix = base_name or f"import-{(today or dt.date.today()).isoformat()}"
    images: list[Image] = [Image(index_name, index)] if index_name else []
    matcher = plat.ALL if all_platforms else platform or plat.default()
    walked = False

    def handle(desc: Descriptor) -> list[Descriptor]:
        nonlocal walked
        if desc.digest != index.digest:
            kids = children(store, desc)
        else:
            kids = list(parse_index(read_blob(store, desc), desc.media_type).manifests)
            for m in kids:
                name = m.annotations.get(ANNOTATION_IMAGE_NAME, "")
                if not name and m.annotations.get(ANNOTATION_REF_NAME):
                    name = translate(m.annotations[ANNOTATION_REF_NAME])
                if name:
                    images.append(Image(name, m))
                if digests and not (skip_digest_for_named and name):
                    images.append(Image(f"{prefix}@{m.digest}", m))
        if is_index_type(desc.media_type):
            kids = [k for k in kids if k.platform is None or matcher.match(k.platform)]
        if kids:
            walked = True
            labels = children_labels(kids)
            store.update(Info(desc.digest, 0, labels=labels), [f"labels.{k}" for k in labels])
        return kids

    try:
        walk(handle, index)
    except NotFound as exc:
        raise NotFound(f"archive is incomplete: {exc}") from None
    if not walked:
        raise FailedPrecondition("image might be filtered out")
    return ImportResult(index, images)

