"""One image's or one container's layer chain: chain IDs -> the active snapshot -> its overlay mount.

:func:`~pyctrd.diagrams.snapshot_chain` draws every snapshot a snapshotter has. A student
asking "what is *this* container's root filesystem made of?" wants one chain:

* an **image**: its config lists the layers' diff IDs, bottom first; the chain IDs computed
  from them (:func:`pyctrd.core.images.chain_ids`) name its committed snapshots. A chain ID
  missing from the snapshotter is a layer not unpacked there.
* a **container**: its record names a snapshotter and a snapshot key - an active snapshot
  whose parent is the image's top chain ID.

:class:`LayerChain` holds that chain (base first) with each layer's size (the snapshotter's
``usage``: what the layer itself adds), its directory (from the active snapshot's mount:
``lowerdir[0]`` is the parent, ``upperdir`` the container's own layer), its whiteouts, and
the mount itself. It reads as text (``.text()``, ``rich.print``), draws as graphviz
(``.digraph()``, what a notebook shows) and is built by :func:`read_image_chain` /
:func:`read_container_chain` through the client library, or by :func:`layer_chain` from
records you already have::

    read_container_chain(client, "c1")          # container c1: 3 committed + ACTIVE c1
    read_image_chain(client, "r/layered:latest")

Whiteouts come from where they are: in a layer directory the mount names, overlayfs' own
markers (:func:`~pyctrd.diagrams.scan_whiteouts`, needs root); for an image's committed
layers without a mount, the ``.wh.`` entries of the layer tars in the content store.

>>> from pyctrd.core.snapshots import Info, Kind, Usage
>>> infos = [Info(name="sha256:" + "a" * 64, kind=Kind.COMMITTED),
...          Info(name="c1", kind=Kind.ACTIVE, parent="sha256:" + "a" * 64)]
>>> mount = Mount("overlay", "overlay", ["workdir=/s/2/work", "upperdir=/s/2/fs", "lowerdir=/s/1/fs"])
>>> chain = layer_chain(infos, "c1", subject="container c1", mounts=[mount], usage={"c1": Usage(4096, 2)})
>>> chain
<LayerChain container c1 overlayfs: 1 committed + ACTIVE c1>
>>> print(chain.text())
container c1 on overlayfs: 1 committed + ACTIVE c1
  c1                      ACTIVE        4.0 KiB      2 inodes  upperdir /s/2/fs
  sha256:aaaaaaaaaaaa…    COMMITTED           -                lowerdir[0] /s/1/fs
mount -t overlay overlay
  lowerdir[0] /s/1/fs
  upperdir    /s/2/fs
  workdir     /s/2/work
"""
from __future__ import annotations

import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..core.images import chain_ids, image_config, resolve_manifest
from ..core.mount import Mount
from ..core.snapshots import Info, Kind, Usage
from ..errdefs import FailedPrecondition, NotFound, PyctrdError
from .dirtree import human_size
from .drawing import Drawing
from .snapshots import (
    OverlayMount,
    Whiteout,
    _tail,
    layer_dirs,
    overlay_mount,
    scan_whiteouts,
    select_chain,
    short_key,
    snapshot_chain,
    whiteouts_in_tar,
)

if TYPE_CHECKING:
    from ..client import Client
    from ..core.ocispec import Descriptor

__all__ = ["Layer", "LayerChain", "layer_chain", "layer_tar_whiteouts", "read_container_chain",
           "read_image_chain"]


@dataclass(frozen=True)
class Layer:
    """One snapshot of a chain; ``present`` False for a chain ID the snapshotter lacks."""

    name: str
    kind: Kind = Kind.UNKNOWN
    parent: str = ""
    diff_id: str = ""
    usage: Usage | None = None
    directory: str = ""
    role: str = ""  #: ``upperdir`` / ``lowerdir[n]`` in the top's mount
    whiteouts: tuple[Whiteout, ...] = ()
    present: bool = True

    def __repr__(self) -> str:
        return f"<Layer {short_key(self.name)} {self.kind.name if self.present else 'missing'}>"


