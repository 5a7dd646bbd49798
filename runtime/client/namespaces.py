"""Client side of namespaces."""
from __future__ import annotations

from google.protobuf import field_mask_pb2

from .._api.containerd.api.services.namespaces.v1 import namespace_pb2 as pb
from .._api.containerd.api.services.namespaces.v1 import namespace_pb2_grpc as pb_grpc
from .connection import Connection

__all__ = ["NamespacesClient"]


class NamespacesClient:
    """``list``, ``get``, ``create``, ``label`` and ``delete`` namespaces."""

    def __init__(self, conn: Connection) -> None:
        self._stub = conn.stub(pb_grpc.NamespacesStub)

    def list(self) -> dict[str, dict[str, str]]:
        """``{name: labels}`` for every namespace."""
        return {n.name: dict(n.labels) for n in self._stub.List(pb.ListNamespacesRequest()).namespaces}

    def get(self, name: str) -> dict[str, str]:
        """The namespace's labels. Raises NotFound."""
        return dict(self._stub.Get(pb.GetNamespaceRequest(name=name)).namespace.labels)

    def create(self, name: str, labels: dict[str, str] | None = None) -> None:
        """Raises AlreadyExists, InvalidArgument."""
        self._stub.Create(pb.CreateNamespaceRequest(namespace=pb.Namespace(name=name, labels=labels or {})))

    def label(self, name: str, **labels: str) -> dict[str, str]:
        """Set labels (an empty value removes one); returns the namespace's labels."""
        return self.set_labels(name, labels)

    def set_labels(self, name: str, labels: dict[str, str]) -> dict[str, str]:
        paths = [f"labels.{k}" for k in labels]
        req = pb.UpdateNamespaceRequest(namespace=pb.Namespace(name=name, labels={k: v for k, v in labels.items() if v}),
                                        update_mask=field_mask_pb2.FieldMask(paths=paths))
        return dict(self._stub.Update(req).namespace.labels)

    def delete(self, name: str) -> None:
        """Raises NotFound, FailedPrecondition (not empty)."""
        self._stub.Delete(pb.DeleteNamespaceRequest(name=name))
