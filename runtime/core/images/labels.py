"""The content labels a pull leaves behind: garbage-collection edges and where blobs came from.

Garbage collection only follows labels, so after a pull every parent blob names its children:

>>> from pyctrd.core.ocispec import Descriptor, MEDIA_TYPE_OCI_CONFIG, MEDIA_TYPE_OCI_LAYER_GZIP
>>> cfg = Descriptor(MEDIA_TYPE_OCI_CONFIG, "sha256:" + "c" * 64, 2)
>>> l0 = Descriptor(MEDIA_TYPE_OCI_LAYER_GZIP, "sha256:" + "0" * 64, 3)
>>> sorted(children_labels([cfg, l0]))
['containerd.io/gc.ref.content.config', 'containerd.io/gc.ref.content.l.0']

and every blob records the repositories it was pulled from, per registry host (port dropped,
as containerd does with ``url.Hostname()``):

>>> distribution_source_key("127.0.0.1:5000/layered:latest")
('containerd.io/distribution.source.127.0.0.1', 'layered')
>>> append_distribution_source("layered", "busybox")
'busybox,layered'
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from ..ocispec import Descriptor
from .mediatypes import LABEL_DISTRIBUTION_SOURCE, child_gc_labels
from .reference import parse_spec

__all__ = ["MAX_LABEL_SIZE", "append_distribution_source", "children_labels",
           "distribution_source_key", "select_mount_candidate"]

#: containerd's labels.Validate: key + value at most 4096 bytes.
MAX_LABEL_SIZE = 4096


def children_labels(children: Iterable[Descriptor],
                    label_map: Callable[[Descriptor], list[str]] = child_gc_labels) -> dict[str, str]:
    """The labels a parent gets for its children (containerd's SetChildrenMappedLabels).

    Keys ending in ``.`` are numbered per key; a key seen twice is numbered from its 2nd use.
    """
    labels: dict[str, str] = {}
    seen: dict[str, int] = {}
    for child in children:
        for key in label_map(child):
            n = seen.get(key, 0)
            seen[key] = n + 1
            if n > 0 or key.endswith("."):
                key = f"{key}{n}"
            labels[key] = child.digest
    return labels


def distribution_source_key(ref: str) -> tuple[str, str]:
    """(label key, repository) for a reference like ``host:port/repo:tag``.

    Raises:
        InvalidArgument: the reference has no hostname.
    """
    spec = parse_spec(ref)
    host = urlsplit("dummy://" + spec.hostname).hostname or spec.hostname
    return f"{LABEL_DISTRIBUTION_SOURCE}.{host}", spec.repository


def append_distribution_source(existing: str, repo: str) -> str:
    """Add ``repo`` to a comma-separated label value: sorted, without duplicates or blanks."""
    repos = {r for r in existing.split(",") if r} | ({repo} if repo else set())
    return ",".join(sorted(repos))


def select_mount_candidate(ref: str, labels: dict[str, str]) -> str:
    """The repository on the same registry sharing the longest path prefix with ``ref`` that
    already holds a blob (per its distribution-source label), for a cross-repository mount.
    Returns ``""`` if there is none."""
    key, target = distribution_source_key(ref)
    best, best_n = "", 0
    parts = target.split("/")
    for repo in (labels.get(key) or "").split(","):
        if not repo or repo == target:
            continue
        other, n = repo.split("/"), 0
        while n < min(len(parts), len(other)) and parts[n] == other[n]:
            n += 1
        if n >= best_n:
            best, best_n = repo, n
    return best
