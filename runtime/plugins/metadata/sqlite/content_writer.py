"""The writer the namespaced content store hands out (containerd's ``namespacedWriter``).

It wraps a backend writer, with one twist: a *shared* writer (the blob is already on disk,
in another namespace) starts with no backend writer at all and reports the blob as fully
written. Committing it only adds this namespace's record. Should the caller write bytes
anyway, the writer starts a private ingest from byte 0 - the caller is proving it has the
content, which is what the gRPC server does too when a client writes at offset 0.
"""
from __future__ import annotations

from contextlib import ExitStack
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Self

from ....core import digest as digests
from ....core import leases, namespaces
from ....core.content import Status, Writer
from ....errdefs import AlreadyExists, FailedPrecondition, InvalidArgument

if TYPE_CHECKING:
    from .content import NamespacedContentStore

__all__ = ["NamespacedWriter"]

_COPY = 1 << 20


class NamespacedWriter:
    """An open ingest of one namespace (see the module docstring). Use it as a context
    manager, or close it: an unclosed writer keeps its backend ref locked."""

    def __init__(self, store: NamespacedContentStore, namespace: str, lease: str | None, ref: str, bref: str,
                 backend: Writer | None, *, total: int, expected: str, started: datetime) -> None:
        self._store, self.namespace, self.lease, self.ref, self.bref = store, namespace, lease, ref, bref
        self._w, self._total, self._expected, self._started = backend, total, expected, started
        self._closed = False

    @property
    def shared(self) -> bool:
        """True while the writer stands for a blob stored already (no bytes of its own)."""
        return self._w is None

    def _check_open(self) -> None:
        if self._closed:
            raise FailedPrecondition(f"writer {self.ref} is closed")

    def _private(self, keep: int) -> Writer:
        """Start this namespace's own ingest, keeping the shared blob's first ``keep`` bytes."""
        w = self._store.backend.writer(self.bref, 0, "")
        try:
            w.truncate(0)
            if keep:
                r = self._store.backend.reader_at(self._expected)
                try:
                    for off in range(0, keep, _COPY):
                        w.write(r.read_at(off, min(_COPY, keep - off)))
                finally:
                    r.close()
        except BaseException:
            w.close()
            raise
        self._w = w
        return w

    def write(self, data: bytes) -> int:
        """Append ``data`` (on a shared writer: start over privately with it).

        Raises:
            FailedPrecondition: closed or committed.
        """
        self._check_open()
        if self._w is None:
            if not data:
                return 0
            self._private(0)
        assert self._w is not None
        return self._w.write(data)

    def digest(self) -> str:
        return self._w.digest() if self._w is not None else self._expected

    def status(self) -> Status:
        if self._w is not None:
            st = self._w.status()
            st.ref, st.expected = self.ref, self._expected
            return st
        return Status(self.ref, self._total, self._total, self._expected, self._started, self._started)

    def truncate(self, size: int) -> None:
        """Cut back to ``size`` bytes (a shared writer copies that much of the blob).

        Raises:
            InvalidArgument: ``size`` is negative or past the end.
            FailedPrecondition: closed.
        """
        self._check_open()
        if self._w is not None:
            self._w.truncate(size)
        elif not 0 <= size <= self._total:
            raise InvalidArgument(f"truncate {self.ref} to {size}: offset is {self._total}")
        else:
            self._private(size)

    def commit(self, size: int, expected: str = "", labels: dict[str, str] | None = None) -> None:
        """Verify, move the bytes into the backend (if any), add this namespace's record.

        The record joins the lease that was current when the writer was opened. Bad
        arguments are refused first and leave the writer open; otherwise it is closed.

        Raises:
            InvalidArgument: malformed ``expected`` or bad labels.
            FailedPrecondition: closed; size or digest mismatch (the ingest is kept).
            AlreadyExists: this namespace has the blob already (the ingest is retired).
        """
        from .content import check_labels

        if expected:
            digests.validate(expected)
        labels = dict(labels or {})
        check_labels(labels)
        self._check_open()
        self._closed = True
        with ExitStack() as stack:
            stack.enter_context(namespaces.namespace(self.namespace))
            if self.lease:
                stack.enter_context(leases.lease(self.lease))
            with self._store.db.update() as c:
                size, actual = self._verify_and_install(size, expected)
                created = self._store._commit_record(c, self.namespace, self.ref, actual, size, labels)
        if not created:
            raise AlreadyExists(f"content {actual}")

    def _verify_and_install(self, size: int, expected: str) -> tuple[int, str]:
        if self._w is None:
            if size and size != self._total:
                raise FailedPrecondition(f"unexpected commit size {self._total}, expected {size}")
            if expected and expected != self._expected:
                raise FailedPrecondition(f"unexpected commit digest {self._expected}, expected {expected}")
            return self._total, self._expected
        offset = self._w.status().offset
        if size and size != offset:
            self._w.close()
            raise FailedPrecondition(f"unexpected commit size {offset}, expected {size}")
        try:
            self._w.commit(offset, expected)
        except AlreadyExists:  # the bytes are there already (another ref, another namespace)
            pass
        return offset, self._w.digest()

    def close(self) -> None:
        """Release the backend ref without committing (the ingest stays). Never raises."""
        self._closed = True
        if self._w is not None:
            self._w.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        st = self.status()
        state = " shared" if self.shared else ""
        return f"<NamespacedWriter {self.namespace}/{self.ref} offset={st.offset}/{st.total or '?'}{state}>"
