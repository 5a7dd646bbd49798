"""ttrpc for asyncio: how containerd and its shims talk (unary calls, as in containerd 1.6).

The pieces, bottom up:

- :mod:`~pyctrd.ttrpc.framing`: the 10-byte frame header and the 4 MiB limit.
- :mod:`~pyctrd.ttrpc.messages`: the ``Request``/``Response`` envelopes and status codes.
- :mod:`~pyctrd.ttrpc.sockets`: unix addresses, peer credentials, safe socket creation.
- :mod:`~pyctrd.ttrpc.client`: :func:`connect` and :class:`Client` (many calls, one connection).
- :mod:`~pyctrd.ttrpc.stub`: :class:`Stub`, a client for a whole protobuf service.
- :mod:`~pyctrd.ttrpc.server`: :class:`Server`; inside handlers, :func:`current_metadata`
  (:mod:`~pyctrd.ttrpc.call_context`).

Talking to a shim::

    from pyctrd import ttrpc
    from pyctrd._api.containerd.runtime.v2.task import shim_pb2

    async with await ttrpc.connect("unix:///run/containerd/s/4c1d...") as client:
        task = ttrpc.Stub(client, shim_pb2.DESCRIPTOR.services_by_name["Task"])
        reply = await task.Connect(shim_pb2.ConnectRequest(id="c1"), timeout=5)
        print(reply.shim_pid)
"""
from __future__ import annotations

from .call_context import CallInfo, current_call, current_metadata
from .client import Client, connect
from .framing import MAX_MESSAGE_LENGTH, MessageTooLarge
from .server import Server
from .stub import Stub

__all__ = [
    "MAX_MESSAGE_LENGTH",
    "CallInfo",
    "Client",
    "MessageTooLarge",
    "Server",
    "Stub",
    "connect",
    "current_call",
    "current_metadata",
]
