"""Fetching blobs and manifests: streamed, resumed on dropped connections, verified as read.

:meth:`DockerFetcher.fetch` opens the first pull-capable host that has the content (mirrors in
order, then the upstream) and returns a :class:`BlobStream`. The stream

- asks again with ``Range: bytes=<offset>-`` when a connection drops mid-body (at most
  ``max_no_progress`` times in a row without receiving a byte), on the same host first;
- never returns more than the descriptor's size, and fails as soon as the server admits a
  different size;
- hashes what it returns and raises before handing out the last chunk if the digest does not
  match -- so a caller that commits only after reading ``b""`` never commits bad content.
"""
from __future__ import annotations

import hashlib
import logging
from typing import Self

import requests
import urllib3

from ...core.images.mediatypes import is_index_type, is_manifest_type
from ...core.ocispec import Descriptor
from ...errdefs import FailedPrecondition, InvalidArgument, NotFound, PyctrdError, Unavailable
from .base import RepositoryBase
from .hosts import RegistryHost
from .transport import status_error

__all__ = ["BlobStream", "DockerFetcher"]

log = logging.getLogger("pyctrd.remotes")


class BlobStream:
    """A verified, resumable byte stream of one descriptor (see module docs)."""

    def __init__(self, base: RepositoryBase, desc: Descriptor, hosts: list[RegistryHost],
                 offset: int = 0, max_no_progress: int = 3) -> None:
        self.desc = desc
        self.offset = offset
        #: every host that served part of the bytes, in order; ``host`` is the latest
        self.served_by: list[str] = []
        self._base, self._hosts = base, hosts
        self._hash = hashlib.sha256() if offset == 0 else None  # a resumed ingest is verified on commit
        self._resp: requests.Response | None = None
        self._fails, self._max = 0, max_no_progress
        self._closed = False

    @property
    def host(self) -> str:
        return self.served_by[-1] if self.served_by else ""

    def __repr__(self) -> str:
        return f"<BlobStream {self.desc.digest[:19]} {self.offset}/{self.desc.size} from {self.host or '-'}>"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _path(self, host: RegistryHost) -> str:
        mt = self.desc.media_type
        kind = "manifests" if is_manifest_type(mt) or is_index_type(mt) else "blobs"
        return self._base.path(host, kind, self.desc.digest)

    def open(self) -> None:
        """Connect (again) at the current offset, preferring the host that served last.

        Raises:
            NotFound: no host has the content.
            FailedPrecondition | Unavailable | Unknown: the first failure seen, if no host works.
        """
        order = sorted(self._hosts, key=lambda h: h.host != self.host)
        first: PyctrdError | None = None
        for host in order:
            hdrs = {"Accept": f"{self.desc.media_type}, */*"}
            if self.offset:
                hdrs["Range"] = f"bytes={self.offset}-"
            try:
                resp = self._base.transport.request(host, "GET", self._path(host), scopes=self._base.scopes(),
                                                    headers=hdrs, stream=True)
                if resp.status_code > 299:
                    resp.close()
                    raise status_error(resp, f"fetch {self.desc.digest} from {host.host}")
                self._check_length(resp, host)
            except PyctrdError as exc:
                if first is None or (isinstance(first, NotFound) and not isinstance(exc, NotFound)):
                    first = exc
                continue
            self._resp = resp
            if not self.served_by or self.served_by[-1] != host.host:
                self.served_by.append(host.host)
            return
        if isinstance(first, NotFound) or first is None:
            raise NotFound(f"could not fetch content descriptor {self.desc.digest} ({self.desc.media_type}) "
                           "from remote")
        raise first

    def _check_length(self, resp: requests.Response, host: RegistryHost) -> None:
        total = -1
        if resp.status_code == 206:
            cr = resp.headers.get("Content-Range", "")
            if not cr.startswith(f"bytes {self.offset}-"):
                resp.close()
                raise FailedPrecondition(f"unhandled content range {cr!r} from {host.host}")
            total = int(cr.rsplit("/", 1)[1]) if cr.rsplit("/", 1)[-1].isdigit() else -1
        else:
            if "Content-Length" in resp.headers:
                total = int(resp.headers["Content-Length"])
            if self.offset:  # the server ignored Range: skip what we already have
                skipped = resp.raw.read(self.offset, decode_content=True)
                if len(skipped) != self.offset:
                    resp.close()
                    raise Unavailable(f"unable to discard to offset {self.offset} from {host.host}")
        if total >= 0 and total != self.desc.size:
            resp.close()
            raise FailedPrecondition(f"{self.desc.digest}: {host.host} has {total} bytes, "
                                     f"descriptor says {self.desc.size}")

    def read(self, n: int = -1) -> bytes:
        """See :class:`pyctrd.core.remotes.BlobReader`."""
        if self._closed:
            raise InvalidArgument("read of a closed blob stream")
        left = self.desc.size - self.offset
        if left <= 0:
            return b""
        want = left if n < 0 else min(n, left)
        while True:
            if self._resp is None:
                self.open()
            assert self._resp is not None
            try:
                # read1: what has arrived, up to ``want`` - a read(want) cut short by a dropped
                # connection loses its partial bytes, and a registry dropping more often than
                # every ``want`` bytes could then never make progress
                data = self._resp.raw.read1(want, decode_content=True)
            except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
                log.debug("fetch %s: %s at %d, resuming", self.desc.digest, type(exc).__name__, self.offset)
                data = b""
            if data:
                self._fails = 0
                return self._accept(data)
            self._resp.close()
            self._resp = None
            self._fails += 1
            if self._fails > self._max:
                raise Unavailable(f"fetch {self.desc.digest}: connection dropped at "
                                  f"{self.offset}/{self.desc.size} {self._fails} times without progress")

    def _accept(self, data: bytes) -> bytes:
        self.offset += len(data)
        if self._hash is not None:
            self._hash.update(data)
            if self.offset == self.desc.size:
                got = "sha256:" + self._hash.hexdigest()
                if got != self.desc.digest:
                    self.close()
                    raise FailedPrecondition(f"unexpected digest {got} from {self.host}, "
                                             f"expected {self.desc.digest}")
        if self.offset == self.desc.size and self._resp is not None:
            self._resp.close()  # hand the connection back to the pool
            self._resp = None
        return data

    def close(self) -> None:
        self._closed = True
        if self._resp is not None:
            self._resp.close()
            self._resp = None


class DockerFetcher:
    """Fetch by descriptor from one repository (see :class:`pyctrd.core.remotes.Fetcher`)."""

    def __init__(self, base: RepositoryBase) -> None:
        self.base = base

    def __repr__(self) -> str:
        return f"<DockerFetcher {self.base.spec.locator} hosts={len(self.base.hosts)}>"

    def fetch(self, desc: Descriptor, offset: int = 0) -> BlobStream:
        """See :class:`pyctrd.core.remotes.Fetcher`."""
        if desc.size <= 0:
            raise InvalidArgument(f"unable to fetch descriptor ({desc.digest}) which reports content size "
                                  "of zero")
        if not 0 <= offset <= desc.size:
            raise InvalidArgument(f"offset {offset} outside {desc.digest} of {desc.size} bytes")
        hosts = self.base.with_caps("pull")
        if not hosts:
            raise NotFound(f"no pull hosts for {self.base.spec.locator}")
        stream = BlobStream(self.base, desc, hosts, offset)
        if offset < desc.size:
            stream.open()
        return stream
