"""The docker registry resolver: reference -> target descriptor, plus fetchers and pushers.

Resolving a tag asks each resolve-capable host, in order, ``HEAD /v2/<repo>/manifests/<tag>``
with the ``Accept`` list containerd sends. A host that answers 404 is skipped (the next mirror
or the upstream may have it); a host that fails is remembered and skipped. The answer's
``Docker-Content-Digest`` and ``Content-Length`` make the descriptor; if either is missing the
manifest is fetched with ``GET`` and hashed. A digest reference needs only the pull capability
and is looked up under ``manifests/`` then ``blobs/``.

>>> r = DockerResolver(plain_http=True)
>>> r
<DockerResolver plain-http>
>>> r.resolve("127.0.0.1:5000/busybox")
Traceback (most recent call last):
...
pyctrd.errdefs.InvalidArgument: object required in reference '127.0.0.1:5000/busybox' (a tag or digest): invalid argument
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Sequence

from ...core.digest import validate
from ...core.images.manifest import MAX_MANIFEST_SIZE
from ...core.images.mediatypes import MEDIA_TYPE_DOCKER_SCHEMA1_MANIFEST
from ...core.images.reference import parse_spec
from ...core.ocispec import (
    MEDIA_TYPE_DOCKER_MANIFEST,
    MEDIA_TYPE_DOCKER_MANIFEST_LIST,
    MEDIA_TYPE_OCI_INDEX,
    MEDIA_TYPE_OCI_MANIFEST,
    Descriptor,
)
from ...errdefs import InvalidArgument, NotFound, PyctrdError
from ...errdefs import NotImplemented as NotImplementedKind
from .auth import Credentials
from .base import RepositoryBase
from .fetcher import DockerFetcher
from .hosts import HostOptions, RegistryHost, RegistryHosts, configure_hosts
from .pusher import DockerPusher
from .transport import RetryPolicy, Transport, status_error

__all__ = ["ACCEPT_MANIFESTS", "DockerResolver"]

log = logging.getLogger("pyctrd.remotes")
#: The Accept header containerd sends when resolving.
ACCEPT_MANIFESTS = (f"{MEDIA_TYPE_DOCKER_MANIFEST}, {MEDIA_TYPE_DOCKER_MANIFEST_LIST}, "
                    f"{MEDIA_TYPE_OCI_MANIFEST}, {MEDIA_TYPE_OCI_INDEX}, */*")


class _Rejected(NotFound):
    """A manifest refused for its size: NotFound, but the error to report (not "no such tag")."""


def _media_type(content_type: str) -> str:
    mt = content_type.split(";", 1)[0].strip()
    return MEDIA_TYPE_DOCKER_SCHEMA1_MANIFEST if mt == "text/plain" else mt


class DockerResolver:
    """Resolve, fetch and push against docker registry API v2 hosts.

    Args:
        hosts: registry name -> hosts to try; default :func:`configure_hosts` of ``options``.
        options: hosts directory / mirrors / ``--plain-http`` / ``--skip-verify``.
        plain_http: shorthand for ``options.default_scheme = "http"``.
        credentials: host -> (user, secret); never logged.
        retry: bounded retry/backoff policy (inject ``sleep`` in tests).
    """

    def __init__(self, hosts: RegistryHosts | None = None, *, options: HostOptions | None = None,
                 plain_http: bool = False, credentials: Credentials | None = None,
                 headers: Sequence[tuple[str, str]] = (), retry: RetryPolicy | None = None,
                 timeout: float = 60.0) -> None:
        opts = options or HostOptions()
        if plain_http:
            opts = dataclasses.replace(opts, default_scheme="http")
        self.options = opts
        self.hosts = hosts or configure_hosts(opts)
        self.transport = Transport(credentials=credentials, headers=headers, retry=retry, timeout=timeout)

    def __repr__(self) -> str:
        flags = [f"config_path={self.options.config_path}"] if self.options.config_path else []
        flags += ["plain-http"] if self.options.default_scheme == "http" else []
        return "<DockerResolver" + "".join(" " + f for f in flags) + ">"

    def base(self, ref: str) -> RepositoryBase:
        """The repository and hosts for ``ref``.

        Raises:
            InvalidArgument: a malformed reference or hosts configuration.
        """
        spec = parse_spec(ref)
        if not spec.repository:
            raise InvalidArgument(f"reference {ref!r:.200} has no repository")
        return RepositoryBase(spec, self.hosts(spec.hostname), self.transport)

    def resolve(self, ref: str) -> tuple[str, Descriptor]:
        """See :class:`pyctrd.core.remotes.Resolver`."""
        base = self.base(ref)
        if not base.spec.object:
            raise InvalidArgument(f"object required in reference {ref!r:.200} (a tag or digest)")
        digest = base.spec.digest
        caps: tuple[str, ...]
        if digest:
            validate(digest)
            paths, caps = [("manifests", digest), ("blobs", digest)], ("pull",)
        else:
            paths, caps = [("manifests", base.spec.tag)], ("pull", "resolve")
        hosts = base.with_caps(*caps)
        if not hosts:
            raise NotFound(f"no resolve hosts for {ref}")
        first_err: PyctrdError | None = None
        for parts in paths:
            for host in hosts:
                try:
                    desc = self._resolve_at(base, host, parts, digest)
                except PyctrdError as exc:
                    if (not isinstance(exc, NotFound) or isinstance(exc, _Rejected)) and first_err is None:
                        first_err = exc  # as containerd: the first error that is not a plain 404
                    log.info("resolve %s on %s: %s; trying next host", ref, host.host, exc)
                    continue
                return ref, desc
        raise first_err or NotFound(ref)

    def _resolve_at(self, base: RepositoryBase, host: RegistryHost, parts: tuple[str, str],
                    digest: str) -> Descriptor:
        t, path = base.transport, base.path(host, *parts)
        accept = {"Accept": ACCEPT_MANIFESTS}
        resp = t.request(host, "HEAD", path, scopes=base.scopes(), headers=accept)
        resp.close()
        if resp.status_code > 299:
            raise status_error(resp, f"resolve {parts[1]} on {host.host}")
        size = int(resp.headers.get("Content-Length", -1)) if resp.request.method == "HEAD" else -1
        media_type = _media_type(resp.headers.get("Content-Type", ""))
        if not digest and resp.headers.get("Docker-Content-Digest") and size >= 0:
            digest = validate(resp.headers["Docker-Content-Digest"])
        if not digest or size < 0:
            resp = t.request(host, "GET", path, scopes=base.scopes(), headers=accept, stream=True)
            with resp:
                if resp.status_code > 299:
                    raise status_error(resp, f"resolve {parts[1]} on {host.host}")
                media_type = _media_type(resp.headers.get("Content-Type", ""))
                body = resp.raw.read(MAX_MANIFEST_SIZE + 1, decode_content=True)
            size = len(body)
            if size <= MAX_MANIFEST_SIZE and not digest:
                digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if size > MAX_MANIFEST_SIZE:
            raise _Rejected(f"rejecting {size} byte manifest for {base.spec}")
        if media_type == MEDIA_TYPE_DOCKER_SCHEMA1_MANIFEST:
            raise NotImplementedKind(f"{base.spec}: schema 1 manifests are not supported")
        return Descriptor(media_type, digest, size)

    def fetcher(self, ref: str) -> DockerFetcher:
        return DockerFetcher(self.base(ref))

    def pusher(self, ref: str) -> DockerPusher:
        return DockerPusher(self.base(ref))

