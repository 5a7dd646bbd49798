"""The two handles the local store gives out: :class:`LocalWriter` (an open ingest) and
:class:`BlobReader` (random access to a committed blob)."""
from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

from ....core import digest as digests
from ....core.content import Status, validate_labels
from ....errdefs import FailedPrecondition, InvalidArgument, map_exceptions
from .files import format_time, write_atomic

if TYPE_CHECKING:
    from .store import LocalStore

__all__ = ["BlobReader", "LocalWriter", "rehash"]

_CHUNK = 1 << 20


def rehash(fd: int, limit: int | None = None) -> tuple[hashlib._Hash, int]:
    """sha256 of the first ``limit`` bytes of ``fd`` (all of it when None), and how many were read.

    This is how a resumed ingest learns its offset and digest: Python's hashes cannot be
    saved, so the bytes already on disk are hashed again (containerd does the same).
    """
    h, pos = hashlib.sha256(), 0
    while limit is None or pos < limit:
        chunk = os.pread(fd, _CHUNK if limit is None else min(_CHUNK, limit - pos), pos)
        if not chunk:
            break
        h.update(chunk)
        pos += len(chunk)
    return h, pos


class LocalWriter:
    """An open ingest of a :class:`~.store.LocalStore`; holds the ref's lock until closed.

    Every ``write`` goes straight to ``ingest/<hash>/data`` (no buffering), so the ingest's
    ``status().offset`` seen from elsewhere is what is on disk. Use it as a context manager
    to be sure the lock is released; after ``commit`` (success or not) it is closed.
    """

    def __init__(self, store: LocalStore, ref: str, path: Path, fd: int | None, *, offset: int, total: int,
                 hasher: hashlib._Hash, started_at: datetime, updated_at: datetime, expected: str = "") -> None:
        self._store, self.ref, self.path, self._fd = store, ref, path, fd
        self._offset, self._total, self._hasher = offset, total, hasher
        self._started_at, self._updated_at, self._expected = started_at, updated_at, expected

    @property
    def closed(self) -> bool:
        return self._fd is None

    def _open_fd(self) -> int:
        if self._fd is None:
            raise FailedPrecondition(f"writer {self.ref} is closed")
        return self._fd

    def write(self, data: bytes) -> int:
        """Append ``data``; returns its length.

        Raises:
            FailedPrecondition: the writer is closed or committed.
        """
        fd, view = self._open_fd(), memoryview(data)
        with map_exceptions(f"ingest {self.ref}"):
            while view:
                n = os.write(fd, view)
                self._hasher.update(view[:n])
                self._offset += n
                view = view[n:]
        self._updated_at = self._store.clock()
        return len(data)

    def digest(self) -> str:
        return f"{digests.ALGORITHM}:{self._hasher.hexdigest()}"

    def status(self) -> Status:
        return Status(self.ref, self._offset, self._total, self._expected, self._started_at, self._updated_at)

    def commit(self, size: int, expected: str = "", labels: dict[str, str] | None = None) -> None:
        """Verify size (when > 0) and digest (when given), then move the data into ``blobs/``.

        Bad arguments (malformed digest, oversized label) are refused before anything happens
        and the writer stays open. Otherwise the writer is closed and the lock released,
        whatever the outcome; after a mismatch the ingest is still there to resume.

        Raises:
            InvalidArgument: ``expected`` is not a digest or a label is too large.
            FailedPrecondition: closed writer, or size or digest differ (nothing committed).
            AlreadyExists: the blob exists already (the ingest is removed).
        """
        if expected:
            digests.validate(expected)
        validate_labels(labels or {})
        fd = self._open_fd()
        self._fd = None
        try:
            with map_exceptions(f"ingest {self.ref}"):
                try:
                    os.fsync(fd)
                    st = os.fstat(fd)
                finally:
                    os.close(fd)
            if size > 0 and size != st.st_size:
                raise FailedPrecondition(f"unexpected commit size {st.st_size}, expected {size}")
            actual = self.digest()
            if expected and expected != actual:
                raise FailedPrecondition(f"unexpected commit digest {actual}, expected {expected}")
            self._store._install(self.path, actual, labels, stat.S_IMODE(st.st_mode))
        finally:
            self._store._unlock(self.ref)

    def truncate(self, size: int) -> None:
        """Cut the ingest back to ``size`` bytes (``0`` restarts it) and re-hash what stays.

        Raises:
            InvalidArgument: ``size`` is negative or beyond the current offset.
            FailedPrecondition: the writer is closed.
        """
        fd = self._open_fd()
        if not 0 <= size <= self._offset:
            raise InvalidArgument(f"truncate {self.ref} to {size}: offset is {self._offset}")
        with map_exceptions(f"ingest {self.ref}"):
            self._hasher, self._offset = rehash(fd, size)
            os.ftruncate(fd, size)
            os.lseek(fd, size, os.SEEK_SET)
        self._updated_at = self._store.clock()

    def close(self) -> None:
        """Keep the ingest for later and release the lock (a second close does nothing)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            with map_exceptions(f"ingest {self.ref}"):
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            # advisory (containerd ignores this error too): the ingest may have been aborted
            with contextlib.suppress(Exception):
                write_atomic(self.path / "updatedat", format_time(self._updated_at))
        finally:
            self._store._unlock(self.ref)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __del__(self) -> None:
        # A dropped writer (a client that vanished) must not keep its ref locked forever.
        if getattr(self, "_fd", None) is not None:
            with contextlib.suppress(Exception):  # never raise from a finaliser
                self.close()

    def __repr__(self) -> str:
        ref = self.ref if len(self.ref) <= 40 else self.ref[:39] + "…"
        closed = " closed" if self.closed else ""
        return f"<Writer ref={ref} offset={self._offset}/{self._total or '?'}{closed}>"


class BlobReader:
    """Random access to one committed blob (an open file descriptor; close it when done)."""

    def __init__(self, digest: str, path: Path) -> None:
        self.digest = digest
        with map_exceptions(f"content {digest}"):
            self._fd: int | None = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            self._size = os.fstat(self._fd).st_size

    @property
    def size(self) -> int:
        return self._size

    def read_at(self, offset: int, n: int) -> bytes:
        """Up to ``n`` bytes at ``offset``: fewer only at the end, ``b""`` past it.

        Raises:
            InvalidArgument: negative offset or length.
            FailedPrecondition: the reader is closed.
        """
        if offset < 0 or n < 0:
            raise InvalidArgument(f"read_at({offset}, {n}) on content {self.digest}")
        if self._fd is None:
            raise FailedPrecondition(f"reader of {self.digest} is closed")
        parts, want = [], min(n, max(self._size - offset, 0))
        with map_exceptions(f"content {self.digest}"):
            while want > 0:
                chunk = os.pread(self._fd, want, offset)
                if not chunk:
                    break
                parts.append(chunk)
                offset, want = offset + len(chunk), want - len(chunk)
        return b"".join(parts)

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None:
            self.close()

    def __repr__(self) -> str:
        return f"<BlobReader {self.digest[:19]}… {self._size}B>"
