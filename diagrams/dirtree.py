"""What the daemon leaves on disk: root and state directory trees, and what changed.

containerd's directories *are* its architecture: ``<root>/<type>.<id>`` per plugin,
``<state>/...`` for sockets and running things. :func:`scan` records a tree (down to
``max_depth``; mount points are marked, never entered); :func:`dir_tree` renders one,
collapsing big directories (a content store's blobs are counted, not listed by the
thousand) and, given the ``previous`` snapshot, marking what was added (+), removed (-) or
changed (~)::

    before = scan(lab.root)
    client.namespaces.create("demo")
    dir_tree(lab.root, previous=before)          # text in a terminal, coloured HTML in Jupyter

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "a").mkdir(), (d / "a" / "f").write_text("x")
>>> before = scan(d)
>>> _ = (d / "b").write_text("yy")
>>> print(dir_tree(d, previous=before).text(header=False))
├── a
│   └── f  1 B
└── + b  2 B
<BLANKLINE>
1 directory, 2 files  (+ 1 added)
>>> import shutil; shutil.rmtree(d)
"""
from __future__ import annotations

import html
import os
import re
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import graphviz

from .style import CHANGE_COLOUR, FONT

__all__ = ["Changes", "DirSnapshot", "DirTree", "Entry", "dir_tree", "human_size", "scan"]

_MARK = {"added": "+", "removed": "-", "changed": "~"}


def human_size(n: int) -> str:
    """
    >>> human_size(10), human_size(2048), human_size(5 * 1024 ** 3)
    ('10 B', '2.0 KiB', '5.0 GiB')
    """
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Entry:
    """One thing in the tree. ``path`` is relative ('/'-separated; '' is the top)."""

    path: str
    kind: str  # dir, file, socket, fifo, symlink, mount, other
    size: int = 0
    mtime_ns: int = 0
    note: str = ""  # symlink target, mount fstype
    unscanned: int | None = None  # a dir below max_depth (or a mount): how many entries it holds

    @property
    def name(self) -> str:
        return self.path.rpartition("/")[2]

    def same_as(self, other: Entry) -> bool:
        """Unchanged? Files by size and mtime; scanned dirs by their children (compared apart)."""
        if self.kind != other.kind or self.note != other.note:
            return False
        if self.kind == "file":
            return (self.size, self.mtime_ns) == (other.size, other.mtime_ns)
        if self.unscanned is not None or other.unscanned is not None:
            return (self.unscanned, self.mtime_ns) == (other.unscanned, other.mtime_ns)
        return True


def _mountpoints(top: str) -> dict[str, str]:
    """Mount points at or below ``top`` -> fstype (from /proc/self/mountinfo)."""
    out: dict[str, str] = {}
    try:
        text = Path("/proc/self/mountinfo").read_text(errors="surrogateescape")
    except OSError:
        return out
    for line in text.splitlines():
        fields = line.split()
        mp = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
        if mp == top or mp.startswith(top.rstrip("/") + "/"):
            out[mp] = fields[fields.index("-") + 1]
    return out


@dataclass(frozen=True)
class DirSnapshot:
    """A directory tree at one moment: ``entries`` maps relative path -> :class:`Entry`."""

    root: Path
    entries: Mapping[str, Entry]
    max_depth: int = 4

    def __repr__(self) -> str:
        return f"<DirSnapshot {self.root} {len(self.entries) - 1} entries>"

    def changes(self, previous: DirSnapshot | None) -> Changes:
        """What is new, gone or different compared with ``previous`` (nothing if None)."""
        if previous is None:
            return Changes()
        now, before = self.entries, previous.entries
        return Changes(frozenset(now.keys() - before.keys()), frozenset(before.keys() - now.keys()),
                       frozenset(p for p in now.keys() & before.keys() if not now[p].same_as(before[p])))


@dataclass(frozen=True)
class Changes:
    added: frozenset[str] = frozenset()
    removed: frozenset[str] = frozenset()
    changed: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def __repr__(self) -> str:
        return f"<Changes +{len(self.added)} -{len(self.removed)} ~{len(self.changed)}>"

    def of(self, path: str) -> str:
        """'added', 'removed', 'changed' or '' for ``path``."""
        for what in ("added", "removed", "changed"):
            if path in getattr(self, what):
                return what
        return ""

    def summary(self) -> str:
        parts = [f"{_MARK[w]} {n} {w}" for w in ("added", "removed", "changed") if (n := len(getattr(self, w)))]
        return ", ".join(parts)


