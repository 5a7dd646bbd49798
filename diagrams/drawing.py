"""A drawing that also reads as text: a ``graphviz.Digraph`` with a plain-text form beside it.

Notebooks show the graph as SVG (graphviz's own ``_repr_mimebundle_``); a terminal cannot, so
the function that builds the drawing also writes what it says as text. ``drawing.text()``
gives that text and ``rich.print(drawing)`` prints it (``__rich__``); ``print(drawing)`` still
prints the DOT source, as for any Digraph.

>>> d = Drawing("demo", text="a -> b")
>>> d.edge("a", "b")
>>> d.text(), "a -> b" in d.source, d.copy().text()
('a -> b', True, 'a -> b')
"""
from __future__ import annotations

from typing import Any

import graphviz

__all__ = ["Drawing"]


class Drawing(graphviz.Digraph):  # type: ignore[misc]  # graphviz is untyped
    """A Digraph carrying its text form (``text``); copies and subgraphs keep it."""

    def __init__(self, *args: Any, text: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.text_form = text

    def _copy_kwargs(self, **kwargs: Any) -> dict[str, Any]:
        return dict(super()._copy_kwargs(**kwargs), text=self.text_form)

    def text(self) -> str:
        """What the drawing shows, as plain text for a terminal."""
        return str(self.text_form)

    def __rich__(self) -> Any:
        from rich.text import Text

        return Text(self.text_form)
