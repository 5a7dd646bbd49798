"""Fetching an image into a content store: containerd's pull, minus leases and unpacking.

:func:`fetch_image` resolves a reference, then walks the image graph level by level: it writes
each descriptor through ``store.writer()`` under containerd's ingest ref (``index-``,
``manifest-``, ``config-``, ``layer-<digest>``), parses manifests and indexes to find their
children (only the platform asked for), labels every parent with the GC edges to its children
(``containerd.io/gc.ref.content.m.<n>`` - for every manifest of an index, as containerd's,
fetched or not -, ``.config``, ``.l.<n>``) and every blob with where it
came from (``containerd.io/distribution.source.<host>=<repo>``). Blobs already in the store are
reported as ``exists`` and not downloaded again; an ingest left by an interrupted pull resumes.

It does not take a lease, create the image record or unpack layers: a caller does those around
it::

    with leases.temporary() as lease:           # the daemon's job
        result = fetch_image(resolver, ref, store)
        images.create(result.image())
        unpack(result.target)
"""
from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from ..core.content import Info, Ingester, Manager, Provider, Writer
from ..core.images import Image
from ..core.images import platforms as plat
from ..core.images.labels import (
    MAX_LABEL_SIZE,
    append_distribution_source,
    children_labels,
    distribution_source_key,
)
from ..core.images.manifest import parse_index, parse_manifest
from ..core.images.mediatypes import (
    MEDIA_TYPE_DOCKER_SCHEMA1_MANIFEST,
    child_gc_labels,
    is_index_type,
    is_manifest_type,
)
from ..core.images.walk import MAX_DEPTH, read_blob, select_manifests
from ..core.ocispec import Descriptor, Platform
from ..core.remotes import Fetcher, Progress, Resolver, make_ref_key
from ..errdefs import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PyctrdError,
    Unavailable,
)

__all__ = ["CHUNK_SIZE", "FetchResult", "FetchStore", "fetch_blob", "fetch_image"]

CHUNK_SIZE = 1 << 20
ProgressFn = Callable[[Progress], None]


class FetchStore(Provider, Ingester, Manager, Protocol):
    """What a fetch needs from a content store: read, write, label."""


@dataclass
class FetchResult:
    """What a fetch did: the image to create, and for each blob what happened and who served it."""

    name: str
    target: Descriptor
    fetched: list[Descriptor] = field(default_factory=list)
    existing: list[Descriptor] = field(default_factory=list)
    #: digest -> registry host that served it
    served_by: dict[str, str] = field(default_factory=dict)

    def image(self, labels: dict[str, str] | None = None) -> Image:
        """The image record a pull creates (containerd's images.Create after the fetch)."""
        return Image(self.name, self.target, dict(labels or {}))

    def __repr__(self) -> str:
        return (f"<FetchResult {self.name} {self.target.digest[:19]} fetched={len(self.fetched)} "
                f"exists={len(self.existing)}>")


#: How long a pull waits on another's ingest of the same blob while that ingest does not move.
#: containerd's OpenWriter waits until the pull's context ends, however long the other download
#: takes; without a context deadline here, an ingest standing still this long ends the wait.
LOCKED_REF_PATIENCE = 60.0


def _ingest_offset(store: Ingester, ref: str) -> int | None:
    status = getattr(store, "status", None)  # an IngestManager (every real store) shows progress
    if status is None:
        return None
    try:
        return int(status(ref).offset)
    except PyctrdError:
        return None


def _open_writer(store: Ingester, ref: str, desc: Descriptor, sleep: Callable[[float], None],
                 patience: float = LOCKED_REF_PATIENCE, clock: Callable[[], float] = time.monotonic) -> Writer:
    """store.writer(), waiting while another pull holds the same ref (containerd's OpenWriter):
    when it commits, the next try answers AlreadyExists and the blob is not downloaded again.

    Raises:
        Unavailable: the ref stayed locked and its ingest did not move for ``patience`` seconds.
    """
    delay, offset, moved = 0.016, _ingest_offset(store, ref), clock()
    while True:
        try:
            return store.writer(ref, total=desc.size, expected=desc.digest)
        except Unavailable:
            now = _ingest_offset(store, ref)
            if now != offset:
                offset, moved = now, clock()
            elif clock() - moved > patience:
                raise
        sleep(delay)
        delay = min(delay * 2, 1.0)


def fetch_blob(fetcher: Fetcher, store: Ingester, desc: Descriptor, *, progress: ProgressFn | None = None,
               chunk_size: int = CHUNK_SIZE, sleep: Callable[[float], None] = time.sleep) -> tuple[str, str]:
    """Copy one descriptor from a fetcher into the store. Returns (``done`` or ``exists``, host).

    Raises:
        InvalidArgument: a zero-size descriptor.
        FailedPrecondition: size or digest mismatch (nothing is committed; the ingest is reset).
        NotFound | Unavailable: from the fetcher.
    """
    emit = progress or (lambda p: None)
    ref = make_ref_key(desc)
    if desc.media_type == MEDIA_TYPE_DOCKER_SCHEMA1_MANIFEST:
        raise NotImplementedError(f"{desc.media_type} not supported")
    try:
        w = _open_writer(store, ref, desc, sleep)
    except AlreadyExists:
        emit(Progress(ref, "exists", desc.size, desc.size))
        return "exists", ""
    host = ""
    try:
        if desc.size == 0:
            raise InvalidArgument(f"unable to fetch descriptor ({desc.digest}) which reports content size "
                                  "of zero")
        offset = w.status().offset
        if offset > desc.size:
            w.truncate(0)
            offset = 0
        if offset < desc.size:
            stream = fetcher.fetch(desc, offset)
            host = stream.host
            try:
                emit(Progress(ref, "downloading", offset, desc.size, host))
                while chunk := stream.read(chunk_size):
                    w.write(chunk)
                    offset += len(chunk)
                    emit(Progress(ref, "downloading", offset, desc.size, stream.host))
                host = stream.host
            finally:
                stream.close()
        try:
            w.commit(desc.size, desc.digest)
        except AlreadyExists:
            pass
    except FailedPrecondition:
        w.truncate(0)  # never let a retry resume on bytes that failed verification
        raise
    finally:
        w.close()
    emit(Progress(ref, "done", desc.size, desc.size, host))
    return "done", host


