"""Talking to registries: the docker registry client and the pull/push orchestration.

- :mod:`pyctrd.remotes.docker`: hosts configuration (``hosts.toml``, CRI mirrors), auth,
  :class:`~pyctrd.remotes.docker.DockerResolver` with its fetcher and pusher;
- :func:`fetch_image`: resolve + fetch an image's content into a content store;
- :func:`push_image`: push an image's content from a content store.

The roles themselves (Resolver, Fetcher, Pusher) are Protocols in :mod:`pyctrd.core.remotes`.
"""
from __future__ import annotations

from .docker import DockerResolver, HostOptions, RegistryHost, RetryPolicy
from .pull import FetchResult, fetch_blob, fetch_image
from .push import PushResult, push_image

__all__ = ["DockerResolver", "FetchResult", "HostOptions", "PushResult", "RegistryHost", "RetryPolicy",
           "fetch_blob", "fetch_image", "push_image"]