@dataclass
class LayerChain:
    """A chain of snapshots, base first, and the mount of the one on top (see the module docs)."""

    subject: str
    snapshotter: str
    layers: list[Layer]
    mounts: list[Mount] = field(default_factory=list)
    on_top: list[str] = field(default_factory=list)  #: other snapshots made on the chain's top

    @property
    def top(self) -> Layer | None:
        return self.layers[-1] if self.layers else None

    @property
    def overlay(self) -> OverlayMount | None:
        """The top's mount taken apart (lowerdirs top first, upperdir, workdir)."""
        return overlay_mount(self.mounts)

    def _shape(self) -> str:
        committed = sum(1 for x in self.layers if x.kind == Kind.COMMITTED)
        top = self.top
        more = f" + {top.kind.name} {top.name}" if top and top.kind in (Kind.ACTIVE, Kind.VIEW) else ""
        missing = sum(1 for x in self.layers if not x.present)
        return f"{committed} committed{more}" + (f", {missing} not unpacked" if missing else "")

    def __repr__(self) -> str:
        return f"<LayerChain {self.subject} {self.snapshotter}: {self._shape()}>"

    def infos(self) -> list[Info]:
        """The layers as snapshot ``Info`` records (a missing one as kind UNKNOWN)."""
        return [Info(name=x.name, kind=x.kind, parent=x.parent, snapshotter=self.snapshotter) for x in self.layers]

    def lines(self) -> list[tuple[str, str]]:
        """The text form as ``(line, rich style)``: the stack top first (directories cut to their
        tail), then the top's mount with full paths, ``lowerdir`` top first as overlayfs reads it."""
        out = [(f"{self.subject} on {self.snapshotter}: {self._shape()}", "bold")]
        width = max((len(short_key(x.name)) for x in self.layers), default=10) + 3
        for x in reversed(self.layers):
            if not x.present:
                out.append((f"  {short_key(x.name):<{width}} not unpacked in {self.snapshotter}", "dim"))
                continue
            size = f"{human_size(x.usage.size):>11} {x.usage.inodes:>6} inodes" if x.usage else f"{'-':>11}{'':14}"
            where = f"  {x.role} {_tail(x.directory)}" if x.directory else ""
            style = "yellow" if x.kind == Kind.ACTIVE else ""
            out.append((f"  {short_key(x.name):<{width}} {x.kind.name:<10}{size}{where}".rstrip(), style))
            if x.diff_id and x.diff_id != x.name:
                out.append((f"      diff ID {short_key(x.diff_id)}", "dim"))
            if x.whiteouts:
                out.append(("      whiteouts: " + ", ".join(str(w) for w in x.whiteouts), "red"))
        om = self.overlay
        if om is not None:
            out.append((f"mount -t {om.type} {self.mounts[0].source}", "bold"))
            out += [(f"  lowerdir[{n}] {d}", "blue") for n, d in enumerate(om.lowerdirs)]  # top first
            if om.upperdir:
                out.append((f"  upperdir    {om.upperdir}", "yellow"))
            if om.workdir:
                out.append((f"  workdir     {om.workdir}", ""))
        if self.on_top:
            out.append(("on top of it: " + ", ".join(self.on_top), "dim"))
        return out

    def text(self) -> str:
        return "\n".join(line for line, _ in self.lines())

    def __rich__(self) -> Any:
        from rich.text import Text

        t = Text()
        for n, (line, style) in enumerate(self.lines()):
            t.append(("\n" if n else "") + line, style=style or None)
        return t

    def digraph(self) -> Drawing:
        """:func:`~pyctrd.diagrams.snapshot_chain` of this chain alone, the top highlighted."""
        top = self.top
        mounts = {top.name: self.mounts} if top and self.mounts else {}
        dot = snapshot_chain(self.infos(), mounts=mounts, highlight=top.name if top else None,
                             usage={x.name: x.usage for x in self.layers if x.usage},
                             whiteouts={x.name: x.whiteouts for x in self.layers if x.whiteouts},
                             title=f"{self.subject} ({self.snapshotter})")
        dot.text_form = self.text()
        return dot

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle: dict[str, Any] = dict(self.digraph()._repr_mimebundle_(include, exclude))
        bundle["text/plain"] = self.text()
        return bundle


