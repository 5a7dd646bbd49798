"""TEST DOUBLE: a dict-backed stand-in for the content store, for the differ's tests only.

The real content store is being written concurrently; until it is merged the differ's tests
use this at the lowest seam (the content Protocols). It keeps what the differ relies on:
ReaderAt, a Writer with digest/commit (size and digest verified, AlreadyExists), labels,
info/update/abort. Replace it with the real store when that lands.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

from pyctrd.core.content import Info, Status
from pyctrd.errdefs import AlreadyExists, FailedPrecondition, NotFound, Unavailable


class DictReaderAt:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.closed = False

    @property
    def size(self) -> int:
        return len(self.data)

    def read_at(self, offset: int, n: int) -> bytes:
        return self.data[offset:offset + n]

    def close(self) -> None:
        self.closed = True


class DictWriter:
    def __init__(self, store: DictContentStore, ref: str) -> None:
        self.store, self.ref = store, ref

    @property
    def buf(self) -> bytearray:
        return self.store.ingests[self.ref]

    def write(self, data: bytes) -> int:
        self.buf.extend(data)
        return len(data)

    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.buf).hexdigest()

    def status(self) -> Status:
        return Status(self.ref, len(self.buf))

    def commit(self, size: int, expected: str, labels: dict[str, str] | None = None) -> None:
        data = bytes(self.buf)
        if size and size != len(data) or expected and expected != self.digest():
            raise FailedPrecondition(f"commit {self.ref}: size or digest mismatch")
        self.store.locked.discard(self.ref)
        del self.store.ingests[self.ref]
        d = "sha256:" + hashlib.sha256(data).hexdigest()
        if d in self.store.blobs:
            raise AlreadyExists(f"content {d}")
        self.store.blobs[d] = data
        self.store.labels[d] = dict(labels or {})

    def truncate(self, size: int) -> None:
        del self.buf[size:]

    def close(self) -> None:
        self.store.locked.discard(self.ref)


class DictContentStore:
    """TEST DOUBLE of pyctrd.core.content.ContentStore (only what the differ uses)."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.labels: dict[str, dict[str, str]] = {}
        self.ingests: dict[str, bytearray] = {}
        self.locked: set[str] = set()

    def __repr__(self) -> str:
        return f"<DictContentStore (test double) {len(self.blobs)} blobs>"

    def add(self, data: bytes, labels: dict[str, str] | None = None) -> str:
        d = "sha256:" + hashlib.sha256(data).hexdigest()
        self.blobs[d], self.labels[d] = data, dict(labels or {})
        return d

    def reader_at(self, digest: str) -> DictReaderAt:
        if digest not in self.blobs:
            raise NotFound(f"content digest {digest}")
        return DictReaderAt(self.blobs[digest])

    def writer(self, ref: str, total: int = 0, expected: str = "") -> DictWriter:
        if ref in self.locked:
            raise Unavailable(f"ref {ref} locked")
        self.locked.add(ref)
        self.ingests.setdefault(ref, bytearray())
        return DictWriter(self, ref)

    def status(self, ref: str) -> Status:
        if ref not in self.ingests:
            raise NotFound(f"ingest {ref}")
        return Status(ref, len(self.ingests[ref]))

    def list_statuses(self, *filters: str) -> list[Status]:
        return [Status(r, len(b)) for r, b in self.ingests.items()]

    def abort(self, ref: str) -> None:
        if self.ingests.pop(ref, None) is None:
            raise NotFound(f"ingest {ref}")
        self.locked.discard(ref)

    def info(self, digest: str) -> Info:
        if digest not in self.blobs:
            raise NotFound(f"content digest {digest}")
        return Info(digest, len(self.blobs[digest]), labels=dict(self.labels[digest]))

    def update(self, info: Info, fieldpaths: Sequence[str] = ()) -> Info:
        if info.digest not in self.blobs:
            raise NotFound(f"content digest {info.digest}")
        if not fieldpaths:
            self.labels[info.digest] = dict(info.labels)
        for fp in fieldpaths:
            key = fp[len("labels."):]
            if key in info.labels:
                self.labels[info.digest][key] = info.labels[key]
            else:
                self.labels[info.digest].pop(key, None)
        return self.info(info.digest)

    def walk(self, *filters: str) -> Iterator[Info]:
        return iter([self.info(d) for d in self.blobs])

    def delete(self, digest: str) -> None:
        if self.blobs.pop(digest, None) is None:
            raise NotFound(f"content digest {digest}")
