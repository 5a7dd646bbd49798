"""The layer chain: committed snapshots named by chain ID, an active one on top, and its mount.

An image's layers become a *chain* of committed snapshots, each named by its chain ID and
pointing at its parent; a container gets an *active* snapshot on top. With overlayfs, the
active snapshot's mount is where it all comes together: ``lowerdir`` lists the committed
snapshots' directories **top first**, ``upperdir`` takes the writes, ``workdir`` is
overlayfs' scratch space. :func:`snapshot_chain` draws all of it, bottom (the base layer)
to top, from what the client library returns::

    sn = client.snapshotter("overlayfs")
    infos = list(sn.walk())
    mounts = {i.name: sn.mounts(i.name) for i in infos if i.kind != Kind.COMMITTED}
    snapshot_chain(infos, mounts=mounts, usage={i.name: sn.usage(i.name) for i in infos},
                   whiteouts=whiteouts_from_mounts(mounts))

Whiteouts are what a layer deletes from the ones below. On disk, overlayfs marks a deleted
file with a 0:0 character device and a directory whose old contents are hidden with the
xattr ``trusted.overlay.opaque=y``; a layer tar marks them ``.wh.<name>`` and
``.wh..wh..opq``. :func:`scan_whiteouts` reads the first (honestly: from the directories the
mounts name), :func:`whiteouts_in_tar` the second.

>>> from pyctrd.core.snapshots import Info, Kind
>>> infos = [Info(name="sha256:" + "a" * 64, kind=Kind.COMMITTED),
...          Info(name="c1", kind=Kind.ACTIVE, parent="sha256:" + "a" * 64)]
>>> print(snapshot_tree_text(infos))
sha256:aaaaaaaaaaaa…  COMMITTED
└── c1  ACTIVE
"""
from __future__ import annotations

import html
import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..core.mount import Mount
from ..core.snapshots import Info, Kind, Usage
from .dirtree import human_size
from .drawing import Drawing
from .style import FONT

__all__ = ["KIND_COLOUR", "OverlayMount", "Whiteout", "chain_summary", "layer_dirs", "overlay_mount",
           "scan_whiteouts", "select_chain", "short_key", "snapshot_chain", "snapshot_tree_text", "whiteouts_from_mounts",
           "whiteouts_in_tar"]

#: colours of the snapshot kinds (fill, border)
KIND_COLOUR = {Kind.COMMITTED: ("#e3f2fd", "#1565c0"), Kind.ACTIVE: ("#fff8e1", "#ef6c00"),
               Kind.VIEW: ("#f3e5f5", "#6a1b9a"), Kind.UNKNOWN: ("#f5f5f5", "#9e9e9e")}
HIGHLIGHT = "#c62828"


def short_key(key: str, n: int = 12) -> str:
    """A digest cut to ``n`` hex characters; other keys as they are.

    >>> short_key("sha256:" + "ab" * 32), short_key("c1")
    ('sha256:abababababab…', 'c1')
    """
    algo, sep, hexpart = key.partition(":")
    if sep and len(hexpart) > n and algo.startswith("sha"):
        return f"{algo}:{hexpart[:n]}…"
    return key


@dataclass(frozen=True)
class Whiteout:
    """A deletion in one layer: ``path`` hidden from the layers below, or (``opaque``) the
    directory ``path`` keeps only this layer's contents."""

    path: str
    opaque: bool = False

    def __repr__(self) -> str:
        return f"<Whiteout {self.path}{' opaque' if self.opaque else ''}>"

    def __str__(self) -> str:
        return f"{self.path}/ (opaque)" if self.opaque else f"{self.path} (deleted)"


def whiteouts_in_tar(names: Iterable[str]) -> list[Whiteout]:
    """The whiteouts of a layer, from the names in its tar (OCI image layer spec).

    >>> whiteouts_in_tar(["etc/", "etc/.wh.goodbye", "opt/data/.wh..wh..opq", "opt/data/a"])
    [<Whiteout etc/goodbye>, <Whiteout opt/data opaque>]
    """
    out = []
    for name in names:
        head, _, base = name.strip("/").removeprefix("./").rpartition("/")
        if base == ".wh..wh..opq":
            out.append(Whiteout(head, opaque=True))
        elif base.startswith(".wh."):
            out.append(Whiteout(f"{head}/{base[4:]}" if head else base[4:]))
    return sorted(out, key=lambda w: w.path)


