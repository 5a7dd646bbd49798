"""The content store over gRPC: a :class:`~pyctrd.core.content.ContentStore` that lives in a daemon.

This is containerd's ``content/proxy``: the same interface the local store implements, so
code (and the contract suite) cannot tell the difference. Reading is a ``Read`` stream per
``read_at``; writing is one ``Write`` stream per writer, a request/response conversation:

>>> # w = client.content.writer("layer-1", total=5)   # STAT: where does the ingest stand?
>>> # w.write(b"hello")                               # WRITE at the current offset
>>> # w.commit(5, "sha256:2cf2…")                     # COMMIT: verify and make the blob

Closing a writer (or committing) waits until the daemon has ended the stream, so the ref's
lock is free when ``close()`` returns.
"""
from __future__ import annotations

import contextlib
import queue
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from google.protobuf import field_mask_pb2, timestamp_pb2

from .._api.containerd.api.services.content.v1 import content_pb2 as pb
from .._api.containerd.api.services.content.v1 import content_pb2_grpc as pb_grpc
from ..core import digest as digests
from ..core.content import Info, Status, validate_labels
from ..errdefs import FailedPrecondition, InvalidArgument, PyctrdError, Unavailable
from .connection import Connection

__all__ = ["ContentProxy", "RemoteReader", "RemoteWriter"]

CHUNK = 1 << 20
_END = object()


def _time(ts: timestamp_pb2.Timestamp) -> datetime | None:
    return ts.ToDatetime(tzinfo=UTC) if (ts.seconds or ts.nanos) else None


def _ts(dt: datetime | None) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    if dt is not None:
        ts.FromDatetime(dt.astimezone(UTC).replace(tzinfo=None))
    return ts


def _info(i: pb.Info) -> Info:
    return Info(i.digest, i.size, _time(i.created_at), _time(i.updated_at), dict(i.labels))


def _status(s: pb.Status) -> Status:
    return Status(s.ref, s.offset, s.total, s.expected, _time(s.started_at), _time(s.updated_at))


