"""Pushing an image from a content store to a registry (containerd's PushContent).

Blobs go first (configs and layers), then manifests from the leaves up, the target last and
under the reference's tag -- so the tag never points at a manifest whose content is missing.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..core.content import Info, Provider
from ..core.images import platforms as plat
from ..core.images.labels import select_mount_candidate
from ..core.images.mediatypes import is_index_type, is_manifest_type
from ..core.images.walk import children, select_manifests, walk
from ..core.ocispec import Descriptor
from ..core.remotes import Progress, make_ref_key
from ..errdefs import InvalidArgument
from .docker import DockerResolver

__all__ = ["PushResult", "push_image"]


@dataclass
class PushResult:
    """What a push did, per digest: ``pushed``, ``exists`` or ``mounted``."""

    ref: str
    target: Descriptor
    statuses: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for s in self.statuses.values():
            counts[s] = counts.get(s, 0) + 1
        summary = " ".join(f"{k}={v}" for k, v in sorted(counts.items()))
        return f"<PushResult {self.ref} {self.target.digest[:19]} {summary}>"


def push_image(resolver: DockerResolver, ref: str, provider: Provider, target: Descriptor, *,
               platform: plat.MatchComparer | None = None, progress: Callable[[Progress], None] | None = None,
               chunk_size: int = 0, labels: Callable[[str], Info] | None = None) -> PushResult:
    """Push the image ``target`` (from ``provider``) to ``ref`` (which must carry a tag).

    Args:
        platform: push only these platforms' manifests of an index (default: all).
        chunk_size: send blobs larger than this in chunks (0: monolithic).
        labels: a content ``info`` function; with it, blobs whose distribution-source label
            names another repository of the same registry are mounted instead of uploaded.

    Raises:
        InvalidArgument: ``ref`` has no tag, or malformed documents.
        NotFound: content missing from ``provider``; FailedPrecondition: access denied or
        rejected; Unavailable: the registry keeps failing.
    """
    base = resolver.base(ref)
    tag = base.spec.tag
    if not tag:
        raise InvalidArgument(f"push needs a tag in {ref!r:.200}")
    pusher = resolver.pusher(ref)
    pusher.chunk_size = chunk_size
    emit = progress or (lambda p: None)
    result = PushResult(ref, target)
    manifests: list[Descriptor] = []
    blobs: list[Descriptor] = []

    def handle(desc: Descriptor) -> list[Descriptor]:
        kids = children(provider, desc)
        if is_manifest_type(desc.media_type) or is_index_type(desc.media_type):
            manifests.append(desc)
        else:
            blobs.append(desc)
        if is_index_type(desc.media_type) and platform is not None:
            kids = select_manifests(kids, platform, None)
        return kids

    walk(handle, target)
    for desc in [*blobs, *reversed(manifests)]:
        if desc.digest in result.statuses:
            continue
        key = make_ref_key(desc)
        emit(Progress(key, "uploading", 0, desc.size))
        mount = ""
        if labels is not None and not (is_manifest_type(desc.media_type) or is_index_type(desc.media_type)):
            mount = select_mount_candidate(ref, labels(desc.digest).labels)
        as_tag = tag if desc.digest == target.digest else ""
        status = pusher.push(desc, provider, tag=as_tag, mount_from=mount)
        result.statuses[desc.digest] = status
        emit(Progress(key, status, desc.size, desc.size, pusher.push_host().host))
    return result