def scan_whiteouts(directory: str | os.PathLike[str], limit: int = 2000) -> list[Whiteout]:
    """Overlayfs' whiteouts in one layer directory: 0:0 character devices (deleted files) and
    directories with ``trusted.overlay.opaque=y``. Looks at ``limit`` entries at most; a
    directory that cannot be read gives ``[]``."""
    top = os.fspath(directory)
    out: list[Whiteout] = []
    seen = 0
    for parent, dirs, files in os.walk(top):
        rel = os.path.relpath(parent, top)
        rel = "" if rel == "." else rel
        for name in dirs:
            try:
                if os.getxattr(os.path.join(parent, name), "trusted.overlay.opaque", follow_symlinks=False) == b"y":
                    out.append(Whiteout(os.path.join(rel, name), opaque=True))
            except OSError:
                pass
        for name in files:
            seen += 1
            try:
                st = os.lstat(os.path.join(parent, name))
            except OSError:
                continue
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                out.append(Whiteout(os.path.join(rel, name)))
        if seen > limit:
            break
    return sorted(out, key=lambda w: w.path)


@dataclass(frozen=True)
class OverlayMount:
    """An overlay mount taken apart: ``lowerdirs`` top first, ``upperdir`` and ``workdir`` ("" for
    a read-only view); a bind mount has ``type`` "bind" and its directory as ``upperdir`` (rw)
    or as the only lowerdir (ro)."""

    type: str
    lowerdirs: tuple[str, ...] = ()
    upperdir: str = ""
    workdir: str = ""

    def __repr__(self) -> str:
        return f"<OverlayMount {self.type} lower={len(self.lowerdirs)} upper={self.upperdir or '-'}>"


def overlay_mount(mounts: Sequence[Mount]) -> OverlayMount | None:
    """What the (first) mount says about the layers.

    >>> m = Mount("overlay", "overlay", ["index=off", "workdir=/s/3/work", "upperdir=/s/3/fs",
    ...                                  "lowerdir=/s/2/fs:/s/1/fs"])
    >>> overlay_mount([m])
    <OverlayMount overlay lower=2 upper=/s/3/fs>
    >>> overlay_mount([Mount("bind", "/s/1/fs", ["ro", "rbind"])]).lowerdirs
    ('/s/1/fs',)
    """
    if not mounts:
        return None
    m = mounts[0]
    if m.type == "bind":
        ro = "ro" in m.options
        return OverlayMount("bind", (m.source,) if ro else (), "" if ro else m.source)
    opts = dict(o.partition("=")[::2] for o in m.options)
    lower = tuple(x for x in opts.get("lowerdir", "").split(":") if x)
    return OverlayMount(m.type, lower, opts.get("upperdir", ""), opts.get("workdir", ""))


def _ancestors(key: str, by_name: Mapping[str, Info]) -> list[str]:
    out, seen = [], {key}
    parent = by_name[key].parent if key in by_name else ""
    while parent and parent not in seen:
        out.append(parent)
        seen.add(parent)
        parent = by_name[parent].parent if parent in by_name else ""
    return out


def select_chain(infos: Iterable[Info], key: str) -> list[Info]:
    """``key`` and its ancestors, base layer first (``[]`` when ``key`` is not listed).

    >>> infos = [Info(name="a", kind=Kind.COMMITTED), Info(name="b", kind=Kind.COMMITTED, parent="a"),
    ...          Info(name="x", kind=Kind.COMMITTED), Info(name="c", kind=Kind.ACTIVE, parent="b")]
    >>> [i.name for i in select_chain(infos, "c")]
    ['a', 'b', 'c']
    """
    by_name = {i.name: i for i in infos}
    if key not in by_name:
        return []
    return [by_name[n] for n in reversed([key, *_ancestors(key, by_name)]) if n in by_name]


