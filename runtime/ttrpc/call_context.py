"""What a ttrpc handler knows about the call it serves: metadata, deadline, peer.

Go handlers receive a ``context.Context`` carrying the call's metadata and deadline. Our
handlers keep the plain ``async def Method(self, request)`` signature and ask instead:
:func:`current_metadata` or :func:`current_call` read a :mod:`contextvars` variable that the
server sets in the task it runs each call in, so concurrent calls never see each other's.

>>> current_metadata()
Traceback (most recent call last):
...
pyctrd.errdefs.FailedPrecondition: not inside a ttrpc call: failed precondition
"""
from __future__ import annotations

import contextvars
from dataclasses import dataclass, field

from .. import errdefs
from .sockets import PeerCredentials

__all__ = ["CallInfo", "current_call", "current_metadata", "enter_call"]


@dataclass(frozen=True)
class CallInfo:
    """What a handler may want to know about the call it is serving (see :func:`current_call`).

    ``deadline`` is on the event loop's clock (``loop.time()``), ``None`` without one.
    """

    service: str
    method: str
    metadata: dict[str, list[str]] = field(default_factory=dict)
    deadline: float | None = None
    peer: PeerCredentials | None = None

    def __repr__(self) -> str:
        return f"<CallInfo {self.service}/{self.method} metadata={sorted(self.metadata)}>"


_current_call: contextvars.ContextVar[CallInfo] = contextvars.ContextVar("ttrpc_call")


def current_call() -> CallInfo:
    """The call the running handler serves (each handler runs in its own task and context).

    Raises:
        FailedPrecondition: not called from inside a ttrpc handler.
    """
    try:
        return _current_call.get()
    except LookupError:
        raise errdefs.FailedPrecondition("not inside a ttrpc call") from None


def current_metadata() -> dict[str, list[str]]:
    """The metadata of the call being served, ``{key: [values...]}`` (keys lower-case).

    Raises:
        FailedPrecondition: not called from inside a ttrpc handler.
    """
    return current_call().metadata


def enter_call(call: CallInfo) -> None:
    """Make ``call`` the current one for the rest of this task (the server calls this)."""
    _current_call.set(call)
