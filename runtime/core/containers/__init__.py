"""Containers: the *record* of what to run, kept apart from the running of it.

In containerd a **container** is only metadata: an ID, the OCI runtime spec to run, which
runtime (shim) runs it, which snapshot holds its root filesystem, labels. Creating one starts
nothing. A **task** is the live part - a process tree made from the container by a shim - and
comes and goes (``tasks start``, ``tasks rm``) while the container record stays::

    container c1 (record, metadata DB)          task c1 (process, shim + runc)
    ├─ spec        config.json to write   ───▶  bundle <state>/…/<ns>/c1/config.json
    ├─ runtime     io.containerd.runc.v2  ───▶  shim binary containerd-shim-runc-v2
    ├─ snapshotter overlayfs              ───▶  rootfs mounts of snapshot "c1"
    └─ snapshot_key c1

What can change after creation (``Update`` with field paths, as containerd's store):
``labels`` (or ``labels.<key>``), ``spec``, ``extensions`` (or ``extensions.<key>``),
``image`` and ``snapshotkey``. ``runtime`` and ``snapshotter`` are immutable.

Garbage collection: a container *holds* its snapshot (``<snapshotter>/<snapshot_key>``) and
whatever its ``containerd.io/gc.ref.*`` labels name, so the collector treats every container
as a root (the SQLite store registers a tracker that says so); :meth:`ContainerStore.references`
lists the same edges for anyone else to read.

>>> c = Container("c1", runtime=RuntimeInfo("io.containerd.runc.v2"), snapshotter="overlayfs",
...               snapshot_key="c1")
>>> c
<Container c1 io.containerd.runc.v2 snapshot=overlayfs/c1>
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from google.protobuf import any_pb2

from ... import identifiers
from ...errdefs import InvalidArgument
from .. import labels as labels_

__all__ = ["FIELD_PATHS", "Container", "ContainerStore", "RuntimeInfo", "validate"]

#: Field paths an update may name (plus ``labels.<key>`` and ``extensions.<key>``).
FIELD_PATHS = ("labels", "spec", "extensions", "image", "snapshotkey")


@dataclass
class RuntimeInfo:
    """Which runtime runs the container's tasks (``io.containerd.runc.v2``) and its options."""

    name: str
    options: any_pb2.Any | None = None

    def __repr__(self) -> str:
        opts = f" options={self.options.type_url}" if self.options is not None else ""
        return f"<RuntimeInfo {self.name}{opts}>"


@dataclass
class Container:
    """One container record (containerd's ``containers.Container``).

    Attributes:
        id: unique in its namespace; a valid identifier; immutable.
        labels: free-form metadata (``containerd.io/restart.status`` ...).
        image: the image reference it was made from ("" for none).
        runtime: runtime name and options (``containerd.runc.v1.Options`` for runc).
        spec: the OCI runtime spec as an ``Any`` (type ``types.containerd.io/…/Spec``, JSON).
        snapshotter: the snapshotter holding the root filesystem ("" for none).
        snapshot_key: the active snapshot with the root filesystem ("" for none).
        created_at, updated_at: set by the store (UTC).
        extensions: client data by name, each an ``Any``.
    """

    id: str
    labels: dict[str, str] = field(default_factory=dict)
    image: str = ""
    runtime: RuntimeInfo = field(default_factory=lambda: RuntimeInfo(""))
    spec: any_pb2.Any | None = None
    snapshotter: str = ""
    snapshot_key: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    extensions: dict[str, any_pb2.Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        snap = f" snapshot={self.snapshotter}/{self.snapshot_key}" if self.snapshot_key else ""
        image = f" image={self.image}" if self.image else ""
        return f"<Container {self.id} {self.runtime.name or '-'}{image}{snap}>"


def validate(c: Container) -> None:
    """containerd's ``validateContainer``.

    >>> validate(Container("c1", runtime=RuntimeInfo("io.containerd.runc.v2")))
    Traceback (most recent call last):
    ...
    pyctrd.errdefs.InvalidArgument: container.Spec must be set: invalid argument
    """
    try:
        identifiers.validate(c.id)
    except InvalidArgument as exc:
        raise InvalidArgument(f"container.ID: {exc.what}") from None
    if any(k == "" for k in c.extensions):
        raise InvalidArgument("container.Extension keys must not be zero-length")
    try:
        labels_.validate_all(c.labels)
    except InvalidArgument as exc:
        raise InvalidArgument(f"containers.Labels: {exc.what}") from None
    if not c.runtime.name:
        raise InvalidArgument("container.Runtime.Name must be set")
    if c.spec is None:
        raise InvalidArgument("container.Spec must be set")
    if c.snapshot_key and not c.snapshotter:
        raise InvalidArgument("container.Snapshotter must be set if container.SnapshotKey is set")


@runtime_checkable
class ContainerStore(Protocol):
    """Container records in the current namespace (:mod:`pyctrd.core.namespaces`)."""

    def get(self, id: str) -> Container:
        """Raises NotFound."""

    def list(self, *filters: str) -> list[Container]:
        """Containers matching any filter (fields ``id``, ``image``, ``runtime.name``,
        ``labels.<key>``), sorted by ID. Raises InvalidArgument for a bad filter."""

    def create(self, container: Container) -> Container:
        """Store a new record; sets the timestamps. Raises AlreadyExists, InvalidArgument."""

    def update(self, container: Container, field_paths: Sequence[str] = ()) -> Container:
        """Change the named fields (all mutable ones when none are named).

        Raises:
            NotFound: no such container.
            InvalidArgument: an unknown or immutable field, or the result fails validation.
        """

    def delete(self, id: str) -> None:
        """Raises NotFound."""

    def references(self, namespace: str | None = None) -> Iterable[tuple[str, str, str, str]]:
        """What containers hold, for garbage collection: ``(namespace, container id,
        resource type, key)`` with types ``snapshot/<snapshotter>`` and ``content``
        (from ``containerd.io/gc.ref.*`` labels). Every namespace when ``namespace`` is None."""

