"""Leases: how a client tells the garbage collector "I am still using this".

A lease is a named record (with labels such as ``containerd.io/gc.expire``) to which
resources are attached: blobs, ingests, snapshots, images. While a lease exists, what it
holds is a GC root. A pull runs inside a lease so that half-fetched content is not
collected before the image record that references it is created.

A call joins a lease through the ``containerd-lease`` gRPC header; in-process code uses the
:func:`lease` context manager. Everything created during the call is attached to it.

>>> current() is None
True
>>> with lease("pull-1"):
...     current()
'pull-1'
"""
from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["GRPC_HEADER", "current", "lease", "set_current"]

#: gRPC metadata key carrying the lease ID (containerd's ``leases.GRPCHeader``).
GRPC_HEADER = "containerd-lease"

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("pyctrd_lease", default=None)


def current() -> str | None:
    """The lease the current call runs in, if any."""
    return _current.get()


def set_current(lease_id: str | None) -> contextvars.Token[str | None]:
    return _current.set(lease_id or None)


@contextmanager
def lease(lease_id: str) -> Iterator[str]:
    token = _current.set(lease_id)
    try:
        yield lease_id
    finally:
        _current.reset(token)