def _label(store: Manager, digest: str, labels: dict[str, str]) -> None:
    if labels:
        store.update(Info(digest, 0, labels=labels), [f"labels.{k}" for k in labels])


def fetch_image(resolver: Resolver, ref: str, store: FetchStore, *,
                platform: str | Platform | plat.MatchComparer | None = None, all_platforms: bool = False,
                progress: ProgressFn | None = None,
                child_labels: Callable[[Descriptor], list[str]] | None = child_gc_labels,
                distribution_source: bool = True, max_concurrent: int = 3, chunk_size: int = CHUNK_SIZE,
                sleep: Callable[[float], None] = time.sleep) -> FetchResult:
    """Resolve ``ref`` and fetch the image's content into ``store`` (see module docs).

    Args:
        platform: ``"linux/arm64"``, a Platform or a matcher; default: this host.
        all_platforms: fetch every manifest of an index.
        progress: called with :class:`~pyctrd.core.remotes.Progress` events, from worker
            threads but never concurrently.
        child_labels: the GC label keys for a child (None: set no GC labels).
        max_concurrent: blobs downloaded at once (containerd's default is 3).

    Raises:
        InvalidArgument: malformed reference or documents.
        NotImplemented: unsupported media types (schema 1) or digest algorithms.
        NotFound: the reference, or a blob, is not in the registry; no manifest for the platform.
        FailedPrecondition: access denied; content does not match its descriptor.
        Unavailable: the registry cannot be reached or keeps failing.
    """
    lock = threading.Lock()

    def emit(p: Progress) -> None:
        if progress:
            with lock:
                progress(p)

    matcher: plat.MatchComparer
    if all_platforms:
        matcher = plat.ALL
    elif platform is None:
        matcher = plat.default()
    elif isinstance(platform, str):
        matcher = plat.only(plat.parse(platform))
    elif isinstance(platform, Platform):
        matcher = plat.only(platform)
    else:
        matcher = platform
    emit(Progress(ref, "resolving"))
    name, target = resolver.resolve(ref)
    emit(Progress(ref, "resolved", host=""))
    fetcher = resolver.fetcher(name)
    source = distribution_source_key(name) if distribution_source else None
    result = FetchResult(name, target)
    seen: set[str] = set()

    def handle(desc: Descriptor) -> list[Descriptor]:
        status, host = fetch_blob(fetcher, store, desc, progress=emit, chunk_size=chunk_size, sleep=sleep)
        with lock:
            (result.fetched if status == "done" else result.existing).append(desc)
            if host:
                result.served_by[desc.digest] = host
        kids: list[Descriptor] = []
        if is_manifest_type(desc.media_type):
            m = parse_manifest(read_blob(store, desc), desc.media_type)
            kids = [m.config, *m.layers]
        elif is_index_type(desc.media_type):
            kids = list(parse_index(read_blob(store, desc), desc.media_type).manifests)
        # every child is labelled, fetched or not: containerd sets the labels before it filters
        # by platform, so an index pulled for amd64 still names its arm64 manifest (m.1); GC
        # follows a reference to absent content harmlessly
        if kids and child_labels is not None:
            _label(store, desc.digest, children_labels(kids, child_labels))
        if is_index_type(desc.media_type):
            kids = [d for d in kids if d.platform is None or matcher.match(d.platform)]
            if not all_platforms:
                kids = select_manifests(kids, matcher, 1)
                if not kids:
                    raise NotFound(f"no match for platform in manifest {desc.digest}")
        if source:
            key, repo = source
            value = append_distribution_source(store.info(desc.digest).labels.get(key, ""), repo)
            if len(key) + len(value) <= MAX_LABEL_SIZE:
                _label(store, desc.digest, {key: value})
        return kids

    level, depth = [target], 0
    with ThreadPoolExecutor(max(1, max_concurrent), thread_name_prefix="fetch") as pool:
        while level:
            depth += 1
            if depth > MAX_DEPTH:
                raise InvalidArgument(f"image graph of {ref} deeper than {MAX_DEPTH}")
            todo = []
            for d in level:
                if d.digest not in seen:
                    seen.add(d.digest)
                    todo.append(d)
                    emit(Progress(make_ref_key(d), "waiting", 0, d.size))
            # Each worker runs in a copy of the caller's context: the current namespace and
            # lease (contextvars) must reach the store's calls made from the pool's threads.
            futures = [pool.submit(contextvars.copy_context().run, handle, d) for d in todo]
            level = [k for f in futures for k in f.result()]
    return result