def layer_dirs(infos: Iterable[Info], mounts: Mapping[str, Sequence[Mount]]) -> dict[str, str]:
    """Snapshot name -> its directory, as the mounts reveal it: an active snapshot's upperdir,
    and for its ancestors lowerdir[0], lowerdir[1], … in order."""
    by_name = {i.name: i for i in infos}
    dirs: dict[str, str] = {}
    for key, ms in mounts.items():
        om = overlay_mount(ms)
        if om is None:
            continue
        if om.upperdir:
            dirs[key] = om.upperdir
        chain = _ancestors(key, by_name)
        for name, d in zip(chain, om.lowerdirs, strict=False):
            dirs.setdefault(name, d)
    return dirs


def whiteouts_from_mounts(infos: Iterable[Info], mounts: Mapping[str, Sequence[Mount]]) -> dict[str, list[Whiteout]]:
    """:func:`scan_whiteouts` on every layer directory the mounts name (see :func:`layer_dirs`)."""
    return {name: scan_whiteouts(d) for name, d in layer_dirs(infos, mounts).items()}


def snapshot_tree_text(infos: Iterable[Info]) -> str:
    """The chains as text, like ``ctr snapshots tree`` (with the kind of each)."""
    infos = sorted(infos, key=lambda i: i.name)
    names = {i.name for i in infos}
    kids: dict[str, list[Info]] = {}
    for i in infos:
        kids.setdefault(i.parent if i.parent in names else "", []).append(i)
    lines: list[str] = []

    def walk(info: Info, prefix: str, last: bool, top: bool) -> None:
        branch = "" if top else ("└── " if last else "├── ")
        lines.append(f"{prefix}{branch}{short_key(info.name)}  {info.kind.name}")
        below = kids.get(info.name, [])
        for n, k in enumerate(below):
            walk(k, prefix if top else prefix + ("    " if last else "│   "), n == len(below) - 1, False)

    for root in kids.get("", []):
        walk(root, "", True, True)
    return "\n".join(lines)


def _row(text: str, colour: str = "#37474f", size: int = 10) -> str:
    return f"<tr><td align='left'><font point-size='{size}' color='{colour}'>{text}</font></td></tr>"


