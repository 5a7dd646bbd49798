"""Events: what happened, when, in which namespace - the daemon's nervous system.

Every change publishes an **envelope**: a timestamp, a namespace, a **topic** naming what
happened (``/namespaces/create``, ``/snapshot/commit``, ``/tasks/exit``) and the event itself
(a protobuf message such as ``containerd.events.TaskExit``). Subscribers (``ctr events``,
the notebook widgets) receive the envelopes that match their filters, e.g.
``topic=="/tasks/exit"`` or ``namespace==default``.

Three roles, as containerd's ``events`` package has them: a :class:`Publisher` publishes in
the current namespace, a :class:`Forwarder` passes on an envelope made elsewhere (a shim's),
a :class:`Subscriber` receives. The exchange (plugin ``io.containerd.event.v1`` ``exchange``)
is all three.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from google.protobuf.message import Message

from ... import identifiers
from ...errdefs import InvalidArgument

__all__ = ["Envelope", "Forwarder", "Publisher", "Subscriber", "validate_topic"]


@dataclass(frozen=True)
class Envelope:
    """One event as delivered: ``event`` is the decoded message (or None if unknown here)."""

    timestamp: datetime
    namespace: str
    topic: str
    event: Message | None

    def __repr__(self) -> str:
        return f"<Envelope {self.namespace} {self.topic}>"


def validate_topic(topic: str) -> None:
    """containerd's rules: starts with ``/``, each component a valid identifier.

    >>> validate_topic("/tasks/exit")
    >>> validate_topic("tasks")
    Traceback (most recent call last):
    ...
    pyctrd.errdefs.InvalidArgument: topic "tasks": must start with '/': invalid argument
    """
    if not topic:
        raise InvalidArgument("topic must not be empty")
    if topic[0] != "/":
        raise InvalidArgument(f"topic \"{topic}\": must start with '/'")
    if len(topic) == 1:
        raise InvalidArgument(f'topic "{topic}": must have at least one component')
    for component in topic[1:].split("/"):
        try:
            identifiers.validate(component)
        except InvalidArgument as exc:
            raise InvalidArgument(f'topic "{topic}": failed validation on component "{component}": '
                                  f"{exc.what}") from None


@runtime_checkable
class Publisher(Protocol):
    def publish(self, topic: str, event: Message) -> None:
        """Publish in the current namespace. Raises InvalidArgument for a bad topic."""


@runtime_checkable
class Forwarder(Protocol):
    def forward(self, envelope: Envelope) -> None:
        """Pass on an envelope as it is. Raises InvalidArgument for a bad topic or namespace."""


@runtime_checkable
class Subscriber(Protocol):
    def subscribe(self, *filters: str) -> AsyncIterator[Envelope]:
        """Envelopes matching any filter, from now on. Raises InvalidArgument for bad filters."""