def scan(path: str | os.PathLike[str], *, max_depth: int = 4) -> DirSnapshot:
    """Record the tree under ``path``: every entry down to ``max_depth`` levels; deeper
    directories and mount points are recorded with a count of what they hold, not entered."""
    top = Path(path).resolve()
    mounts = _mountpoints(str(top))
    entries: dict[str, Entry] = {}

    def visit(abs_: str, rel: str, depth: int) -> None:
        try:
            st = os.lstat(abs_)
        except OSError:
            return  # gone while we looked
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            if rel and abs_ in mounts:
                entries[rel] = Entry(rel, "mount", 0, st.st_mtime_ns, mounts[abs_], _count(abs_))
                return
            if depth >= max_depth:
                entries[rel] = Entry(rel, "dir", 0, st.st_mtime_ns, unscanned=_count(abs_))
                return
            entries[rel] = Entry(rel, "dir", 0, st.st_mtime_ns)
            try:
                names = os.listdir(abs_)
            except OSError:
                return
            for name in names:
                visit(os.path.join(abs_, name), f"{rel}/{name}" if rel else name, depth + 1)
            return
        if stat.S_ISLNK(mode):
            kind, note = "symlink", os.readlink(abs_)
        elif stat.S_ISSOCK(mode):
            kind, note = "socket", ""
        elif stat.S_ISFIFO(mode):
            kind, note = "fifo", ""
        elif stat.S_ISREG(mode):
            kind, note = "file", ""
        else:
            kind, note = "other", ""
        entries[rel] = Entry(rel, kind, st.st_size if kind == "file" else 0, st.st_mtime_ns, note)

    visit(str(top), "", 0)
    return DirSnapshot(top, entries, max_depth)


def _count(path: str) -> int:
    try:
        return len(os.listdir(path))
    except OSError:
        return 0


@dataclass(frozen=True)
class _Row:
    path: str
    name: str
    lasts: tuple[bool, ...]  # for each level: is this (or the ancestor) the last child?
    entry: Entry | None  # None: a summary row for collapsed children
    change: str = ""
    note: str = ""

    @property
    def prefix(self) -> str:
        if not self.lasts:
            return ""
        head = "".join("    " if last else "│   " for last in self.lasts[:-1])
        return head + ("└── " if self.lasts[-1] else "├── ")


def _describe(e: Entry) -> str:
    if e.kind == "file":
        return human_size(e.size)
    if e.kind == "symlink":
        return f"-> {e.note}"
    if e.kind == "mount":
        return f"[mount {e.note}, {e.unscanned} entries]"
    if e.kind in ("socket", "fifo"):
        return f"[{e.kind}]"
    if e.unscanned is not None:
        return f"… {e.unscanned} entries"
    return ""


