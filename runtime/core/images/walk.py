"""Walking an image's descriptor graph in a content store: children, manifest, size, check.

An image record only holds its *target* descriptor. Everything else is found by reading
blobs: an index lists manifests, a manifest lists its config and layers. These functions take
any :class:`~pyctrd.core.content.Provider` (``reader_at``), so they work on the daemon's store,
a test dict, or an archive being imported.

The graph is content-addressed, so it cannot really loop; but a corrupt or hostile store can
make it look as if it does, so :func:`walk` refuses cycles and absurd depths.
"""
from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ...errdefs import InvalidArgument, NotFound
from ..content import Provider
from ..ocispec import Descriptor, Platform
from . import platforms as plat
from .manifest import MAX_MANIFEST_SIZE, ImageConfig, Manifest, parse_config, parse_index, parse_manifest
from .mediatypes import is_index_type, is_known_config, is_manifest_type

__all__ = ["MAX_DEPTH", "CheckResult", "chain_ids", "check", "children", "image_config",
           "image_platforms", "image_size", "read_blob", "resolve_manifest", "rootfs", "select_manifests",
           "walk"]

#: Deepest index nesting we follow (real images use 1, maybe 2).
MAX_DEPTH = 16
Handler = Callable[[Descriptor], Sequence[Descriptor]]


def read_blob(provider: Provider, desc: Descriptor, limit: int | None = MAX_MANIFEST_SIZE) -> bytes:
    """All of a blob's bytes (documents only: bounded by ``limit``).

    Raises:
        NotFound: the blob is not in the store.
        InvalidArgument: the blob is larger than ``limit`` or not the size its descriptor says.
    """
    if limit is not None and desc.size > limit:
        raise InvalidArgument(f"{desc.digest}: {desc.size} bytes is larger than {limit}")
    ra = provider.reader_at(desc.digest)
    try:
        if ra.size != desc.size:
            raise InvalidArgument(f"{desc.digest}: blob is {ra.size} bytes, descriptor says {desc.size}")
        return ra.read_at(0, ra.size) if ra.size else b""
    finally:
        ra.close()


def children(provider: Provider, desc: Descriptor) -> list[Descriptor]:
    """The descriptors ``desc`` points at: config + layers of a manifest, manifests of an index.

    Layers, configs and unknown media types have none.

    Raises:
        NotFound: a manifest or index blob is missing.
        InvalidArgument | NotImplemented: the document is malformed or unsupported.
    """
    if is_manifest_type(desc.media_type):
        m = parse_manifest(read_blob(provider, desc), desc.media_type)
        return [m.config, *m.layers]
    if is_index_type(desc.media_type):
        return list(parse_index(read_blob(provider, desc), desc.media_type).manifests)
    return []


def walk(handler: Handler, *descs: Descriptor, _path: tuple[str, ...] = ()) -> None:
    """Call ``handler`` on each descriptor, depth first, then on the children it returns.

    Raises:
        InvalidArgument: a descriptor refers back to one of its ancestors, or nesting is too deep.
        Whatever ``handler`` raises.
    """
    if len(_path) > MAX_DEPTH:
        raise InvalidArgument(f"image graph deeper than {MAX_DEPTH} at {_path[-1]}")
    for desc in descs:
        if desc.digest in _path:
            raise InvalidArgument(f"index loop: {desc.digest} refers back to itself")
        kids = handler(desc)
        if kids:
            walk(handler, *kids, _path=(*_path, desc.digest))


def _sort_preferred(descs: list[Descriptor], matcher: plat.MatchComparer) -> list[Descriptor]:
    def cmp(a: Descriptor, b: Descriptor) -> int:
        if a.platform is None:
            return 0 if b.platform is None else 1
        if b.platform is None:
            return -1
        if matcher.less(a.platform, b.platform):
            return -1
        return 1 if matcher.less(b.platform, a.platform) else 0
    return sorted(descs, key=functools.cmp_to_key(cmp))


def select_manifests(index_children: list[Descriptor], matcher: plat.MatchComparer | None,
                     limit: int | None) -> list[Descriptor]:
    """FilterPlatforms + LimitManifests: index entries that match (no platform matches too),
    most preferred first, at most ``limit`` (None: all). No matcher: all entries, unsorted."""
    if matcher is None:
        return index_children
    kids = [d for d in index_children if d.platform is None or matcher.match(d.platform)]
    kids = _sort_preferred(kids, matcher)
    return kids[:limit] if limit else kids


