"""Go's ``text/tabwriter``, so pyctr's tables line up exactly like ctr's.

Text is cut into cells at tabs; a cell that ends in a tab belongs to a column. Consecutive
lines that have a cell in the same column form a *column block*, padded to the block's
widest cell (plus ``padding``, at least ``minwidth``). A line without any tab ends all
blocks. That is all ``ctr`` relies on. With ``padchar="\\t"`` (``ctr content ls``) cells are
padded with tabs to the next multiple of ``tabwidth`` past the column's width, as Go does.

>>> w = TabWriter(minwidth=4, padding=4)
>>> w.write("TYPE\\tID\\t\\n")
>>> w.write("io.containerd.content.v1\\tcontent\\t\\n")
>>> print(w.getvalue(), end="")
TYPE                        ID         
io.containerd.content.v1    content    
>>> w = TabWriter(minwidth=1, padding=1, padchar="\\t")
>>> w.write("DIGEST\\tSIZE\\n")
>>> w.write("sha256:0123456789\\t12B\\n")
>>> w.getvalue()
'DIGEST\\t\\t\\tSIZE\\nsha256:0123456789\\t12B\\n'
"""
from __future__ import annotations

import sys
from typing import Any, TextIO, cast

__all__ = ["TabWriter", "stdout", "table"]


def stdout() -> TextIO:
    """click's stdout (CliRunner's capture in tests); typed, which click 8.5's own is not."""
    import click

    get: Any = click.get_text_stream
    return cast("TextIO", get("stdout"))


class TabWriter:
    def __init__(self, out: TextIO | None = None, *, minwidth: int = 0, padding: int = 1,
                 padchar: str = " ", tabwidth: int = 8) -> None:
        self.out = out
        self.minwidth, self.padding, self.padchar, self.tabwidth = minwidth, padding, padchar, tabwidth
        self._lines: list[list[str]] = []
        self._partial = ""
        self._buf: list[str] = []

    def write(self, text: str) -> None:
        data = self._partial + text
        *complete, self._partial = data.split("\n")
        for line in complete:
            cells = line.split("\t")
            self._lines.append(cells)
            if len(cells) == 1:
                self._flush_lines()

    def _flush_lines(self) -> None:
        self._format(0, len(self._lines), [])
        self._lines = []

    def _format(self, line0: int, line1: int, widths: list[int]) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(self._lines[this]) - 1:
                this += 1
                continue
            self._write_lines(line0, this, widths)
            line0 = this
            width = self.minwidth
            while this < line1 and column < len(self._lines[this]) - 1:
                width = max(width, len(self._lines[this][column]) + self.padding)
                this += 1
            self._format(line0, this, [*widths, width])
            line0 = this
        self._write_lines(line0, line1, widths)

    def _write_lines(self, line0: int, line1: int, widths: list[int]) -> None:
        for cells in self._lines[line0:line1]:
            out = []
            for j, c in enumerate(cells):
                out.append(c)
                if j < len(widths) and j < len(cells) - 1:
                    out.append(self._padding(len(c), widths[j]))
            self._emit("".join(out) + "\n")

    def _padding(self, textw: int, cellw: int) -> str:
        if self.padchar != "\t":
            return self.padchar * max(0, cellw - textw)
        cellw = -(-cellw // self.tabwidth) * self.tabwidth  # round up to a tab stop
        return "\t" * -(-(cellw - textw) // self.tabwidth)

    def _emit(self, s: str) -> None:
        if self.out is None:
            self._buf.append(s)
        else:
            self.out.write(s)

    def flush(self) -> None:
        if self._partial:
            self._lines.append(self._partial.split("\t"))
            self._partial = ""
        self._flush_lines()
        if self.out is not None:
            self.out.flush()

    def getvalue(self) -> str:
        self.flush()
        return "".join(self._buf)


def table(rows: list[list[str]], *, minwidth: int = 4, padding: int = 4, out: TextIO | None = None) -> None:
    """Print rows the way ctr does (every cell tab-terminated)."""
    w = TabWriter(out or sys.stdout, minwidth=minwidth, padding=padding)
    for r in rows:
        w.write("\t".join(r) + "\t\n")
    w.flush()
