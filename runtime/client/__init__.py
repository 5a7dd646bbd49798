"""The Python client: what pyctr, the widgets and the notebooks use to talk to a daemon.

It speaks containerd's gRPC API, so it works against pyctrd *and* a real containerd::

    from pyctrd.client import Client
    c = Client("/run/pyctrd/pyctrd.sock")        # or "/run/containerd/containerd.sock"
    c.version()                                   # <Server 1.6.20+pyctrd.0.1.0 …>
    [p for p in c.plugins() if p.status != "ok"]  # what was skipped, and why
    c.namespaces.create("lab")
    with c.in_namespace("lab") as lab: ...
    c.content.info("sha256:…"); c.images.list(); c.leases.list()
    c.snapshotter("overlayfs").walk(); c.diff.apply(layer, mounts)
    with c.leases.lease():                        # everything created inside is leased
        ...
    c.pull("127.0.0.1:5000/layered:latest")        # fetch, record, unpack into overlayfs
    c.images.check("127.0.0.1:5000/layered:latest")
    c.containers.create("c1", spec=spec, runtime="io.containerd.runc.v2")
    task = c.tasks.create("c1", io=cio.capture()); task.start(); task.wait()

Errors are :mod:`pyctrd.errdefs` kinds (NotFound, AlreadyExists, …), whichever daemon raised them.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from . import cio
from .connection import Connection, default_address
from .containers import ContainersClient
from .content import ContentProxy
from .diff import DiffClient
from .events import EventsClient
from .images import ImagesClient
from .introspection import IntrospectionClient, PluginInfo, VersionInfo
from .leases import LeasesClient
from .namespaces import NamespacesClient
from .snapshots import SnapshotsClient
from .tasks import Process, Task, TasksClient

if TYPE_CHECKING:  # the registry client (requests) is imported when a pull or push happens
    from ..core.containers import Container
    from ..core.images import Image
    from ..core.ocispec import Descriptor
    from ..core.remotes import Progress
    from ..remotes import PushResult
    from .transfer import PullResult

__all__ = ["Client", "ContainersClient", "PluginInfo", "Process", "Task", "TasksClient", "VersionInfo", "cio",
           "default_address"]


class Client:
    """A connection to one daemon, in one namespace."""

    def __init__(self, address: str | None = None, namespace: str = "default", *,
                 timeout: float | None = 30.0, _conn: Connection | None = None) -> None:
        self.conn = _conn or Connection(address, namespace=namespace, timeout=timeout)
        self.introspection = IntrospectionClient(self.conn)
        self.namespaces = NamespacesClient(self.conn)
        self.events = EventsClient(self.conn)
        self.containers = ContainersClient(self.conn)
        self.tasks = TasksClient(self.conn)
        self.content = ContentProxy(self.conn)
        self.leases = LeasesClient(self.conn)
        self.images = ImagesClient(self.conn, self.content)
        self.diff = DiffClient(self.conn)

    @property
    def address(self) -> str:
        return self.conn.address

    @property
    def namespace(self) -> str:
        return self.conn.namespace

    def __repr__(self) -> str:
        return f"<Client {self.address} ns={self.namespace}>"

    def snapshotter(self, name: str = "overlayfs") -> SnapshotsClient:
        """The daemon's snapshotter ``name`` (a Snapshotter), in this client's namespace."""
        return SnapshotsClient(self.conn, name)

    # -- images from and to registries and archives (the work happens here, in the client) --
    def pull(self, ref: str, *, platform: str | None = None, all_platforms: bool = False, unpack: bool = True,
             snapshotter: str = "overlayfs", plain_http: bool = False, hosts_dir: str | None = None,
             user: str | None = None, progress: Callable[[Progress], None] | None = None,
             **kw: Any) -> PullResult:
        """Fetch ``ref`` in a lease, record the image, unpack it (see :mod:`.transfer`)."""
        from . import transfer

        return transfer.pull(self, ref, platform=platform, all_platforms=all_platforms, unpack_layers=unpack,
                             snapshotter=snapshotter, plain_http=plain_http, hosts_dir=hosts_dir, user=user,
                             progress=progress, **kw)

    def fetch(self, ref: str, **kw: Any) -> Image:
        """Fetch ``ref``'s content and record the image, without unpacking (``content fetch``)."""
        from . import transfer

        return transfer.fetch(self, ref, **kw)[0]

    def push(self, ref: str, local: str | None = None, **kw: Any) -> PushResult:
        """Push image ``local`` (default ``ref``) to the registry ``ref`` names."""
        from . import transfer

        return transfer.push(self, ref, local, **kw)

    def import_archive(self, source: Any, *, unpack: bool = True, **kw: Any) -> list[Image]:
        """Import an OCI layout / docker archive, record its images and unpack them."""
        from . import archive

        return [img for img, _ in archive.import_archive(self, source, unpack_layers=unpack, **kw)]

    def export(self, out: Any, *names: str, **kw: Any) -> Descriptor:
        """Write the images ``names`` to ``out`` as an OCI layout tar."""
        from . import archive

        return archive.export_archive(self, out, names, **kw)

    def new_container(self, id: str, image: str, **kw: Any) -> Container:
        """Create container ``id`` from a pulled ``image``: snapshot + spec + record.

        See :func:`pyctrd.client.newcontainer.new_container` for the steps and options.
        """
        from .newcontainer import new_container

        return new_container(self, id, image, **kw)

    def version(self) -> VersionInfo:
        return self.introspection.version()

    def plugins(self, *filters: str) -> list[PluginInfo]:
        return self.introspection.plugins(*filters)

    def with_namespace(self, namespace: str) -> Client:
        """A client for another namespace over the same connection."""
        return Client(_conn=self.conn.derive(namespace=namespace))

    @contextmanager
    def in_namespace(self, namespace: str) -> Iterator[Client]:
        yield self.with_namespace(namespace)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