class ContentProxy:
    """A ContentStore in the daemon, in the connection's namespace (and lease)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._stub = conn.stub(pb_grpc.ContentStub, streaming=("List", "Read", "Write"))

    def __repr__(self) -> str:
        return f"<ContentProxy {self._conn.address} ns={self._conn.namespace}>"

    def info(self, digest: str) -> Info:
        return _info(self._stub.Info(pb.InfoRequest(digest=digest)).info)

    def update(self, info: Info, fieldpaths: Sequence[str] = ()) -> Info:
        req = pb.UpdateRequest(info=pb.Info(digest=info.digest, size=info.size, labels=info.labels),
                               update_mask=field_mask_pb2.FieldMask(paths=list(fieldpaths)))
        return _info(self._stub.Update(req).info)

    def walk(self, *filters: str) -> Iterator[Info]:
        for resp in self._stub.List(pb.ListContentRequest(filters=list(filters))):
            yield from map(_info, resp.info)

    def delete(self, digest: str) -> None:
        self._stub.Delete(pb.DeleteContentRequest(digest=digest))

    def reader_at(self, digest: str) -> RemoteReader:
        return RemoteReader(self._stub, digest, self.info(digest).size)

    def status(self, ref: str) -> Status:
        return _status(self._stub.Status(pb.StatusRequest(ref=ref)).status)

    def list_statuses(self, *filters: str) -> list[Status]:
        return [_status(s) for s in self._stub.ListStatuses(pb.ListStatusesRequest(filters=list(filters))).statuses]

    def abort(self, ref: str) -> None:
        self._stub.Abort(pb.AbortRequest(ref=ref))

    def writer(self, ref: str, total: int = 0, expected: str = "") -> RemoteWriter:
        """Open a Write stream and ask where the ingest stands (see the Protocol for errors)."""
        if not ref:
            raise InvalidArgument("ref must not be empty")
        return RemoteWriter(self._stub, ref, total, expected)


class RemoteReader:
    """Random access to a blob in the daemon: each ``read_at`` is one ``Read`` stream."""

    def __init__(self, stub: Any, digest: str, size: int) -> None:
        self._stub, self.digest, self._size, self._closed = stub, digest, size, False

    @property
    def size(self) -> int:
        return self._size

    def read_at(self, offset: int, n: int) -> bytes:
        if offset < 0 or n < 0:
            raise InvalidArgument(f"read_at({offset}, {n}) on content {self.digest}")
        if self._closed:
            raise FailedPrecondition(f"reader of {self.digest} is closed")
        n = min(n, self._size - offset)
        if n <= 0:  # size 0 would mean "to the end" to the server
            return b""
        return b"".join(r.data for r in self._stub.Read(pb.ReadContentRequest(digest=self.digest, offset=offset,
                                                                              size=n)))

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<RemoteReader {self.digest[:19]}… {self._size}B>"


class RemoteWriter:
    """One ``Write`` stream (see the module docstring). Requests go through a queue that the
    gRPC call drains; each one is answered before the next is sent."""

    def __init__(self, stub: Any, ref: str, total: int, expected: str) -> None:
        self.ref, self._total, self._expected = ref, total, expected
        self._requests: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._responses = stub.Write(iter(self._requests.get, _END))
        self._open, self._offset, self._digest = True, 0, ""
        resp = self._send(pb.WriteContentRequest(action=pb.STAT, ref=ref, total=total, expected=expected))
        self._offset = resp.offset

    def _send(self, req: pb.WriteContentRequest) -> pb.WriteContentResponse:
        if not self._open:
            raise FailedPrecondition(f"writer {self.ref} is closed")
        self._requests.put(req)
        try:
            resp = next(self._responses)
        except StopIteration:
            self._finish()
            raise Unavailable(f"write stream for {self.ref} ended") from None
        except PyctrdError:
            self._finish()
            raise
        if resp.digest:
            self._digest = resp.digest
        return resp  # type: ignore[no-any-return]

    def _finish(self) -> None:
        """End the stream and wait until the daemon has (its writer is closed then)."""
        if not self._open:
            return
        self._open = False
        self._requests.put(_END)
        try:
            with contextlib.suppress(Exception):  # a dead stream (daemon gone) is closed enough
                for _ in self._responses:
                    pass
        finally:
            self._responses.close()

    def write(self, data: bytes) -> int:
        """Append ``data`` (sent in 1 MiB messages). Raises FailedPrecondition when closed."""
        view = memoryview(data)
        for i in range(0, len(view), CHUNK) if view else ():
            resp = self._send(pb.WriteContentRequest(action=pb.WRITE, offset=self._offset,
                                                     data=bytes(view[i:i + CHUNK])))
            self._offset = resp.offset  # the daemon says where the ingest stands now
        return len(data)

    def digest(self) -> str:
        return self._digest

    def status(self) -> Status:
        resp = self._send(pb.WriteContentRequest(action=pb.STAT))
        return Status(self.ref, resp.offset, resp.total, self._expected, _time(resp.started_at),
                      _time(resp.updated_at))

    def commit(self, size: int, expected: str = "", labels: dict[str, str] | None = None) -> None:
        """COMMIT at the current offset; the writer is closed afterwards, whatever happens.

        Raises:
            FailedPrecondition: size or digest mismatch, or the writer is closed.
            AlreadyExists: the namespace has the blob already.
            InvalidArgument: malformed ``expected``, labels too large.
        """
        if expected:  # refused here, so the writer stays usable (as the Protocol promises)
            digests.validate(expected)
        validate_labels(labels or {})
        try:
            resp = self._send(pb.WriteContentRequest(action=pb.COMMIT, total=size, offset=self._offset,
                                                     expected=expected, labels=labels or {}))
        finally:
            self._finish()
        if size and resp.offset != size:
            raise FailedPrecondition(f"unexpected commit size {resp.offset}, expected {size}")
        if expected and resp.digest != expected:
            raise FailedPrecondition(f"unexpected commit digest {resp.digest}, expected {expected}")
        self._offset, self._digest = resp.offset, resp.digest

    def truncate(self, size: int) -> None:
        """Only ``truncate(0)`` (restart) or the current offset (nothing to do).

        Raises:
            InvalidArgument: any other size (the protocol can only restart an ingest).
        """
        if size == self._offset:
            return
        if size != 0:
            raise InvalidArgument(f"truncate {self.ref} to {size}: only 0 is supported over gRPC")
        self._offset = self._send(pb.WriteContentRequest(action=pb.WRITE, offset=0)).offset

    def close(self) -> None:
        """End the stream without committing (the ingest stays, resumable). Never raises."""
        self._finish()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_open", False):
            with contextlib.suppress(Exception):  # never raise from a finaliser
                self._finish()

    def __repr__(self) -> str:
        closed = "" if self._open else " closed"
        return f"<RemoteWriter ref={self.ref} offset={self._offset}/{self._total or '?'}{closed}>"
