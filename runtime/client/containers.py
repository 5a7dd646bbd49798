"""Client side of containers: create, list, inspect, label and delete container records.

    c = client.containers.create("c1", spec=oci.generate_spec("default", "c1", ...),
                                 runtime="io.containerd.runc.v2", snapshotter="overlayfs",
                                 snapshot_key="c1")
    client.containers.list('labels."team"==red')
    client.containers.spec("c1")["process"]["args"]

Records are :class:`pyctrd.core.containers.Container` objects on both sides of the wire.
"""
from __future__ import annotations

import json
import os
from typing import Any

from google.protobuf import any_pb2, field_mask_pb2
from google.protobuf.message import Message

from .._api.containerd.api.services.containers.v1 import containers_pb2 as pb
from .._api.containerd.api.services.containers.v1 import containers_pb2_grpc as pb_grpc
from .._api.containerd.runtime.v2.runc.options import oci_pb2 as runc_options
from ..core import oci, typeurl
from ..core.containers import Container, RuntimeInfo
from ..core.containers.proto import from_proto, to_proto
from ..errdefs import FailedPrecondition, InvalidArgument, NotFound, NotImplemented
from .connection import Connection

__all__ = ["DEFAULT_RUNTIME", "RUNC_RUNTIME", "ContainersClient", "default_runtime", "pack_spec", "spec_of"]

#: pyctrd's own shim; ``$PYCTRD_RUNTIME`` overrides it (tests use the Go shim's runtime).
DEFAULT_RUNTIME = "io.containerd.pyrunc.v1"
RUNC_RUNTIME = "io.containerd.runc.v2"


def default_runtime() -> str:
    return os.environ.get("PYCTRD_RUNTIME") or DEFAULT_RUNTIME


def pack_spec(spec: dict[str, Any] | any_pb2.Any) -> any_pb2.Any:
    """An OCI spec as containerd stores it: JSON (containerd's field order) in an ``Any``."""
    if isinstance(spec, any_pb2.Any):
        return spec
    return typeurl.pack_json(typeurl.OCI_SPEC_URL, json.loads(oci.dumps(spec)))


def spec_of(container: Container) -> dict[str, Any]:
    """The container's OCI spec as a dict.

    Raises:
        InvalidArgument: the container has no spec, or not an OCI one.
    """
    if container.spec is None or container.spec.type_url != typeurl.OCI_SPEC_URL:
        raise InvalidArgument(f"container {container.id} has no OCI spec")
    return dict(typeurl.unpack_json(container.spec))


def _runtime_options(runtime: str, options: Message | any_pb2.Any | None) -> any_pb2.Any | None:
    if isinstance(options, any_pb2.Any):
        return options
    if options is not None:
        return typeurl.pack(options)
    if runtime == RUNC_RUNTIME:  # as ctr: runc v2 always gets (empty) runc options
        return typeurl.pack(runc_options.Options())
    return None


class ContainersClient:
    """``containerd.services.containers.v1.Containers`` in the client's namespace."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._stub = conn.stub(pb_grpc.ContainersStub, streaming=("ListStream",))

    def _snapshots(self, name: str) -> Any:
        from .snapshots import SnapshotsClient

        return SnapshotsClient(self._conn, name)

    def create(self, id: str, *, spec: dict[str, Any] | any_pb2.Any, runtime: str | None = None,
               runtime_options: Message | any_pb2.Any | None = None, snapshotter: str = "",
               snapshot_key: str = "", image: str = "", labels: dict[str, str] | None = None,
               extensions: dict[str, any_pb2.Any] | None = None) -> Container:
        """Create a container record (nothing runs yet: see :meth:`TasksClient.create`).

        Raises:
            AlreadyExists: the ID is taken in this namespace.
            InvalidArgument: a bad ID or labels, or a snapshot key without a snapshotter.
        """
        name = runtime or default_runtime()
        c = Container(id, dict(labels or {}), image, RuntimeInfo(name, _runtime_options(name, runtime_options)),
                      pack_spec(spec), snapshotter, snapshot_key, extensions=dict(extensions or {}))
        return from_proto(self._stub.Create(pb.CreateContainerRequest(container=to_proto(c))).container)

    def get(self, id: str) -> Container:
        """Raises NotFound."""
        return from_proto(self._stub.Get(pb.GetContainerRequest(id=id)).container)

    def spec(self, id: str) -> dict[str, Any]:
        """The container's OCI spec. Raises NotFound, InvalidArgument."""
        return spec_of(self.get(id))

    def list(self, *filters: str) -> list[Container]:
        """Containers matching any filter (``id``, ``image``, ``runtime.name``, ``labels.<k>``)."""
        request = pb.ListContainersRequest(filters=list(filters))
        try:
            return [from_proto(m.container) for m in self._stub.ListStream(request)]
        except NotImplemented:  # an older daemon: one message with all of them (ctr does the same)
            return [from_proto(c) for c in self._stub.List(request).containers]

    def update(self, container: Container, *paths: str) -> Container:
        """Write the named fields of ``container`` (all mutable fields when none is named)."""
        req = pb.UpdateContainerRequest(container=to_proto(container))
        if paths:
            req.update_mask.CopyFrom(field_mask_pb2.FieldMask(paths=list(paths)))
        return from_proto(self._stub.Update(req).container)

    def set_labels(self, id: str, labels: dict[str, str]) -> dict[str, str]:
        """Set labels (an empty value removes one); returns all the container's labels."""
        c = Container(id, {k: v for k, v in labels.items() if v})
        req = pb.UpdateContainerRequest(container=to_proto(c),
                                        update_mask=field_mask_pb2.FieldMask(paths=[f"labels.{k}" for k in labels]))
        return dict(self._stub.Update(req).container.labels)

    def label(self, id: str, **labels: str) -> dict[str, str]:
        return self.set_labels(id, labels)

    def delete(self, id: str, *, tasks: Any = None, snapshot_cleanup: bool = False) -> None:
        """Delete the record. With ``tasks`` (a TasksClient) a container that still has a task
        is refused, as containerd's client does; with ``snapshot_cleanup`` its snapshot (its
        writable layer) is removed too, as ``ctr containers rm`` does by default.

        Raises:
            NotFound: no such container.
            FailedPrecondition: it still has a task.
        """
        if tasks is not None:
            try:
                tasks.get(id)
            except NotFound:
                pass
            else:
                raise FailedPrecondition(f"cannot delete container {id}: it has a task (delete the task first)")
        container = self.get(id) if snapshot_cleanup else None
        self._stub.Delete(pb.DeleteContainerRequest(id=id))
        if container is not None and container.snapshotter and container.snapshot_key:
            try:
                self._snapshots(container.snapshotter).remove(container.snapshot_key)
            except NotFound:
                pass  # already gone: nothing to clean
