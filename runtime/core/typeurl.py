"""``google.protobuf.Any`` the way containerd fills it in.

containerd (typeurl v1) names a protobuf type by its *full name with no prefix*:
``containerd.events.TaskCreate``, not ``type.googleapis.com/containerd.events.TaskCreate``.
``ctr`` looks types up by exactly that string, so anything pyctrd puts in an ``Any`` goes
through :func:`pack`. A few non-protobuf types have registered URLs (the OCI runtime spec).

>>> from pyctrd._api.containerd.api.events import namespace_pb2
>>> a = pack(namespace_pb2.NamespaceCreate(name="lab"))
>>> a.type_url
'containerd.events.NamespaceCreate'
>>> unpack(a).name
'lab'
"""
from __future__ import annotations

import importlib
import json
from typing import Any as _Any

from google.protobuf import any_pb2, message_factory, symbol_database
from google.protobuf.message import DecodeError, Message

from ..errdefs import InvalidArgument, NotFound

__all__ = ["OCI_SPEC_URL", "pack", "pack_json", "register_events", "type_url", "unpack", "unpack_json"]

#: containerd registers the OCI runtime spec (a Go struct, JSON in the Any) under this URL.
OCI_SPEC_URL = "types.containerd.io/opencontainers/runtime-spec/1/Spec"
#: OCI runtime-spec Process (exec) - also JSON.
OCI_PROCESS_URL = "types.containerd.io/opencontainers/runtime-spec/1/Process"
#: OCI LinuxResources (task update) - also JSON.
OCI_RESOURCES_URL = "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources"

_EVENT_MODULES = [
    "pyctrd._api.containerd.api.events.container_pb2",
    "pyctrd._api.containerd.api.events.content_pb2",
    "pyctrd._api.containerd.api.events.image_pb2",
    "pyctrd._api.containerd.api.events.namespace_pb2",
    "pyctrd._api.containerd.api.events.snapshot_pb2",
    "pyctrd._api.containerd.api.events.task_pb2",
]


def register_events() -> None:
    """Import every event type so :func:`unpack` can find them by name."""
    for m in _EVENT_MODULES:
        importlib.import_module(m)


def type_url(msg: Message) -> str:
    name: str = msg.DESCRIPTOR.full_name
    return name


def pack(msg: Message) -> any_pb2.Any:
    """Wrap a protobuf message as containerd does (type URL = full name)."""
    return any_pb2.Any(type_url=type_url(msg), value=msg.SerializeToString())


def pack_json(url: str, obj: _Any) -> any_pb2.Any:
    """Wrap a JSON-able object under a registered URL (e.g. the OCI spec)."""
    return any_pb2.Any(type_url=url, value=json.dumps(obj, separators=(",", ":")).encode())


def unpack_json(a: any_pb2.Any) -> _Any:
    """The JSON document inside ``a`` (None when empty).

    >>> unpack_json(any_pb2.Any(type_url=OCI_SPEC_URL, value=b"{"))
    Traceback (most recent call last):
    ...
    pyctrd.errdefs.InvalidArgument: types.containerd.io/opencontainers/runtime-spec/1/Spec: value is not JSON: ...

    Raises:
        InvalidArgument: the value is not JSON.
    """
    try:
        return json.loads(a.value or b"null")
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise InvalidArgument(f"{a.type_url[:200]}: value is not JSON: {str(exc)[:200]}") from None


def unpack(a: any_pb2.Any) -> Message:
    """The message inside ``a``.

    >>> unpack(any_pb2.Any(type_url="containerd.events.TaskExit", value=b"\\xff"))
    Traceback (most recent call last):
    ...
    pyctrd.errdefs.InvalidArgument: containerd.events.TaskExit: value does not decode: ...

    Raises:
        NotFound: the type is unknown here.
        InvalidArgument: the value is not that type's encoding.
    """
    name = a.type_url.rsplit("/", 1)[-1]
    try:
        desc = symbol_database.Default().pool.FindMessageTypeByName(name)
    except KeyError:
        register_events()
        try:
            desc = symbol_database.Default().pool.FindMessageTypeByName(name)
        except KeyError:
            raise NotFound(f"type with url {a.type_url}") from None
    msg = message_factory.GetMessageClass(desc)()
    try:
        msg.ParseFromString(a.value)
    except DecodeError as exc:
        raise InvalidArgument(f"{a.type_url[:200]}: value does not decode: {exc}") from None
    return msg
