"""Registers the event exchange."""
from __future__ import annotations

import asyncio

from ....plugin import InitContext, Registration, register, types
from .exchange import Exchange


def _init(ic: InitContext) -> Exchange:
    return ic.events if isinstance(ic.events, Exchange) else Exchange(asyncio.get_event_loop())


registration = register(Registration(type=types.EVENT, id="exchange", init=_init,
                                     doc="Publishes events and fans them out to subscribers"))
