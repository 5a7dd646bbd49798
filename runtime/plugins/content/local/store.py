"""containerd's local content store, on disk exactly as containerd lays it out.

Two directories under the store's root tell the whole story::

    <root>/blobs/sha256/<hex>            committed blobs, read-only, named by their digest
    <root>/ingest/<sha256(ref) hex>/     one directory per write in progress:
        ref                              the client's name for it, e.g. "layer-sha256:…"
        data                             the bytes received so far (its size is the offset)
        startedat, updatedat             Go's RFC 3339 text, e.g. 2024-05-01T12:00:00.25Z
        total                            the expected size in decimal, when the client said

**Blobs** are immutable: bytes go in once and are addressed by what they are. **Ingests**
are how bytes get there: a client picks a *ref*, writes (possibly across several
connections and even daemon restarts: the data file *is* the progress), and finally
*commits*. Commit checks the size and digest, fsyncs, and renames ``data`` into
``blobs/`` - a rename is atomic, so a reader sees a whole blob or none. The ingest's
directory is named by the hash of the ref so that any ref (slashes, spaces, any length)
gives a safe fixed-length name.

>>> import tempfile
>>> tmp = tempfile.TemporaryDirectory()
>>> store = LocalStore(tmp.name)
>>> with store.writer("hello-ref", total=5) as w:
...     _ = w.write(b"hello")
...     w.commit(5, "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
>>> store.info("sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
<Info sha256:2cf24dba5fb0 5B>
>>> store.blob_path("sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824").read_bytes()
b'hello'
>>> tmp.cleanup()
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from ....core import digest as digests
from ....core.content import Info, Status, adapt_info, adapt_status, validate_labels
from ....core.filters import Filter, parse_all
from ....errdefs import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
    map_exceptions,
)
from .files import LabelFiles, format_time, parse_time, read_text, write_atomic
from .writer import BlobReader, LocalWriter, rehash

__all__ = ["LocalStore"]

_HEX = re.compile(r"^[a-f0-9]{64}$")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class LocalStore:
    """A :class:`~pyctrd.core.content.ContentStore` in a directory (see the module docstring).

    Args:
        root: the store's directory (the plugin passes ``<root>/io.containerd.content.v1.content``).
        clock: where times come from (tests inject one); timezone-aware UTC.

    One writer per ref: the lock table lives in this object, the way containerd keeps it in
    its process. Another ``LocalStore`` on the same root is therefore like the daemon after
    a restart: it resumes ingests from what is on disk. All methods are thread-safe.
    Labels live in a sidecar (``<root>/labels/``) made only when a label is set.
    """

    def __init__(self, root: Path | str, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self.root = Path(root)
        self.clock = clock
        with map_exceptions(str(self.root)):
            (self.root / "ingest").mkdir(parents=True, exist_ok=True)
        self._labels = LabelFiles(self.root / "labels")
        self._locks: dict[str, datetime] = {}  # ref -> since
        self._locks_mu = threading.Lock()
        self._blobs_mu = threading.RLock()  # commit's exists-then-rename, labels, delete

    # -- paths -----------------------------------------------------------------------------
    def blob_path(self, digest: str) -> Path:
        """``<root>/blobs/sha256/<hex>``. Raises InvalidArgument for a malformed digest."""
        return self.root / "blobs" / digests.ALGORITHM / digests.hex_of(digest)

    def ingest_path(self, ref: str) -> Path:
        """``<root>/ingest/<sha256 of the ref>``: fixed length, whatever the ref contains."""
        return self.root / "ingest" / hashlib.sha256(ref.encode()).hexdigest()

    # -- Provider and Manager: blobs -----------------------------------------------------
    def reader_at(self, digest: str) -> BlobReader:
        """Raises InvalidArgument (malformed digest) or NotFound."""
        return BlobReader(digest, self.blob_path(digest))

    def info(self, digest: str) -> Info:
        """Size, created (commit time: mtime), updated (last update: atime) and labels.

        Raises:
            InvalidArgument: malformed digest.
            NotFound: no such blob.
        """
        path = self.blob_path(digest)
        with map_exceptions(f"content {digest}"):
            st = path.stat()
        return Info(digest, st.st_size, _utc(st.st_mtime), _utc(st.st_atime), self._labels.get(digest))

    def update(self, info: Info, fieldpaths: Sequence[str] = ()) -> Info:
        """Replace all labels (no fieldpaths, or ``labels``) or only ``labels.<key>`` ones.

        A key whose new value is empty or absent from ``info.labels`` is removed.

        Raises:
            InvalidArgument: malformed digest, a fieldpath other than labels, a label too large.
            NotFound: no such blob.
        """
        path, replace_all, given = self.blob_path(info.digest), not fieldpaths, {}
        for fp in fieldpaths:
            if fp == "labels":
                replace_all = True
            elif fp.startswith("labels."):
                key = fp[len("labels."):]
                given[key] = info.labels.get(key, "")
            else:
                raise InvalidArgument(f'cannot update "{fp}" field on content info "{info.digest}"')
        if replace_all:
            given = dict(info.labels)
        validate_labels(given)
        with self._blobs_mu, map_exceptions(f"content {info.digest}"):
            st = path.stat()
            labels = {} if replace_all else self._labels.get(info.digest)
            labels.update(given)
            labels = {k: v for k, v in labels.items() if v}
            self._labels.set(info.digest, labels)
            now = self.clock()
            os.utime(path, (now.timestamp(), st.st_mtime))  # containerd: atime carries "updated"
        return Info(info.digest, st.st_size, _utc(st.st_mtime), now, labels)

    def walk(self, *filters: str) -> Iterator[Info]:
        """Every blob matching any of ``filters`` (fields ``digest``, ``size``, ``labels.<key>``).

        Raises:
            InvalidArgument: a filter does not parse (raised here, before iterating).
        """
        return self._walk(parse_all(filters))

    def _walk(self, match: Filter) -> Iterator[Info]:
        try:
            names = sorted(os.listdir(self.root / "blobs" / digests.ALGORITHM))
        except FileNotFoundError:
            return
        for name in filter(_HEX.fullmatch, names):
            try:
                info = self.info(f"{digests.ALGORITHM}:{name}")
            except NotFound:  # deleted while we walk
                continue
            if match.match(adapt_info(info)):
                yield info

    def delete(self, digest: str) -> None:
        """Remove a blob and its labels. Raises InvalidArgument or NotFound."""
        path = self.blob_path(digest)
        with self._blobs_mu, map_exceptions(f"content {digest}"):
            path.unlink()
            self._labels.set(digest, {})

    # -- Ingester and IngestManager: ingests ---------------------------------------------
    def writer(self, ref: str, total: int = 0, expected: str = "") -> LocalWriter:
        """Open the ingest ``ref``, or resume it where its data file ends.

        Raises:
            InvalidArgument: empty ref, negative total or malformed ``expected``.
            Unavailable: another writer holds the ref (``ref <ref> locked``).
            AlreadyExists: ``expected`` is committed already.
            FailedPrecondition: ``total`` differs from the one the ingest was started with.
        """
        if not ref:
            raise InvalidArgument("ref must not be empty")
        if total < 0:
            raise InvalidArgument(f"ingest {ref}: negative total {total}")
        if expected:
            digests.validate(expected)
        self._lock(ref)
        try:
            if expected and self.blob_path(expected).exists():
                raise AlreadyExists(f"content {expected}")
            return self._open_writer(ref, total, expected)
        except BaseException:
            self._unlock(ref)
            raise

    def _open_writer(self, ref: str, total: int, expected: str) -> LocalWriter:
        path = self.ingest_path(ref)
        with map_exceptions(f"ingest {ref}"):
            path.mkdir(mode=0o755, exist_ok=True)
            resumed = self._resumable(path, ref, total)
            if resumed is None:  # new (or metadata never finished): set the ingest up
                now = self.clock()
                resumed = Status(ref, 0, 0, started_at=now, updated_at=now)
                # fsync'd as containerd's: the timestamps (writeToCompletion, O_SYNC), not ref
                # and total (os.WriteFile) - an fsync of a new file costs ~2-6 ms here, per blob
                write_atomic(path / "ref", ref, sync=False)
                write_atomic(path / "startedat", format_time(now))
                write_atomic(path / "updatedat", format_time(now))
            if total and not resumed.total:
                write_atomic(path / "total", str(total), sync=False)
                resumed.total = total
            fd = os.open(path / "data", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            try:
                hasher, offset = rehash(fd)  # re-hash what an earlier writer left
                os.lseek(fd, offset, os.SEEK_SET)
            except BaseException:
                os.close(fd)
                raise
        return LocalWriter(self, ref, path, fd, offset=offset, total=resumed.total, hasher=hasher,
                           started_at=resumed.started_at or self.clock(),
                           updated_at=resumed.updated_at or self.clock(),
                           expected=expected)

    def _resumable(self, path: Path, ref: str, total: int) -> Status | None:
        try:
            st = self._read_status(path)
        except (NotFound, InvalidArgument):
            if (path / "data").exists() and (path / "data").stat().st_size:
                raise FailedPrecondition(f"ingest {ref}: data without readable metadata in {path}") from None
            return None
        if st.ref != ref:
            raise FailedPrecondition(f"ingest {path.name} holds ref {st.ref!r}, not {ref!r}")
        if total and st.total and total != st.total:
            raise FailedPrecondition(f"ingest {ref}: total {total} differs from the ingest's {st.total}")
        return st

    def status(self, ref: str) -> Status:
        """The ingest's progress as it is on disk. Raises NotFound for an unknown ref."""
        try:
            return self._read_status(self.ingest_path(ref))
        except NotFound:
            raise NotFound(f'ingest ref "{ref}"') from None

    def list_statuses(self, *filters: str) -> list[Status]:
        """Every ingest matching any of ``filters`` (field ``ref``), sorted by ref.

        Raises:
            InvalidArgument: a filter does not parse.
        """
        match = parse_all(filters)
        found = []
        with map_exceptions(str(self.root / "ingest")):
            names = os.listdir(self.root / "ingest")
        for name in names:
            if not (self.root / "ingest" / name).is_dir():
                continue
            try:
                st = self._read_status(self.root / "ingest" / name)
            except NotFound:  # committed or aborted meanwhile, or not set up yet
                continue
            if match.match(adapt_status(st)):
                found.append(st)
        return sorted(found, key=lambda s: s.ref)

    def abort(self, ref: str) -> None:
        """Remove the ingest ``ref`` with its data. Raises NotFound for an unknown ref."""
        path = self.ingest_path(ref)
        if not path.is_dir():
            raise NotFound(f'ingest ref "{ref}"')
        with map_exceptions(f"ingest {ref}"):
            shutil.rmtree(path)

    def _read_status(self, path: Path) -> Status:
        with map_exceptions(f"ingest {path.name}"):
            data = (path / "data").stat()
        ref = read_text(path / "ref")
        started, updated = parse_time(read_text(path / "startedat")), parse_time(read_text(path / "updatedat"))
        # updatedat is written on close only; the data file's mtime may be newer.
        updated = max(updated, _utc(data.st_mtime))
        try:
            total = int(read_text(path / "total"))
        except (NotFound, ValueError):
            total = 0
        return Status(ref, data.st_size, total, "", started, updated)

    # -- what writers call back -------------------------------------------------------
    def _lock(self, ref: str) -> None:
        with self._locks_mu:
            if ref in self._locks:
                raise Unavailable(f"ref {ref} locked")
            self._locks[ref] = self.clock()

    def _unlock(self, ref: str) -> None:
        with self._locks_mu:
            self._locks.pop(ref, None)

    def _install(self, ingest: Path, digest: str, labels: dict[str, str] | None, mode: int) -> None:
        """Move a verified ingest's data to its blob path (the writer holds the ref lock)."""
        target = self.blob_path(digest)
        with self._blobs_mu, map_exceptions(f"content {digest}"):
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                shutil.rmtree(ingest, ignore_errors=True)
                raise AlreadyExists(f"content {digest}")
            os.rename(ingest / "data", target)
            dirfd = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dirfd)  # the rename itself survives a power cut
            finally:
                os.close(dirfd)
            now = self.clock().timestamp()
            os.utime(target, (now, now))
            os.chmod(target, mode & ~0o333)  # read-only from now on
            shutil.rmtree(ingest, ignore_errors=True)
            if labels:
                self._labels.set(digest, labels)

    def __repr__(self) -> str:
        blobs = self.root / "blobs" / digests.ALGORITHM
        n_blobs = len([n for n in os.listdir(blobs) if _HEX.fullmatch(n)]) if blobs.is_dir() else 0
        ingest = self.root / "ingest"
        n_ingests = len(os.listdir(ingest)) if ingest.is_dir() else 0
        return f"<LocalStore {self.root} blobs={n_blobs} ingests={n_ingests}>"
