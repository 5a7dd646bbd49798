"""Parse and write the image documents (index, manifest, config), refusing anything malformed.

The bytes come from a registry or an archive, so they are untrusted: every field is checked for
presence and type, sizes are bounded, and a document must be what its descriptor says it is (a
manifest served where an index was promised is an error, as in containerd). Errors are
:class:`~pyctrd.errdefs.InvalidArgument` for malformed input and
:class:`~pyctrd.errdefs.NotImplemented` for well-formed input we do not support (schema 1,
unknown media types, other digest algorithms).

>>> from pyctrd.core.ocispec import MEDIA_TYPE_OCI_MANIFEST
>>> m = parse_manifest(b'{"schemaVersion": 2, "config": {"mediaType": '
...     b'"application/vnd.oci.image.config.v1+json", "digest": "sha256:' + b"a" * 64 +
...     b'", "size": 2}, "layers": []}', MEDIA_TYPE_OCI_MANIFEST)
>>> m
<Manifest oci config=sha256:aaaaaaaaaaaa layers=0>
>>> parse_manifest(b'{"manifests": []}', MEDIA_TYPE_OCI_MANIFEST)
Traceback (most recent call last):
...
pyctrd.errdefs.InvalidArgument: media-type: expected manifest but found index (application/vnd.oci.image.manifest.v1+json): invalid argument
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ...errdefs import InvalidArgument
from ...errdefs import NotImplemented as NotImplementedKind
from ..digest import from_bytes, validate
from ..ocispec import (
    MEDIA_TYPE_DOCKER_MANIFEST,
    MEDIA_TYPE_DOCKER_MANIFEST_LIST,
    Descriptor,
    Platform,
)
from .mediatypes import is_index_type, is_manifest_type

__all__ = [
    "MAX_INDEX_ENTRIES", "MAX_LAYERS", "MAX_MANIFEST_SIZE", "ImageConfig", "Index", "Manifest",
    "descriptor_json", "encode", "manifest_descriptor", "parse_config", "parse_document", "parse_index",
    "parse_manifest",
]

#: containerd's limit on a manifest or index body (4 * 1048 * 1048 bytes, sic).
MAX_MANIFEST_SIZE = 4 * 1048 * 1048
#: No snapshotter can stack this many layers; refuse before fetching any of them.
MAX_LAYERS = 1000
MAX_INDEX_ENTRIES = 10000


def _no_constant(name: str) -> Any:
    raise InvalidArgument(f"malformed JSON: {name} is not a JSON value")


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _replace_surrogates(doc: Any) -> Any:
    """Go's decoder turns an escaped lone UTF-16 surrogate into U+FFFD; Python keeps it, and a
    string holding one cannot be encoded again (gRPC, JSON, the database all refuse it)."""
    if isinstance(doc, str):
        return _SURROGATE.sub("\ufffd", doc)
    if isinstance(doc, list):
        return [_replace_surrogates(v) for v in doc]
    if isinstance(doc, dict):
        return {_replace_surrogates(k): _replace_surrogates(v) for k, v in doc.items()}
    return doc


def _load(data: bytes, what: str) -> dict[str, Any]:
    if len(data) > MAX_MANIFEST_SIZE:
        raise InvalidArgument(f"{what}: {len(data)} bytes is larger than {MAX_MANIFEST_SIZE}")
    try:
        # UTF-8 only, as Go reads JSON (json.loads of bytes would guess UTF-16 and -32 too).
        text = data.decode()
        doc = json.loads(text, parse_constant=_no_constant)  # NaN and Infinity are not JSON
        if _SURROGATE_ESCAPE.search(text):  # (a cheap test first: real documents have none)
            doc = _replace_surrogates(doc)
    except InvalidArgument as exc:
        raise InvalidArgument(f"{what}: {exc.what}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"{what}: malformed JSON: {exc}") from None
    except RecursionError:  # the decoder recurses once per level of nesting
        raise InvalidArgument(f"{what}: malformed JSON: nested too deeply") from None
    if not isinstance(doc, dict):
        raise InvalidArgument(f"{what}: expected a JSON object, got {type(doc).__name__}")
    return doc


def _check_kind(doc: dict[str, Any], mt: str) -> None:
    """containerd's validateMediaType: the body must agree with the descriptor's type."""
    # containerd tests for the keys' presence (even an empty list counts), and so do we.
    if "fsLayers" in doc:
        raise NotImplementedKind("media-type: schema 1 not supported")
    inner = doc.get("mediaType")
    if is_manifest_type(mt) and ("manifests" in doc or is_index_type(str(inner))):
        raise InvalidArgument(f"media-type: expected manifest but found index ({mt})")
    if is_index_type(mt) and ("config" in doc or "layers" in doc or is_manifest_type(str(inner))):
        raise InvalidArgument(f"media-type: expected index but found manifest ({mt})")
    if inner is not None and not isinstance(inner, str):
        raise InvalidArgument(f"mediaType must be a string, got {inner!r:.40}")
    if doc.get("schemaVersion") != 2:
        raise InvalidArgument(f"schemaVersion must be 2, got {doc.get('schemaVersion')!r:.40}")


def _annotations(doc: dict[str, Any]) -> dict[str, str]:
    ann = doc.get("annotations")
    ann = {} if ann is None else ann
    if not isinstance(ann, dict) or not all(isinstance(v, str) for v in ann.values()):
        raise InvalidArgument("annotations must be an object of strings")
    return dict(ann)


def _descriptors(value: Any, what: str, limit: int) -> tuple[Descriptor, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidArgument(f"{what} must be a list, got {type(value).__name__}")
    if len(value) > limit:
        raise InvalidArgument(f"{len(value)} {what} is more than the limit of {limit}")
    out = []
    for i, d in enumerate(value):
        if isinstance(d, dict) and not d.get("mediaType"):
            raise InvalidArgument(f"{what}[{i}] has no mediaType")
        out.append(Descriptor.from_json(d))
    return tuple(out)


@dataclass(frozen=True)
class Manifest:
    """An image manifest: one config and the ordered layers (bottom first)."""

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: dict[str, str] = field(default_factory=dict, compare=False)

    def __repr__(self) -> str:
        kind = "docker" if self.media_type == MEDIA_TYPE_DOCKER_MANIFEST else "oci"
        return f"<Manifest {kind} config={self.config.digest[:19]} layers={len(self.layers)}>"

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"schemaVersion": 2}
        if self.media_type == MEDIA_TYPE_DOCKER_MANIFEST:
            d["mediaType"] = self.media_type
        d["config"] = descriptor_json(self.config)
        d["layers"] = [descriptor_json(x) for x in self.layers]
        if self.annotations:
            d["annotations"] = dict(self.annotations)
        return d


@dataclass(frozen=True)
class Index:
    """An image index (docker: manifest list): one manifest per platform, or several images."""

    media_type: str
    manifests: tuple[Descriptor, ...]
    annotations: dict[str, str] = field(default_factory=dict, compare=False)

    def __repr__(self) -> str:
        return f"<Index manifests={len(self.manifests)}>"

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"schemaVersion": 2}
        if self.media_type == MEDIA_TYPE_DOCKER_MANIFEST_LIST:
            d["mediaType"] = self.media_type
        d["manifests"] = [descriptor_json(x) for x in self.manifests]
        if self.annotations:
            d["annotations"] = dict(self.annotations)
        return d


@dataclass(frozen=True)
class ImageConfig:
    """The parts of an image config containerd reads (the raw document is kept in ``raw``)."""

    os: str
    architecture: str
    variant: str
    diff_ids: tuple[str, ...]
    config: dict[str, Any] = field(default_factory=dict, compare=False)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def platform(self) -> Platform:
        return Platform(self.os, self.architecture, self.variant)

    def __repr__(self) -> str:
        return f"<ImageConfig {self.platform} layers={len(self.diff_ids)}>"


def parse_manifest(data: bytes, media_type: str) -> Manifest:
    """Parse a manifest body served under ``media_type``.

    Raises:
        InvalidArgument: malformed JSON, missing/mistyped fields, bad descriptors, too many layers.
        NotImplemented: schema 1, a non-manifest media type, or a non-sha256 digest.
    """
    if not is_manifest_type(media_type):
        raise NotImplementedKind(f"unsupported manifest media type {media_type!r}")
    doc = _load(data, f"manifest {from_bytes(data)[:19]}")
    _check_kind(doc, media_type)
    if "config" not in doc:
        raise InvalidArgument("manifest has no config")
    if not isinstance(doc.get("layers", []), list):
        raise InvalidArgument(f"manifest layers must be a list, got {type(doc['layers']).__name__}")
    config = _descriptors([doc["config"]], "config", 1)[0]
    layers = _descriptors(doc.get("layers", []), "layers", MAX_LAYERS)
    return Manifest(media_type, config, layers, _annotations(doc))


def parse_index(data: bytes, media_type: str) -> Index:
    """Parse an index / manifest list body.

    Raises:
        InvalidArgument: malformed JSON, missing/mistyped fields, too many entries.
        NotImplemented: a non-index media type or a non-sha256 digest.
    """
    if not is_index_type(media_type):
        raise NotImplementedKind(f"unsupported index media type {media_type!r}")
    doc = _load(data, f"index {from_bytes(data)[:19]}")
    _check_kind(doc, media_type)
    if not isinstance(doc.get("manifests"), list):
        raise InvalidArgument("index has no manifests list")
    return Index(media_type, _descriptors(doc["manifests"], "manifests", MAX_INDEX_ENTRIES),
                 _annotations(doc))


def parse_document(desc: Descriptor, data: bytes) -> Manifest | Index:
    """Parse a manifest or index according to its descriptor.

    Raises:
        InvalidArgument: as :func:`parse_manifest` / :func:`parse_index`.
        NotImplemented: the descriptor is neither a manifest nor an index.
    """
    if is_manifest_type(desc.media_type):
        return parse_manifest(data, desc.media_type)
    if is_index_type(desc.media_type):
        return parse_index(data, desc.media_type)
    raise NotImplementedKind(f"unexpected media type {desc.media_type!r} for {desc.digest}")


def parse_config(data: bytes) -> ImageConfig:
    """Parse an image config (OCI or docker, they share this shape).

    Raises:
        InvalidArgument: malformed JSON, rootfs missing or of the wrong type, bad diff_ids.
    """
    doc = _load(data, f"config {from_bytes(data)[:19]}")
    rootfs = doc.get("rootfs")
    if not isinstance(rootfs, dict) or rootfs.get("type") != "layers":
        raise InvalidArgument('config rootfs must be {"type": "layers", "diff_ids": [...]}')
    diff_ids = rootfs.get("diff_ids") or []
    if not isinstance(diff_ids, list) or not all(isinstance(x, str) for x in diff_ids):
        raise InvalidArgument("config rootfs.diff_ids must be a list of digests")
    if len(diff_ids) > MAX_LAYERS:
        raise InvalidArgument(f"{len(diff_ids)} diff_ids is more than the limit of {MAX_LAYERS}")
    for key in ("os", "architecture", "variant"):
        if not isinstance(doc.get(key, ""), str):
            raise InvalidArgument(f"config {key} must be a string")
    cfg = doc.get("config")
    cfg = {} if cfg is None else cfg
    if not isinstance(cfg, dict):
        raise InvalidArgument("config.config must be an object")
    return ImageConfig(doc.get("os", ""), doc.get("architecture", ""), doc.get("variant", ""),
                       tuple(validate(x) for x in diff_ids), cfg, doc)


def descriptor_json(d: Descriptor) -> dict[str, Any]:
    """A descriptor as Go's ocispec marshals it (field order: mediaType, digest, size, urls,
    annotations, platform), so documents we write hash like containerd's."""
    out: dict[str, Any] = {"mediaType": d.media_type, "digest": d.digest, "size": d.size}
    if d.urls:
        out["urls"] = list(d.urls)
    if d.annotations:
        out["annotations"] = {k: d.annotations[k] for k in sorted(d.annotations)}
    if d.platform:
        p = d.platform
        plat: dict[str, str] = {"architecture": p.architecture, "os": p.os}
        if p.os_version:
            plat["os.version"] = p.os_version
        if p.variant:
            plat["variant"] = p.variant
        out["platform"] = plat
    return out


def encode(doc: dict[str, Any] | list[Any]) -> bytes:
    """Compact JSON as Go's encoding/json writes it (``<>&`` escaped as ``\\u003c`` etc.).

    >>> encode({"a": "<b>", "n": 1})
    b'{"a":"\\\\u003cb\\\\u003e","n":1}'
    """
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()


def manifest_descriptor(doc: Manifest | Index, **kw: Any) -> tuple[Descriptor, bytes]:
    """Encode a document and return (its descriptor, its bytes)."""
    data = encode(doc.to_json())
    return Descriptor(doc.media_type, from_bytes(data), len(data), **kw), data