def resolve_manifest(provider: Provider, target: Descriptor,
                     matcher: plat.MatchComparer | None = None) -> tuple[Descriptor, Manifest]:
    """The manifest an image runs as on this platform (containerd's images.Manifest).

    ``matcher`` defaults to :func:`platforms.default`. A manifest reached through an index
    without a platform in its descriptor is checked against its config's os/architecture.

    Raises:
        NotFound: a blob is missing, or no manifest matches ("no match for platform in manifest").
        InvalidArgument | NotImplemented: a malformed or unsupported document.
    """
    m = matcher or plat.default()
    found: list[tuple[Descriptor, Manifest]] = []
    was_index = False

    def handle(desc: Descriptor) -> list[Descriptor]:
        nonlocal was_index
        if is_manifest_type(desc.media_type):
            man = parse_manifest(read_blob(provider, desc), desc.media_type)
            if desc.digest != target.digest:
                if desc.platform is not None and not m.match(desc.platform):
                    return []
                if desc.platform is None and not m.match(_config(provider, man.config).platform):
                    return []
            found.append((desc, man))
            return []
        if is_index_type(desc.media_type):
            was_index = True
            index = parse_index(read_blob(provider, desc), desc.media_type)
            return select_manifests(list(index.manifests), m, 1)
        raise NotFound(f"unexpected media type {desc.media_type} for {desc.digest}")

    walk(handle, target)
    if not found:
        raise NotFound(f"no match for platform in manifest {target.digest}" if was_index
                       else f"manifest {target.digest}")
    return found[0]


def _config(provider: Provider, desc: Descriptor) -> ImageConfig:
    return parse_config(read_blob(provider, desc))


def image_config(provider: Provider, target: Descriptor,
                 matcher: plat.MatchComparer | None = None) -> tuple[Descriptor, ImageConfig]:
    """The config descriptor and parsed config of the image on this platform.

    Raises:
        NotFound | InvalidArgument | NotImplemented: as :func:`resolve_manifest`.
    """
    _, man = resolve_manifest(provider, target, matcher)
    return man.config, _config(provider, man.config)


def image_platforms(provider: Provider, target: Descriptor) -> list[Platform]:
    """Every platform the image offers (descriptor platforms, else the configs' os/arch)."""
    out: list[Platform] = []

    def handle(desc: Descriptor) -> list[Descriptor]:
        if desc.platform is not None:
            out.append(desc.platform)
            return []
        if is_known_config(desc.media_type) and not desc.media_type.endswith("proto"):
            out.append(plat.normalize(_config(provider, desc).platform))
        return children(provider, desc)

    walk(handle, target)
    return out


def image_size(provider: Provider, target: Descriptor, matcher: plat.MatchComparer | None = None) -> int:
    """Bytes of everything the image needs on this platform: index + manifest + config + layers.

    Raises:
        NotFound: a document is missing, or no manifest matches the platform.
    """
    m = matcher or plat.default()
    total = 0

    def handle(desc: Descriptor) -> list[Descriptor]:
        nonlocal total
        total += desc.size
        kids = children(provider, desc)
        if is_index_type(desc.media_type):
            kids = select_manifests(kids, m, 1)
            if not kids:
                raise NotFound("no match for platform in manifest")
        return kids

    walk(handle, target)
    return total


@dataclass
class CheckResult:
    """What ``ctr images check`` reports: which of the required blobs are present."""

    available: bool
    required: list[Descriptor] = field(default_factory=list)
    present: list[Descriptor] = field(default_factory=list)
    missing: list[Descriptor] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.available and not self.missing

    @property
    def status(self) -> str:
        """``complete (2/2)``, ``incomplete (1/2)`` or ``unavailable (0/?)``."""
        if not self.available:
            return f"unavailable ({len(self.present)}/?)"
        word = "incomplete" if self.missing else "complete"
        return f"{word} ({len(self.present)}/{len(self.required)})"

    def __repr__(self) -> str:
        return f"<CheckResult {self.status}>"


def check(provider: Provider, target: Descriptor, matcher: plat.MatchComparer | None = None) -> CheckResult:
    """Which blobs (config + layers) of the image are present (containerd's images.Check).

    A missing manifest makes the image unavailable rather than an error.

    Raises:
        InvalidArgument | NotImplemented: a malformed or unsupported document.
    """
    try:
        _, man = resolve_manifest(provider, target, matcher)
    except NotFound:
        return CheckResult(False, [target], [], [target])
    result = CheckResult(True, [man.config, *man.layers])
    for desc in result.required:
        try:
            provider.reader_at(desc.digest).close()
        except NotFound:
            result.missing.append(desc)
        else:
            result.present.append(desc)
    return result


def chain_ids(diff_ids: Sequence[str]) -> list[str]:
    """The snapshot key of each layer stack: ChainID(L0) = DiffID(L0),
    ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)).

    >>> a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    >>> chain_ids([a])[0] == a
    True
    >>> chain_ids([a, b])[1] == "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()
    True
    """
    out: list[str] = []
    for d in diff_ids:
        out.append(d if not out else "sha256:" + hashlib.sha256(f"{out[-1]} {d}".encode()).hexdigest())
    return out


def rootfs(provider: Provider, config: Descriptor) -> list[str]:
    """The diff IDs (uncompressed layer digests) a config lists."""
    return list(_config(provider, config).diff_ids)

