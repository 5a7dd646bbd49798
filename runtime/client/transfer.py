"""Pull, fetch and push through a daemon - the client does the registry work, as containerd's does.

A pull is four steps, all on the client side of the socket::

    with client.leases.lease():                  # 1. nothing fetched can be collected meanwhile
        fetched = fetch_image(resolver, ref, client.content)   # 2. blobs -> content store
        image = create_or_update(client.images, fetched.image())  # 3. /images/create
        unpack(client.content, client.snapshotter(sn), client.diff, image.target)  # 4. snapshots

The registry hosts come from the *daemon's* configuration (plugin
``io.containerd.internal.v1.registry``: a hosts.toml directory and mirrors), so every client
of one daemon pulls the same way; ``hosts_dir`` overrides it. A daemon without that plugin
(a real containerd) means the defaults: the registry itself, https except for localhost.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..core.images import Image, image_platforms
from ..core.images import platforms as plat
from ..core.ocispec import Platform
from ..core.remotes import Progress
from ..errdefs import AlreadyExists, NotFound
from ..plugins.remotes.registry.config import host_options
from ..remotes import DockerResolver, FetchResult, PushResult, fetch_image, push_image
from ..remotes.docker import HostOptions
from .images import ImagesClient, matcher
from .unpack import UnpackResult, unpack

if TYPE_CHECKING:
    from . import Client

__all__ = ["PullResult", "create_or_update", "fetch", "pull", "push", "registry_options", "resolver_for"]

ProgressFn = Callable[[Progress], None]


@dataclass
class PullResult:
    """What a pull did: the image record, the fetch (with the host that served each blob), the
    unpack per platform, and how long each part took."""

    image: Image
    fetch: FetchResult
    unpacked: list[tuple[Platform, UnpackResult]] = field(default_factory=list)
    fetch_seconds: float = 0.0
    unpack_seconds: float = 0.0

    def __repr__(self) -> str:
        chains = ",".join(u.chain_id[:19] for _, u in self.unpacked) or "-"
        return (f"<PullResult {self.image.name} fetched={len(self.fetch.fetched)} "
                f"exists={len(self.fetch.existing)} unpacked={chains}>")


def registry_options(client: Client, hosts_dir: str | None = None) -> HostOptions:
    """The daemon's registry hosts configuration (see the module docstring)."""
    if hosts_dir:
        return host_options(None, hosts_dir=hosts_dir)
    found = client.plugins("type==io.containerd.internal.v1,id==registry")
    return host_options(found[0].exports if found and found[0].status == "ok" else None)


def _credentials(user: str | None) -> Callable[[str], tuple[str, str]] | None:
    if not user:
        return None
    name, _, secret = user.partition(":")
    return lambda host: (name, secret)


def resolver_for(client: Client, *, plain_http: bool = False, hosts_dir: str | None = None,
                 user: str | None = None, skip_verify: bool = False) -> DockerResolver:
    """A resolver with the daemon's registry hosts; ``user`` is ``name:secret``."""
    options = registry_options(client, hosts_dir)
    options.skip_verify = skip_verify
    return DockerResolver(options=options, plain_http=plain_http, credentials=_credentials(user))


def create_or_update(images: ImagesClient, image: Image) -> Image:
    """containerd's ``createNewImage``: create, or replace the record that has the name."""
    while True:
        try:
            return images.create(image)
        except AlreadyExists:
            try:
                return images.update(image)
            except NotFound:  # removed in between: create again
                continue


def _matcher(platform: str | Platform | None, all_platforms: bool) -> plat.MatchComparer:
    return plat.ALL if all_platforms else matcher(platform)


def fetch(client: Client, ref: str, *, platform: str | Platform | None = None, all_platforms: bool = False,
          resolver: DockerResolver | None = None, progress: ProgressFn | None = None,
          labels: dict[str, str] | None = None, **resolver_args: object) -> tuple[Image, FetchResult]:
    """Fetch ``ref``'s content and create its image record, in a lease (``ctr content fetch``).

    Raises:
        As :func:`pyctrd.remotes.fetch_image` (nothing is recorded when it fails).
    """
    resolver = resolver or resolver_for(client, **resolver_args)  # type: ignore[arg-type]
    with client.leases.lease():
        result = fetch_image(resolver, ref, client.content,  # type: ignore[arg-type]
                             platform=_matcher(platform, all_platforms), all_platforms=all_platforms,
                             progress=progress)
        return create_or_update(client.images, result.image(labels)), result


def pull(client: Client, ref: str, *, platform: str | Platform | None = None, all_platforms: bool = False,
         unpack_layers: bool = True, snapshotter: str = "overlayfs", resolver: DockerResolver | None = None,
         progress: ProgressFn | None = None, on_unpack: Callable[[Platform, Image], None] | None = None,
         labels: dict[str, str] | None = None, plain_http: bool = False, hosts_dir: str | None = None,
         user: str | None = None) -> PullResult:
    """Fetch ``ref``, record the image and unpack it for ``platform`` (default: this host).

    With ``all_platforms`` every manifest is fetched and, as ``ctr images pull --all-platforms``
    does, every platform the image names is unpacked (containerd's ``images.Platforms`` order;
    ``unknown`` entries - attestations - skipped). ``on_unpack(platform, image)`` is called
    before each unpack (pyctr prints ``unpacking linux/amd64 sha256:…``).

    Raises:
        NotFound, FailedPrecondition, InvalidArgument, Unavailable: from the registry or a bad
        image (a layer that does not match its digest or diff ID); nothing half-done stays
        referenced: the lease goes, and with it every ``extract-…`` snapshot.
    """
    resolver = resolver or resolver_for(client, plain_http=plain_http, hosts_dir=hosts_dir, user=user)
    t0 = time.perf_counter()
    with client.leases.lease():
        image, fetched = fetch(client, ref, platform=platform, all_platforms=all_platforms, resolver=resolver,
                               progress=progress, labels=labels)
        result = PullResult(image, fetched, fetch_seconds=time.perf_counter() - t0)
        if unpack_layers:
            t1 = time.perf_counter()
            if all_platforms:
                wants = [p for p in image_platforms(client.content, image.target)
                         if "unknown" not in (p.os, p.architecture)]
            else:
                want = plat.parse(platform) if isinstance(platform, str) else platform
                wants = [want or plat.default_platform()]
            sn = client.snapshotter(snapshotter)
            for want in wants:
                if on_unpack:
                    on_unpack(want, image)
                done = unpack(client.content, sn, client.diff, image.target, snapshotter_name=snapshotter,
                              platform=plat.only(want))
                result.unpacked.append((want, done))
            result.unpack_seconds = time.perf_counter() - t1
    return result


def push(client: Client, ref: str, local: str | None = None, *, platform: str | Platform | None = None,
         resolver: DockerResolver | None = None, progress: ProgressFn | None = None,
         **resolver_args: object) -> PushResult:
    """Push the image ``local`` (default: ``ref``) to ``ref``; all platforms unless one is given.

    Raises:
        NotFound: no such image or missing content; FailedPrecondition: denied or rejected;
        InvalidArgument: ``ref`` without a tag; Unavailable: the registry keeps failing.
    """
    resolver = resolver or resolver_for(client, **resolver_args)  # type: ignore[arg-type]
    image = client.images.get(local or ref)
    return push_image(resolver, ref, client.content, image.target,
                      platform=matcher(platform) if platform else None, progress=progress,
                      labels=client.content.info)