def layer_chain(infos: Iterable[Info], top: str, *, subject: str = "", snapshotter: str = "overlayfs",
                chain: Sequence[str] = (), diff_ids: Sequence[str] = (), mounts: Sequence[Mount] = (),
                usage: Mapping[str, Usage] | None = None, whiteouts: Mapping[str, Sequence[Whiteout]] | None = None,
                on_top: Sequence[str] = ()) -> LayerChain:
    """The chain ending in ``top`` from snapshot records (pure: nothing is read).

    Args:
        infos: the snapshotter's records (``walk()``), or at least the chain's.
        top: the snapshot on top (a container's key, or an image's top chain ID).
        chain: the chain IDs the image expects, bottom first: ones not in ``infos`` are
            listed as not unpacked.
        diff_ids: the image's diff IDs, aligned with ``chain``.
        mounts: the top's mounts: they give the layers' directories.
        usage, whiteouts: per snapshot name.
    """
    infos = list(infos)
    by_name = {i.name: i for i in infos}
    names = [i.name for i in select_chain(infos, top)]
    if chain:
        names = list(chain) + [n for n in names if n not in chain]
    dirs = layer_dirs(infos, {top: mounts}) if mounts else {}
    om = overlay_mount(mounts)
    roles = {}
    if om is not None:
        roles = {n: f"lowerdir[{k}]" for n, d in dirs.items() for k, low in enumerate(om.lowerdirs) if d == low}
        roles.update({n: "upperdir" for n, d in dirs.items() if d and d == om.upperdir})
    diff = dict(zip(chain, diff_ids, strict=False))
    usage, whiteouts = usage or {}, whiteouts or {}
    layers = []
    for n, name in enumerate(names):
        info = by_name.get(name)
        parent = info.parent if info else (names[n - 1] if n else "")
        layers.append(Layer(name, info.kind if info else Kind.UNKNOWN, parent, diff.get(name, ""), usage.get(name),
                            dirs.get(name, ""), roles.get(name, ""), tuple(whiteouts.get(name, ())), info is not None))
    return LayerChain(subject or top, snapshotter, layers, list(mounts), list(on_top))


class _BlobReader:
    """``read(n)`` over a content ``ReaderAt`` (what :class:`LayerStream` wants)."""

    def __init__(self, reader: Any) -> None:
        self.reader, self.offset = reader, 0

    def read(self, n: int = -1, /) -> bytes:
        n = self.reader.size - self.offset if n < 0 else n
        data: bytes = self.reader.read_at(self.offset, min(n, 1 << 20))
        self.offset += len(data)
        return data


def layer_tar_whiteouts(content: Any, layers: Sequence[Descriptor]) -> list[list[Whiteout]]:
    """The whiteouts each layer blob records (``.wh.`` entries), read through ``content``
    (``client.content``); a layer that cannot be read gives ``[]``."""
    from ..core.diff.compression import LayerStream

    out = []
    for desc in layers:
        try:
            with content.reader_at(desc.digest) as reader, \
                    tarfile.open(fileobj=LayerStream(_BlobReader(reader)), mode="r|") as tf:  # type: ignore[arg-type]
                out.append(whiteouts_in_tar(m.name for m in tf))
        except (PyctrdError, tarfile.TarError, OSError):
            out.append([])
    return out


def _usage(sn: Any, names: Iterable[str]) -> dict[str, Usage]:
    out = {}
    for name in names:
        try:
            out[name] = sn.usage(name)
        except PyctrdError:  # gone since walk, or not there: no size
            continue
    return out


