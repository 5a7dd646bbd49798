"""Registers the local content store as ``io.containerd.content.v1.content``."""
from __future__ import annotations

from ....plugin import InitContext, Registration, register, types
from .store import LocalStore


def init(ic: InitContext) -> LocalStore:
    """The store at the plugin's root; ``plugins ls -d`` shows that root as its one export."""
    store = LocalStore(ic.root)
    ic.meta.exports["root"] = str(ic.root)
    return store


REGISTRATION = register(Registration(type=types.CONTENT, id="content", init=init,
                                     doc="blobs by digest and resumable ingests, on local disk"))
