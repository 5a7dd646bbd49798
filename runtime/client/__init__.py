"""The Python client: what pyctr, the widgets and the notebooks use to talk to a daemon.

It speaks containerd's gRPC API, so it works against pyctrd *and* a real containerd::

    from pyctrd.client import Client
    c = Client("/run/pyctrd/pyctrd.sock")        # or "/run/containerd/containerd.sock"
    c.version()                                   # <Server 1.6.20+pyctrd.0.1.0 …>
    [p for p in c.plugins() if p.status != "ok"]  # what was skipped, and why
    c.namespaces.create("lab")
    with c.in_namespace("lab") as lab: ...
    c.content.info("sha256:…"); c.images.list(); c.leases.list()
    with c.leases.lease():                        # everything created inside is leased
        ...
    c.containers.create("c1", spec=spec, runtime="io.containerd.runc.v2")
    task = c.tasks.create("c1", io=cio.capture()); task.start(); task.wait()

Errors are :mod:`pyctrd.errdefs` kinds (NotFound, AlreadyExists, …), whichever daemon raised them.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from . import cio
from .connection import Connection, default_address
from .containers import ContainersClient
from .content import ContentProxy
from .events import EventsClient
from .images import ImagesClient
from .introspection import IntrospectionClient, PluginInfo, VersionInfo
from .leases import LeasesClient
from .namespaces import NamespacesClient
from .tasks import Process, Task, TasksClient

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
        self.images = ImagesClient(self.conn)

    @property
    def address(self) -> str:
        return self.conn.address

    @property
    def namespace(self) -> str:
        return self.conn.namespace

    def __repr__(self) -> str:
        return f"<Client {self.address} ns={self.namespace}>"

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
