"""The current namespace, carried like containerd carries it: in the call's context.

containerd threads a ``context.Context`` through every call and reads the namespace from it.
pyctrd uses a :mod:`contextvars` variable instead, so interfaces (content store,
snapshotter, ...) keep containerd's method signatures with no ``namespace`` parameter. The
gRPC layer sets it from the ``containerd-namespace`` header for the duration of a request;
:func:`asyncio.to_thread` copies it into worker threads.

>>> get()
'default'
>>> with namespace("lab"):
...     get()
'lab'
>>> with namespace("../x"):
...     pass
Traceback (most recent call last):
...
pyctrd.errdefs.InvalidArgument: identifier "../x" must match ^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$: invalid argument
"""
from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from .. import identifiers

__all__ = ["DEFAULT", "GRPC_HEADER", "TTRPC_HEADER", "get", "namespace", "set_current"]

DEFAULT = "default"
#: gRPC metadata key carrying the namespace (containerd's ``namespaces.GRPCHeader``).
GRPC_HEADER = "containerd-namespace"
#: ttrpc metadata key (containerd's ``namespaces.TTRPCHeader``).
TTRPC_HEADER = "containerd-namespace-ttrpc"

_current: contextvars.ContextVar[str] = contextvars.ContextVar("pyctrd_namespace", default=DEFAULT)


def get() -> str:
    """The namespace of the current call (``default`` when none was given)."""
    return _current.get()


def set_current(ns: str) -> contextvars.Token[str]:
    """Set the namespace for the rest of this context (validated); returns a reset token."""
    identifiers.validate(ns)
    return _current.set(ns)


@contextmanager
def namespace(ns: str) -> Iterator[str]:
    """Run a block in namespace ``ns``."""
    token = set_current(ns)
    try:
        yield ns
    finally:
        _current.reset(token)