def snapshot_chain(snapshots: Iterable[Info], *, mounts: Mapping[str, Sequence[Mount]] | None = None,
                   usage: Mapping[str, Usage] | None = None, highlight: str | Iterable[str] | None = None,
                   whiteouts: Mapping[str, Sequence[Whiteout]] | None = None,
                   title: str = "", chain: str | None = None) -> Drawing:
    """Draw the snapshots as chains (base layer at the bottom), one box per snapshot
    (``.text()``: :func:`snapshot_tree_text`).

    Args:
        snapshots: ``Info`` records (``snapshotter.walk()``).
        mounts: key -> mounts of active/view snapshots; each gets a mount box listing
            ``lowerdir`` (top first, with dashed arrows to the snapshots they are), ``upperdir``
            and ``workdir``.
        usage: key -> :class:`Usage` (size and inodes shown in the box).
        highlight: key(s) drawn with a red border.
        whiteouts: key -> whiteouts of that layer (listed in the box, struck through).
        title: a caption.
        chain: draw only this snapshot and its ancestors (one image's or container's chain;
            see also :mod:`pyctrd.diagrams.layerchain`).
    """
    infos = sorted(snapshots, key=lambda i: i.name)
    if chain is not None:
        infos = sorted(select_chain(infos, chain), key=lambda i: i.name)
        mounts = {k: v for k, v in (mounts or {}).items() if k == chain}
    by_name = {i.name: i for i in infos}
    marked = {highlight} if isinstance(highlight, str) else set(highlight or ())
    mounts, usage, whiteouts = mounts or {}, usage or {}, whiteouts or {}
    dirs = layer_dirs(infos, mounts)
    ids = {i.name: f"snap{n}" for n, i in enumerate(infos)}
    dot = Drawing("snapshots", graph_attr={"rankdir": "BT", "fontname": FONT, "nodesep": "0.4",
                                           "ranksep": "0.35", "label": title, "labelloc": "t"},
                  node_attr={"fontname": FONT, "shape": "plaintext"}, edge_attr={"fontname": FONT},
                  text=snapshot_tree_text(infos))
    for info in infos:
        fill, border = KIND_COLOUR.get(info.kind, KIND_COLOUR[Kind.UNKNOWN])
        hl = info.name in marked
        rows = [(f"<tr><td align='left'><b>{html.escape(short_key(info.name))}</b> "
                f"<font point-size='9' color='{border}'>{info.kind.name}</font></td></tr>")]
        if info.name in usage:
            u = usage[info.name]
            rows.append(_row(f"{human_size(u.size)}, {u.inodes} inodes"))
        if info.name in dirs:
            rows.append(_row(html.escape(_tail(dirs[info.name])), "#607d8b", 9))
        for w in whiteouts.get(info.name, ()):
            rows.append(_row(f"<s>{html.escape(str(w))}</s>", HIGHLIGHT, 9))
        table = (f"<<table border='{3 if hl else 1}' cellborder='0' cellspacing='0' cellpadding='3' "
                 f"bgcolor='{fill}' color='{HIGHLIGHT if hl else border}'>{''.join(rows)}</table>>")
        dot.node(ids[info.name], table, tooltip=info.name)
        if info.parent:
            if info.parent not in ids:  # in another namespace or removed: still show the link
                ids[info.parent] = f"snap{len(ids)}"
                dot.node(ids[info.parent], html.escape(short_key(info.parent)), shape="box", style="dashed",
                         color="#9e9e9e")
            dot.edge(ids[info.parent], ids[info.name], label=" parent", fontsize="9", color="#546e7a",
                     dir="back")
    for key, ms in sorted(mounts.items()):
        om = overlay_mount(ms)
        if om is None or key not in ids:
            continue
        mid = f"mount_{ids[key]}"
        rows = [(f"<tr><td align='left'><b>mount -t {html.escape(om.type)}</b> "
                f"<font point-size='9'>({html.escape(short_key(key))})</font></td></tr>")]
        for n, d in enumerate(om.lowerdirs):
            rows.append(_row(f"lowerdir[{n}] {html.escape(_tail(d))}", "#1565c0", 9))
        if om.upperdir:
            rows.append(_row(f"upperdir {html.escape(_tail(om.upperdir))}", "#ef6c00", 9))
        if om.workdir:
            rows.append(_row(f"workdir {html.escape(_tail(om.workdir))}", "#607d8b", 9))
        dot.node(mid, f"<<table border='1' cellborder='0' cellspacing='0' cellpadding='3' bgcolor='#fafafa' "
                      f"color='#78909c' style='dashed'>{''.join(rows)}</table>>")
        dot.edge(ids[key], mid, style="dotted", arrowhead="none", color="#78909c")
        chain = _ancestors(key, by_name)
        for n, name in enumerate(chain[: len(om.lowerdirs)]):
            if name in ids:
                dot.edge(mid, ids[name], label=f" lowerdir[{n}]", fontsize="8", fontcolor="#1565c0",
                         style="dashed", color="#90caf9", constraint="false")
    return dot


def _tail(path: str, parts: int = 3) -> str:
    """The last ``parts`` path components (enough to tell snapshots/7/fs from snapshots/3/fs)."""
    bits = path.rstrip("/").split("/")
    return path if len(bits) <= parts + 1 else "…/" + "/".join(bits[-parts:])


def chain_summary(infos: Iterable[Info]) -> dict[str, Any]:
    """Counts per kind and the longest chain (what a one-line summary shows)."""
    infos = list(infos)
    by_name = {i.name: i for i in infos}
    kinds: dict[str, int] = {}
    for i in infos:
        kinds[i.kind.name.lower()] = kinds.get(i.kind.name.lower(), 0) + 1
    depth = max((len(_ancestors(i.name, by_name)) + 1 for i in infos), default=0)
    return {"kinds": kinds, "depth": depth}