@dataclass
class DirTree:
    """A rendered tree: ``.text()``, ``.html()``, ``.digraph()``, rich, and Jupyter display.

    Directories with more than ``max_entries`` children are collapsed to a count line
    (children that changed are still listed, so a new blob stands out among thousands).
    """

    snapshot: DirSnapshot
    previous: DirSnapshot | None = None
    max_entries: int = 12
    title: str = ""
    changes: Changes = field(init=False)

    def __post_init__(self) -> None:
        self.changes = self.snapshot.changes(self.previous)

    def __repr__(self) -> str:
        return f"<DirTree {self.snapshot.root} {len(self.snapshot.entries) - 1} entries {self.changes!r}>"

    def _entry(self, path: str) -> Entry | None:
        e = self.snapshot.entries.get(path)
        if e is None and self.previous is not None:
            e = self.previous.entries.get(path)
        return e

    def rows(self) -> Iterator[_Row]:
        """The lines of the tree, top first (the top directory itself is not a row)."""
        kids: dict[str, list[str]] = {}
        everything = set(self.snapshot.entries) | set(self.changes.removed)
        for p in everything:
            if p:
                kids.setdefault(p.rpartition("/")[0], []).append(p)

        def walk(parent: str, lasts: tuple[bool, ...]) -> Iterator[_Row]:
            children = sorted(kids.get(parent, []))
            shown = children
            hidden: list[str] = []
            if len(children) > self.max_entries:
                changed = [c for c in children if self.changes.of(c)]
                shown = changed[: self.max_entries]
                hidden = [c for c in children if c not in shown]
            for i, child in enumerate(shown):
                e = self._entry(child)
                assert e is not None
                last = i == len(shown) - 1 and not hidden
                yield _Row(child, e.name, (*lasts, last), e, self.changes.of(child), _describe(e))
                if e.kind == "dir" and e.unscanned is None:
                    yield from walk(child, (*lasts, last))
            if hidden:
                entries = [e for c in hidden if (e := self._entry(c))]
                files = [e for e in entries if e.kind == "file"]
                dirs = len(entries) - len(files)
                what = ", ".join(x for x in (f"{len(files)} files" if files else "",
                                             f"{dirs} others" if dirs else "") if x)
                size = sum(e.size for e in files)
                yield _Row(f"{parent}/…", f"… {len(hidden)} more", (*lasts, True), None, "",
                           f"({what}, {human_size(size)})" if files else f"({what})")

        return walk("", ())

    def _counts(self) -> tuple[int, int]:
        es = self.snapshot.entries.values()
        dirs = sum(1 for e in es if e.kind in ("dir", "mount") and e.path)
        return dirs, len(self.snapshot.entries) - 1 - dirs

    def text(self, *, header: bool = True) -> str:
        """Like ``tree``: one line per entry, ``+``/``-``/``~`` before what changed."""
        lines = [self.title or str(self.snapshot.root)] if header else []
        for r in self.rows():
            mark = f"{_MARK[r.change]} " if r.change else ""
            lines.append(f"{r.prefix}{mark}{r.name}{'  ' + r.note if r.note else ''}")
        dirs, files = self._counts()
        tail = f"{dirs} director{'y' if dirs == 1 else 'ies'}, {files} file{'' if files == 1 else 's'}"
        if self.changes:
            tail += f"  ({self.changes.summary()})"
        return "\n".join([*lines, "", tail])

    def html(self) -> str:
        """A ``<pre>`` with changed lines coloured (class ``pyctrd-changed`` for flashing)."""
        out = [f"<b>{html.escape(self.title or str(self.snapshot.root))}</b>"]
        for r in self.rows():
            text = html.escape(f"{r.prefix}{_MARK[r.change] + ' ' if r.change else ''}{r.name}")
            note = f" <span style='color:#78909c'>{html.escape(r.note)}</span>" if r.note else ""
            if r.change:
                deco = "line-through" if r.change == "removed" else "none"
                text = (f"<span class='pyctrd-changed pyctrd-{r.change}' style='color:"
                        f"{CHANGE_COLOUR[r.change]};font-weight:bold;text-decoration:{deco}'>{text}</span>")
            out.append(text + note)
        dirs, files = self._counts()
        out.append(f"<span style='color:#78909c'>{dirs} directories, {files} files"
                   f"{'  (' + self.changes.summary() + ')' if self.changes else ''}</span>")
        return "<pre style='font-size:11px;line-height:1.25;margin:0'>" + "\n".join(out) + "</pre>"

    def digraph(self) -> graphviz.Digraph:
        """The same collapsed tree as a left-to-right graphviz drawing."""
        dot = graphviz.Digraph("dirtree", graph_attr={"rankdir": "LR", "fontname": FONT, "ranksep": "0.3",
                                                       "nodesep": "0.05"},
                               node_attr={"shape": "plaintext", "fontname": FONT, "fontsize": "10",
                                          "height": "0.2"},
                               edge_attr={"arrowhead": "none", "color": "#b0bec5"})
        dot.node("/", self.title or str(self.snapshot.root), fontsize="11")
        for r in self.rows():
            attrs: dict[str, Any] = {}
            if r.change:
                attrs = {"fontcolor": CHANGE_COLOUR[r.change], "style": "filled", "fillcolor": "#fffde7"}
            name = f"{_MARK[r.change]} {r.name}" if r.change else r.name
            if r.entry is not None and r.entry.kind == "dir" and r.entry.unscanned is None:
                name += "/"
            dot.node(r.path, f"{name}  {r.note}".strip(), **attrs)
            parent = r.path.rpartition("/")[0]
            dot.edge(parent or "/", r.path)
        return dot

    def __rich__(self) -> Any:
        from rich.text import Text
        from rich.tree import Tree

        colours = {"added": "bold green", "removed": "bold red strike", "changed": "bold yellow"}
        tree = Tree(Text(self.title or str(self.snapshot.root), style="bold"))
        stack: list[Any] = [tree]
        for r in self.rows():
            del stack[len(r.lasts):]
            label = Text(f"{_MARK[r.change]} " if r.change else "") + Text(r.name, style=colours.get(r.change, ""))
            if r.note:
                label.append(f"  {r.note}", style="dim")
            stack.append(stack[-1].add(label))
        return tree

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/plain": self.text(), "text/html": self.html()}


def dir_tree(path: str | os.PathLike[str] | DirSnapshot, *, previous: DirSnapshot | DirTree | None = None,
             max_entries: int = 12, max_depth: int = 4, title: str = "") -> DirTree:
    """Scan ``path`` (or take a snapshot) and render it, marking changes since ``previous``."""
    snap = path if isinstance(path, DirSnapshot) else scan(path, max_depth=max_depth)
    prev = previous.snapshot if isinstance(previous, DirTree) else previous
    return DirTree(snap, prev, max_entries, title)
