"""Pushing blobs and manifests to a registry (docker registry API v2).

For each descriptor the pusher first asks ``HEAD`` whether the registry has it (a manifest
pushed by tag counts only if the tag's ``Docker-Content-Digest`` is this digest). Otherwise:

- a **manifest** is ``PUT /v2/<repo>/manifests/<tag or digest>`` with its media type;
- a **blob** starts an upload session with ``POST /v2/<repo>/blobs/uploads/`` (or tries a
  cross-repository mount first: ``?mount=<digest>&from=<repo>``, ``201`` = done) and then either
  sends it whole (``PUT <location>?digest=…``, *monolithic*) or in ``PATCH`` chunks with
  ``Content-Range`` followed by a closing ``PUT`` (*chunked*).
"""
from __future__ import annotations

import logging
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from ...core.content import Provider
from ...core.images.mediatypes import is_index_type, is_manifest_type
from ...core.images.walk import read_blob
from ...core.ocispec import Descriptor
from ...errdefs import FailedPrecondition, InvalidArgument, NotFound
from .base import RepositoryBase
from .hosts import RegistryHost
from .transport import status_error

__all__ = ["DockerPusher"]

log = logging.getLogger("pyctrd.remotes")


class _Body:
    """A re-readable request body over a slice of a blob (length known, so no chunked encoding)."""

    def __init__(self, provider: Provider, digest: str, start: int, end: int) -> None:
        self._ra = provider.reader_at(digest)
        self._pos, self._end = start, end

    def __len__(self) -> int:
        return self._end - self._pos

    def read(self, n: int = -1) -> bytes:
        n = self._end - self._pos if n < 0 else min(n, self._end - self._pos)
        if n <= 0:
            self._ra.close()
            return b""
        data = self._ra.read_at(self._pos, n)
        self._pos += len(data)
        return data


class DockerPusher:
    """Push into one repository (see :class:`pyctrd.core.remotes.Pusher`).

    Args:
        chunk_size: blobs larger than this are sent in ``PATCH`` chunks of this size;
            ``0`` sends every blob monolithically.
    """

    def __init__(self, base: RepositoryBase, chunk_size: int = 0) -> None:
        self.base = base
        self.chunk_size = chunk_size

    def __repr__(self) -> str:
        return f"<DockerPusher {self.base.spec}>"

    def push_host(self) -> RegistryHost:
        """The host pushes go to: the first push-capable one.

        Raises:
            NotFound: no host may be pushed to.
        """
        hosts = self.base.with_caps("push")
        if not hosts:
            raise NotFound(f"no push hosts for {self.base.spec.locator}")
        return hosts[0]

    def push(self, desc: Descriptor, provider: Provider, *, tag: str = "", mount_from: str = "") -> str:
        """Upload ``desc``; a manifest goes under ``tag`` if given, else under its digest.

        Returns ``exists``, ``mounted`` or ``pushed``.

        Raises:
            NotFound: no push host, or ``desc`` is not in ``provider``.
            FailedPrecondition: access denied, or the registry rejected the content.
            Unavailable: the registry kept failing.
        """
        host = self.push_host()
        t, scopes = self.base.transport, self.base.scopes(push=True)
        manifest = is_manifest_type(desc.media_type) or is_index_type(desc.media_type)
        obj = tag or desc.digest
        check = self.base.path(host, *(("manifests", obj) if manifest else ("blobs", desc.digest)))
        resp = t.request(host, "HEAD", check, scopes=scopes, headers={"Accept": f"{desc.media_type}, */*"})
        resp.close()
        if resp.status_code == 200 and (not manifest or not tag
                                        or resp.headers.get("Docker-Content-Digest") == desc.digest):
            return "exists"
        if resp.status_code not in (200, 404, 401, 403):
            raise status_error(resp, f"check {desc.digest} on {host.host}")
        if manifest:
            data = read_blob(provider, desc)
            resp = t.request(host, "PUT", self.base.path(host, "manifests", obj), scopes=scopes,
                             headers={"Content-Type": desc.media_type}, body=lambda: data)
            resp.close()
            if resp.status_code not in (200, 201, 204):
                raise status_error(resp, f"push manifest {desc.digest} to {host.host}")
            return "pushed"
        return self._push_blob(host, desc, provider, mount_from)

    def _push_blob(self, host: RegistryHost, desc: Descriptor, provider: Provider, mount_from: str) -> str:
        t, scopes = self.base.transport, self.base.scopes(push=True)
        provider.reader_at(desc.digest).close()  # NotFound before talking to the registry
        resp = None
        if mount_from:
            from_scopes = [*scopes, f"repository:{mount_from}:pull"]
            resp = t.request(host, "POST", self.base.path(host, "blobs", "uploads/") + _q(host, self.base, {
                "mount": desc.digest, "from": mount_from}), scopes=from_scopes)
            resp.close()
            if resp.status_code == 201:
                return "mounted"
            if resp.status_code in (401, 403):
                resp = None
        if resp is None:
            resp = t.request(host, "POST", self.base.path(host, "blobs", "uploads/"), scopes=scopes)
            resp.close()
        if resp.status_code == 201:
            return "exists"
        if resp.status_code not in (200, 202, 204):
            raise status_error(resp, f"start upload of {desc.digest} to {host.host}")
        location = self._location(host, resp.headers.get("Location", ""))
        chunk = self.chunk_size if 0 < self.chunk_size < desc.size else desc.size
        offset = 0
        while chunk != desc.size and offset < desc.size:
            end = min(offset + chunk, desc.size)
            resp = self._send(host, "PATCH", location, provider, desc, offset, end,
                              {"Content-Range": f"{offset}-{end - 1}"})
            if resp.status_code != 202:
                raise status_error(resp, f"upload chunk {offset}-{end - 1} of {desc.digest}")
            location = self._location(host, resp.headers.get("Location", ""))
            offset = end
        final = _with_query(location, {"digest": desc.digest})
        resp = self._send(host, "PUT", final, provider, desc, offset, desc.size, {})
        if resp.status_code not in (201, 204):
            err = status_error(resp, f"commit upload of {desc.digest} to {host.host}")
            raise FailedPrecondition(str(err)) if resp.status_code == 400 else err
        return "pushed"

    def _send(self, host: RegistryHost, method: str, url: str, provider: Provider, desc: Descriptor,
              start: int, end: int, headers: dict[str, str]) -> requests.Response:
        def body() -> object:
            return _Body(provider, desc.digest, start, end) if end > start else b""

        # an upload location on another host (a storage backend) gets no registry credentials
        same_host = urlsplit(url).netloc == host.host
        resp = self.base.transport.request(host, method, "", url=url, scopes=self.base.scopes(push=True),
                                           headers={"Content-Type": "application/octet-stream", **headers},
                                           body=body, authorize=same_host)
        resp.close()
        return resp

    def _location(self, host: RegistryHost, location: str) -> str:
        if not location:
            raise InvalidArgument(f"registry {host.host} sent no upload location")
        if location.startswith("/"):
            return f"{host.scheme}://{host.host}{location}"
        if "://" not in location:
            return f"{host.scheme}://{location}"
        return location


def _q(host: RegistryHost, base: RepositoryBase, params: dict[str, str]) -> str:
    sep = "&" if "?" in base.path(host) else "?"
    return sep + urlencode(params)


def _with_query(url: str, params: dict[str, str]) -> str:
    u = urlsplit(url)
    query = [*parse_qsl(u.query, keep_blank_values=True), *params.items()]
    return urlunsplit(u._replace(query=urlencode(query)))