def read_image_chain(client: Client, image: str, *, snapshotter: str = "overlayfs", active: str | None = None,
                     platform: str | None = None, usage: bool = True, whiteouts: bool = True) -> LayerChain:
    """Image ``image``'s chain in ``snapshotter``: its chain IDs, and ``active`` (a snapshot made
    on the top chain ID, e.g. a container's) with its mount on top when given.

    Raises:
        NotFound: no such image (or no manifest for the platform), or ``active`` does not exist.
        FailedPrecondition: ``active``'s parent is not the image's top chain ID.
    """
    from ..client.images import matcher

    img = client.images.get(image)
    want = matcher(platform)
    _, config = image_config(client.content, img.target, want)
    diff_ids = list(config.diff_ids)
    ids = chain_ids(diff_ids)
    sn = client.snapshotter(snapshotter)
    infos = list(sn.walk())
    on_top = sorted(f"{i.name} ({i.kind.name})" for i in infos if ids and i.parent == ids[-1])
    mounts: list[Mount] = []
    top = ids[-1] if ids else ""
    if active:
        info = next((i for i in infos if i.name == active), None)
        if info is None:
            raise NotFound(f"snapshot {active}")
        if not ids or info.parent != ids[-1]:
            raise FailedPrecondition(f"snapshot {active} is not on image {image}'s top layer")
        mounts, top = sn.mounts(active), active
    chain = layer_chain(infos, top, subject=f"image {img.name}", snapshotter=snapshotter, chain=ids,
                        diff_ids=diff_ids, mounts=mounts, on_top=on_top)
    sizes = _usage(sn, [x.name for x in chain.layers if x.present]) if usage else {}
    found: dict[str, list[Whiteout]] = {}
    if whiteouts:
        found = {x.name: scan_whiteouts(x.directory) for x in chain.layers if x.directory}
        missing = [n for n, c in enumerate(ids) if c not in found]
        if missing:
            _, manifest = resolve_manifest(client.content, img.target, want)
            tars = layer_tar_whiteouts(client.content, [manifest.layers[n] for n in missing])
            found.update({ids[n]: w for n, w in zip(missing, tars, strict=True)})
    return layer_chain(infos, top, subject=f"image {img.name}", snapshotter=snapshotter, chain=ids,
                       diff_ids=diff_ids, mounts=mounts, usage=sizes, whiteouts=found, on_top=on_top)


def read_container_chain(client: Client, container: str, *, usage: bool = True,
                         whiteouts: bool = True) -> LayerChain:
    """Container ``container``'s root filesystem: its snapshot, that snapshot's ancestors, its
    mount; diff IDs from its image when that is still there. Whiteouts are looked for in
    the directories the mount names (overlayfs' markers: reading them needs root).

    Raises:
        NotFound: no such container, or its snapshot is gone.
        FailedPrecondition: the container has no snapshot (made with a rootfs path).
    """
    c = client.containers.get(container)
    if not (c.snapshotter and c.snapshot_key):
        raise FailedPrecondition(f"container {container} has no snapshot (its spec names a root path)")
    sn = client.snapshotter(c.snapshotter)
    infos = list(sn.walk())
    mounts = sn.mounts(c.snapshot_key)
    ids: list[str] = []
    diff_ids: list[str] = []
    if c.image:
        try:
            _, config = image_config(client.content, client.images.get(c.image).target)
            diff_ids = list(config.diff_ids)
            ids = chain_ids(diff_ids)
        except PyctrdError:  # the image was removed since: the snapshots still say the chain
            pass
    subject = f"container {c.id}" + (f" (image {c.image})" if c.image else "")
    chain = layer_chain(infos, c.snapshot_key, snapshotter=c.snapshotter, mounts=mounts)
    ids = ids if [x.name for x in chain.layers[:-1]] == ids else []  # only if they agree
    sizes = _usage(sn, [x.name for x in chain.layers]) if usage else {}
    found = {x.name: scan_whiteouts(x.directory) for x in chain.layers if x.directory} if whiteouts else {}
    return layer_chain(infos, c.snapshot_key, subject=subject, snapshotter=c.snapshotter, chain=ids,
                       diff_ids=diff_ids if ids else (), mounts=mounts, usage=sizes, whiteouts=found)
