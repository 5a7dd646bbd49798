"""The list of known plugins and the order they initialise in.

:class:`Registry` keeps registrations in the order they were registered (``builtins.py``
decides it). :meth:`Registry.graph` computes the init order exactly as containerd's
``plugin.Graph`` does: walk registrations in order and, before each one, put (recursively)
every registration of each type it requires. A cycle raises :class:`DependencyCycle`
naming the plugins on it - containerd would recurse forever.

The registry can be inspected without a daemon (diagrams, notebooks):

>>> from pyctrd.plugin import Registration, Registry
>>> r = Registry()
>>> r.register(Registration(type="t.b", id="b", init=lambda ic: None, requires=("t.a",)))
>>> r.register(Registration(type="t.a", id="a", init=lambda ic: None))
>>> [x.uri for x in r.graph()]
['t.a.a', 't.b.b']
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

import networkx as nx

from ..errdefs import AlreadyExists, InvalidArgument
from . import types
from .registration import Registration

__all__ = ["REGISTRY", "DependencyCycle", "Registry", "register"]


class DependencyCycle(InvalidArgument):
    """The requires graph has a cycle; ``cycle`` lists the plugin URIs on it."""

    def __init__(self, cycle: list[str]) -> None:
        self.cycle = cycle
        super().__init__("plugin dependency cycle: " + " -> ".join([*cycle, cycle[0]]))


class Registry:
    """Registrations in registration order, with the requires graph over them."""

    def __init__(self) -> None:
        self._regs: list[Registration] = []

    def register(self, reg: Registration) -> None:
        """Add a registration; an existing ``type``+``id`` raises AlreadyExists."""
        if any(r.type == reg.type and r.id == reg.id for r in self._regs):
            raise AlreadyExists(f"plugin {reg.uri}")
        self._regs.append(reg)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(list(self._regs))

    def __len__(self) -> int:
        return len(self._regs)

    def get(self, type_: str, id_: str) -> Registration | None:
        return next((r for r in self._regs if r.type == type_ and r.id == id_), None)

    def requires_edges(self, regs: Iterable[Registration] | None = None) -> list[tuple[str, str]]:
        """Edges ``(plugin uri, required plugin uri)`` over the given (default: all) registrations."""
        regs = list(self._regs if regs is None else regs)
        edges = []
        for r in regs:
            for t in r.requires:
                for dep in regs:
                    if dep is not r and (dep.type == t or t == types.ALL):
                        edges.append((r.uri, dep.uri))
        return edges

    def dependency_graph(self, disabled: Callable[[Registration], bool] | None = None) -> nx.DiGraph:
        """A networkx DiGraph: node per plugin (uri), edge plugin -> what it requires."""
        regs = [r for r in self._regs if not (disabled and disabled(r))]
        g = nx.DiGraph()
        for r in regs:
            g.add_node(r.uri, type=r.type, id=r.id)
        g.add_edges_from(self.requires_edges(regs))
        return g

    def graph(self, disabled: Callable[[Registration], bool] | None = None) -> list[Registration]:
        """Init order: dependencies first, otherwise registration order (containerd's Graph)."""
        regs = [r for r in self._regs if not (disabled and disabled(r))]
        g = self.dependency_graph(disabled)
        try:
            cycle = nx.find_cycle(g)
        except nx.NetworkXNoCycle:
            pass
        else:
            raise DependencyCycle([a for a, _ in cycle])
        ordered: list[Registration] = []
        added: set[str] = set()

        def children(reg: Registration) -> None:
            for t in reg.requires:
                for dep in regs:
                    if dep.uri not in added and dep is not reg and (dep.type == t or t == types.ALL):
                        children(dep)
                        if dep.uri not in added:
                            ordered.append(dep)
                            added.add(dep.uri)

        for reg in regs:
            if reg.uri in added:
                continue
            children(reg)
            ordered.append(reg)
            added.add(reg.uri)
        return ordered


#: The default registry; ``plugin.py`` modules register into it, ``builtins.py`` imports them.
REGISTRY = Registry()


def register(reg: Registration) -> Registration:
    """Register ``reg`` in the default registry; returns it so plugin.py can keep a name."""
    REGISTRY.register(reg)
    return reg
