"""A docker registry API v2 client: hosts configuration, auth, resolver, fetcher, pusher.

>>> DockerResolver(plain_http=True).base("127.0.0.1:5000/busybox:latest").hosts
[<RegistryHost http://127.0.0.1:5000/v2 pull,resolve,push>]
"""
from __future__ import annotations

from .auth import Authorizer, Credentials, parse_challenges
from .base import RepositoryBase
from .fetcher import BlobStream, DockerFetcher
from .hosts import (
    HostOptions,
    RegistryHost,
    RegistryHosts,
    configure_hosts,
    host_dir,
    hosts_from_mirrors,
    parse_hosts_toml,
)
from .pusher import DockerPusher
from .resolver import ACCEPT_MANIFESTS, DockerResolver
from .transport import RetryPolicy, Transport, status_error

__all__ = [
    "ACCEPT_MANIFESTS", "Authorizer", "BlobStream", "Credentials", "DockerFetcher", "DockerPusher",
    "DockerResolver", "HostOptions", "RegistryHost", "RegistryHosts", "RepositoryBase", "RetryPolicy",
    "Transport", "configure_hosts", "host_dir", "hosts_from_mirrors", "parse_challenges",
    "parse_hosts_toml", "status_error",
]
