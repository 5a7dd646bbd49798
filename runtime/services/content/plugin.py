"""Registers the content service and its gRPC servicer (containerd's ``content-service`` and ``content``)."""
from __future__ import annotations

from ...errdefs import FailedPrecondition
from ...plugin import InitContext, Registration, register, types
from .local import ContentService
from .server import ContentServicer


def _local(ic: InitContext) -> ContentService:
    store = ic.get(types.METADATA).content_store
    if store is None:
        raise FailedPrecondition("the metadata plugin has no content store")
    return ContentService(store, ic.events)


local_registration = register(Registration(
    type=types.SERVICE, id="content-service", requires=(types.EVENT, types.METADATA), init=_local,
    doc="the namespaced content store and /content/delete events"))
registration = register(Registration(
    type=types.GRPC, id="content", requires=(types.SERVICE,),
    init=lambda ic: ContentServicer(ic.get_by_id(types.SERVICE, "content-service")),
    doc="gRPC: containerd.services.content.v1.Content"))
