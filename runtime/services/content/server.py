"""The gRPC content servicer (``containerd.services.content.v1.Content``), as containerd serves it.

Reads and writes are streams. ``Read`` sends the blob in 1 MiB messages from ``offset``
(``size`` 0: to the end). ``Write`` is a conversation about one ingest - every request
gets a response carrying the ingest's offset:

1. the first request names the ``ref`` (plus the ``total`` and ``expected`` digest if
   known); the writer opened for it stays locked for the whole stream;
2. ``STAT`` asks where the ingest stands (offset, total, digest so far, times);
3. ``WRITE`` appends ``data`` at ``offset`` - which must be the current offset, or 0 to
   start over (how a client resumes or restarts);
4. ``COMMIT`` (optionally with the last data and labels) verifies size and digest and
   makes the blob; the stream ends there.

A request carrying an ``expected`` digest that this namespace already has ends the stream
with ALREADY_EXISTS (after aborting the ingest) - that is how ``ctr images pull`` skips
what it has. When the stream ends in any way, the writer is closed and its lock released
before the client hears about it.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from google.protobuf import empty_pb2

from ..._api.containerd.api.services.content.v1 import content_pb2 as pb
from ..._api.containerd.api.services.content.v1 import content_pb2_grpc as pb_grpc
from ...core import digest as digests
from ...core.content import ContentStore, Info, Status
from ...errdefs import AlreadyExists, InvalidArgument, NotFound
from ..base import from_timestamp, run, servicer, to_timestamp

__all__ = ["ContentServicer", "info_from_proto", "info_to_proto", "status_to_proto"]

READ_CHUNK = 1 << 20
LIST_BLOCK = 100


def info_to_proto(i: Info) -> pb.Info:
    return pb.Info(digest=i.digest, size=i.size, created_at=to_timestamp(i.created_at),
                   updated_at=to_timestamp(i.updated_at), labels=i.labels)


def info_from_proto(i: pb.Info) -> Info:
    return Info(i.digest, i.size, from_timestamp(i.created_at), from_timestamp(i.updated_at), dict(i.labels))


def status_to_proto(s: Status) -> pb.Status:
    return pb.Status(ref=s.ref, offset=s.offset, total=s.total, expected=s.expected,
                     started_at=to_timestamp(s.started_at), updated_at=to_timestamp(s.updated_at))


def _valid(digest: str) -> str:
    try:
        return digests.validate(digest)
    except Exception:
        raise InvalidArgument(f'"{digest}" failed validation') from None


@servicer
class ContentServicer(pb_grpc.ContentServicer):
    def __init__(self, store: ContentStore) -> None:
        self.store = store

    def register(self, server: Any) -> None:
        pb_grpc.add_ContentServicer_to_server(self, server)

    async def Info(self, request: pb.InfoRequest, context: Any) -> pb.InfoResponse:
        return pb.InfoResponse(info=info_to_proto(await run(self.store.info, _valid(request.digest))))

    async def Update(self, request: pb.UpdateRequest, context: Any) -> pb.UpdateResponse:
        _valid(request.info.digest)
        info = await run(self.store.update, info_from_proto(request.info), list(request.update_mask.paths))
        return pb.UpdateResponse(info=info_to_proto(info))

    async def List(self, request: pb.ListContentRequest, context: Any) -> AsyncIterator[pb.ListContentResponse]:
        infos = await run(lambda: list(self.store.walk(*request.filters)))
        for i in range(0, len(infos), LIST_BLOCK):
            yield pb.ListContentResponse(info=[info_to_proto(x) for x in infos[i:i + LIST_BLOCK]])

    async def Delete(self, request: pb.DeleteContentRequest, context: Any) -> empty_pb2.Empty:
        await run(self.store.delete, _valid(request.digest))
        return empty_pb2.Empty()

    async def Read(self, request: pb.ReadContentRequest, context: Any) -> AsyncIterator[pb.ReadContentResponse]:
        info = await run(self.store.info, _valid(request.digest))
        offset, size = max(request.offset, 0), request.size
        if offset > info.size:
            raise InvalidArgument(f"read past object length {info.size} bytes")
        if size <= 0 or offset + size > info.size:
            size = info.size - offset
        reader = await run(self.store.reader_at, request.digest)
        try:
            end = offset + size
            while offset < end:
                data = await run(reader.read_at, offset, min(READ_CHUNK, end - offset))
                if not data:
                    break
                yield pb.ReadContentResponse(offset=offset, data=data)
                offset += len(data)
        finally:
            reader.close()

    async def Status(self, request: pb.StatusRequest, context: Any) -> pb.StatusResponse:
        return pb.StatusResponse(status=status_to_proto(await run(self.store.status, request.ref)))

    async def ListStatuses(self, request: pb.ListStatusesRequest, context: Any) -> pb.ListStatusesResponse:
        statuses = await run(self.store.list_statuses, *request.filters)
        return pb.ListStatusesResponse(statuses=[status_to_proto(s) for s in statuses])

    async def Abort(self, request: pb.AbortRequest, context: Any) -> empty_pb2.Empty:
        await run(self.store.abort, request.ref)
        return empty_pb2.Empty()

    async def Write(self, requests: AsyncIterator[pb.WriteContentRequest],
                    context: Any) -> AsyncIterator[pb.WriteContentResponse]:
        it = aiter(requests)
        req = await anext(it, None)
        if req is None:
            return
        ref, total, expected = req.ref, req.total, req.expected
        if not ref:
            raise InvalidArgument("first message must have a reference")
        wr = await run(self.store.writer, ref, total, expected)
        try:
            while True:
                ws = await run(wr.status)
                msg = pb.WriteContentResponse(action=req.action, offset=ws.offset)
                if req.expected:
                    expected = req.expected
                    if await run(self._has, expected):
                        wr.close()
                        try:
                            await run(self.store.abort, ref)
                        except NotFound:
                            pass
                        raise AlreadyExists(f"blob with expected digest {expected} exists")
                if req.total > 0:
                    total = req.total
                if req.action == pb.STAT:
                    msg.digest, msg.total = wr.digest(), total
                    msg.started_at.CopyFrom(to_timestamp(ws.started_at))
                    msg.updated_at.CopyFrom(to_timestamp(ws.updated_at))
                else:  # WRITE or COMMIT
                    if req.offset > 0 and req.offset != ws.offset:
                        raise InvalidArgument(f"write @{req.offset} must occur at current offset {ws.offset}")
                    if req.offset == 0 and ws.offset > 0:
                        await run(wr.truncate, 0)
                        msg.offset = 0
                    if req.data:
                        await run(wr.write, req.data)
                        # what the ingest really holds (a shared writer restarts privately on a write)
                        msg.offset = wr.status().offset
                    if req.action == pb.COMMIT:
                        await run(wr.commit, total, expected, dict(req.labels) or None)
                    msg.digest = wr.digest()
                yield msg
                if req.action == pb.COMMIT:
                    return
                req = await anext(it, None)
                if req is None:
                    return
        finally:
            wr.close()  # synchronously: the lock must be free before the client hears back

    def _has(self, digest: str) -> bool:
        try:
            self.store.info(digest)
        except NotFound:
            return False
        return True
