"""The two envelope messages every ttrpc body is, built at import time from a descriptor.

A frame's body is one of two protobuf messages (Go's ``ttrpc/types.go``)::

    message KeyValue { string key = 1; string value = 2; }
    message Request {
        string service = 1;          // "containerd.task.v2.Task"
        string method = 2;           // "Connect"
        bytes payload = 3;           // the serialized ConnectRequest
        int64 timeout_nano = 4;      // time left until the caller's deadline; 0 = none
        repeated KeyValue metadata = 5;
    }
    message Response {
        google.rpc.Status status = 1;  // code 0 (OK) or the error
        bytes payload = 2;             // the serialized ConnectResponse
    }

The payload is a message *inside* a message: the envelope does not know the method's types,
only the two ends do. There is no ``.proto`` file for these in containerd 1.6 (Go declares
the structs by hand), so we describe them with a ``FileDescriptorProto`` and let protobuf
make the classes. Status codes are gRPC's numbers (:class:`pyctrd.errdefs.Code`; grpc itself
is never imported here); :func:`error_for_status` turns a non-OK one into the matching
:mod:`pyctrd.errdefs` kind through the single table ``errdefs.CODES``.

>>> req = Request(service="containerd.task.v2.Task", method="Connect", timeout_nano=10**9)
>>> Request.FromString(req.SerializeToString()).method
'Connect'
>>> status(errdefs.Code.NOT_FOUND, "container x: not found").code
5
>>> error_for_status(status(5, "container x: not found"))
NotFound('container x: not found')
>>> decode_metadata(encode_metadata({"Containerd-Namespace-TTRPC": "lab", "x": ["1", "2"]}))
{'containerd-namespace-ttrpc': ['lab'], 'x': ['1', '2']}
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.rpc import status_pb2

from .. import errdefs

if TYPE_CHECKING:
    import grpc

__all__ = [
    "KeyValue",
    "Metadata",
    "Request",
    "Response",
    "Status",
    "decode_metadata",
    "encode_metadata",
    "error_for_status",
    "status",
    "status_code",
    "status_for_exception",
]

#: What callers pass as metadata: one value or several per key.
Metadata = Mapping[str, str | Sequence[str]]
Status = status_pb2.Status

_FILE_NAME = "pyctrd/ttrpc/envelope.proto"
_F = descriptor_pb2.FieldDescriptorProto


def _envelope_file() -> descriptor_pb2.FileDescriptorProto:
    """Describe KeyValue, Request and Response (package ``ttrpc``, as in Go)."""
    file = descriptor_pb2.FileDescriptorProto(
        name=_FILE_NAME, package="ttrpc", syntax="proto3",
        dependency=[status_pb2.DESCRIPTOR.name])

    def message(name: str, *fields: tuple[str, int, int, str]) -> None:
        msg = file.message_type.add(name=name)
        for field_name, number, kind, type_name in fields:
            added = msg.field.add(name=field_name, number=number, type=kind,
                                  label=_F.LABEL_REPEATED if field_name == "metadata" else _F.LABEL_OPTIONAL)
            if type_name:  # only message fields name their type
                added.type_name = type_name

    message("KeyValue", ("key", 1, _F.TYPE_STRING, ""), ("value", 2, _F.TYPE_STRING, ""))
    message("Request",
            ("service", 1, _F.TYPE_STRING, ""), ("method", 2, _F.TYPE_STRING, ""),
            ("payload", 3, _F.TYPE_BYTES, ""), ("timeout_nano", 4, _F.TYPE_INT64, ""),
            ("metadata", 5, _F.TYPE_MESSAGE, ".ttrpc.KeyValue"))
    message("Response",
            ("status", 1, _F.TYPE_MESSAGE, ".google.rpc.Status"), ("payload", 2, _F.TYPE_BYTES, ""))
    return file


def _load() -> Any:
    pool = descriptor_pool.Default()
    try:
        return pool.FindFileByName(_FILE_NAME)
    except KeyError:
        return pool.AddSerializedFile(_envelope_file().SerializeToString())


_file = _load()
KeyValue: Any = message_factory.GetMessageClass(_file.message_types_by_name["KeyValue"])
Request: Any = message_factory.GetMessageClass(_file.message_types_by_name["Request"])
Response: Any = message_factory.GetMessageClass(_file.message_types_by_name["Response"])

def status_code(number: int) -> grpc.StatusCode:
    """The ``grpc.StatusCode`` for a wire number (numbers gRPC does not define: UNKNOWN).

    For gRPC-facing callers only: it imports grpc.
    """
    import grpc

    for code in grpc.StatusCode:
        if code.value[0] == number:
            return code
    return grpc.StatusCode.UNKNOWN


def status(code: int | grpc.StatusCode, message: str = "") -> Any:
    """A ``google.rpc.Status`` message for a code number (an ``errdefs.Code``, or a grpc code)."""
    number = code if isinstance(code, int) else code.value[0]
    return Status(code=int(number), message=message)


def status_for_exception(exc: BaseException) -> Any:
    """The status a server sends back for an exception its handler raised (``errdefs.to_status``)."""
    return status(*errdefs.to_status(exc))


def error_for_status(st: Any) -> errdefs.PyctrdError:
    """The pyctrd error a client raises for a non-OK status (``errdefs.from_status``)."""
    return errdefs.from_status(st.code, st.message)


def encode_metadata(metadata: Metadata | None) -> list[Any]:
    """Metadata as ``KeyValue`` pairs: keys lower-cased, one pair per value (Go's ``MD``)."""
    pairs = []
    for key, values in (metadata or {}).items():
        for value in [values] if isinstance(values, str) else values:
            pairs.append(KeyValue(key=key.lower(), value=value))
    return pairs


def decode_metadata(pairs: Iterable[Any]) -> dict[str, list[str]]:
    """``KeyValue`` pairs back into ``{key: [values...]}``, keeping their order."""
    metadata: dict[str, list[str]] = {}
    for pair in pairs:
        metadata.setdefault(pair.key, []).append(pair.value)
    return metadata
