"""Garbage collection: keep what is reachable from a root, remove everything else.

containerd never deletes a blob or a snapshot when you "remove an image": it only removes
the *record*. Later, the collector works out what is still needed and removes the rest.
Everything it reasons about is a :class:`Node` - a typed resource in a namespace:

==================== =============================== ==========================================
type                  key                            roots / edges
==================== =============================== ==========================================
``content``           a digest                       edges: its ``containerd.io/gc.ref.*`` labels
``ingest``            a ref                          edge: the blob it is expected to become
``image``             an image name                  always a root; edges: target, labels
``container``         a container ID                 always a root; edges: snapshot, image, labels
``lease``             a lease ID                     a root until it expires; holds resources
``snapshot/<name>``   a snapshot key                 edges: parent, labels
==================== =============================== ==========================================

Labels are how anything points at content or snapshots (``ctr content ls`` shows them)::

    containerd.io/gc.ref.content[.<anything>]   = sha256:…     edge to a blob
    containerd.io/gc.ref.snapshot.<snapshotter> = <key>        edge to a snapshot
    containerd.io/gc.root                       = <anything>   this object is a root
    containerd.io/gc.expire  (on a lease)       = RFC 3339     the lease stops counting then
    containerd.io/gc.flat    (on a lease)       = <anything>   hold resources, not their children

:func:`mark` is the pure heart of it; the metadata plugin supplies roots and edges from its
database and sweeps what is left unmarked.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from ...errdefs import InvalidArgument
from .. import digest as digests

__all__ = [
    "LABEL_EXPIRE", "LABEL_FLAT", "LABEL_REF_CONTENT", "LABEL_REF_SNAPSHOT", "LABEL_ROOT", "Collector",
    "Node", "ResourceTracker", "Stats", "label_refs", "mark", "parse_expire", "validate_labels",
]

LABEL_ROOT = "containerd.io/gc.root"
LABEL_REF_CONTENT = "containerd.io/gc.ref.content"
LABEL_REF_SNAPSHOT = "containerd.io/gc.ref.snapshot."
LABEL_EXPIRE = "containerd.io/gc.expire"
LABEL_FLAT = "containerd.io/gc.flat"


@dataclass(frozen=True, order=True)
class Node:
    """A resource the collector can reach: ``type`` (``content``, ``snapshot/overlayfs``, …),
    ``namespace`` and ``key``. ``flat`` marks a node reached through a flat lease: it keeps
    itself (and a snapshot its parents) but not what its labels point at.

    >>> Node("content", "default", "sha256:" + "a" * 64)
    <Node content default/sha256:aaaaaaaaaaaa>
    >>> Node("snapshot/overlayfs", "default", "k1", flat=True)
    <Node snapshot/overlayfs default/k1 flat>
    """

    type: str
    namespace: str
    key: str
    flat: bool = False

    def unflat(self) -> Node:
        return replace(self, flat=False) if self.flat else self

    @property
    def snapshotter(self) -> str:
        """For ``snapshot/<snapshotter>`` nodes, the snapshotter's name (else "")."""
        return self.type.partition("/")[2] if self.type.startswith("snapshot/") else ""

    def __repr__(self) -> str:
        key = self.key[:19] if digests.is_digest(self.key) else self.key
        return f"<Node {self.type} {self.namespace}/{key}{' flat' if self.flat else ''}>"


def mark(roots: Iterable[Node], refs: Callable[[Node], Iterable[Node]]) -> set[Node]:
    """Every node reachable from ``roots`` by following ``refs`` (tricolour marking).

    Picture each node painted one of three colours. **White**: not seen yet (all nodes
    start white; whatever is still white at the end is garbage). **Grey**: seen, but its
    edges not followed yet (the work list). **Black**: seen and all its edges followed.
    Start with the roots grey; repeatedly take a grey node, paint it black and paint grey
    every white node it references. When no grey node is left, the black set is everything
    reachable - nothing reachable can stay white, because a node only turns black after all
    its references were made grey. Each node is visited once, so cycles are harmless.

    Flat nodes are visited as themselves (a flat and a normal path to the same node both
    count) but reported without the flag.

    >>> a, b, c, d = (Node("content", "ns", k) for k in "abcd")
    >>> edges = {a: [b], b: [a, c], d: [a]}          # d points in, nothing points at d
    >>> sorted(n.key for n in mark([a], lambda n: edges.get(n, [])))
    ['a', 'b', 'c']

    Args:
        roots: the nodes certainly in use.
        refs: a node's outgoing edges (may name nodes that no longer exist: they are
            marked too, harmlessly, since nothing sweeps what does not exist).

    Raises:
        Whatever ``refs`` raises (marking stops; nothing must be swept then).
    """
    grey: list[Node] = list(dict.fromkeys(roots))
    seen: set[Node] = set(grey)
    black: set[Node] = set()
    while grey:
        node = grey.pop()
        for target in refs(node):
            if target not in seen:
                seen.add(target)
                grey.append(target)
        black.add(node.unflat())
    return black


def label_refs(namespace: str, labels: Mapping[str, str]) -> Iterator[Node]:
    """The edges a set of labels declares (containerd's ``sendLabelRefs``).

    >>> d = "sha256:" + "b" * 64
    >>> list(label_refs("default", {"containerd.io/gc.ref.content.l.0": d,
    ...                             "containerd.io/gc.ref.snapshot.overlayfs": "sha256:c…",
    ...                             "containerd.io/gc.ref.contentious": d, "team": "red"}))
    [<Node content default/sha256:bbbbbbbbbbbb>, <Node snapshot/overlayfs default/sha256:c…>]
    """
    for key in sorted(labels):
        value = labels[key]
        if key.startswith(LABEL_REF_CONTENT):
            rest = key[len(LABEL_REF_CONTENT):]
            if rest == "" or rest[0] in "./":
                yield Node("content", namespace, value)
        elif key.startswith(LABEL_REF_SNAPSHOT):
            snapshotter = key[len(LABEL_REF_SNAPSHOT):].partition("/")[0]
            if snapshotter:
                yield Node(f"snapshot/{snapshotter}", namespace, value)


def parse_expire(value: str) -> datetime:
    """An RFC 3339 time as ``containerd.io/gc.expire`` holds it (timezone required).

    >>> parse_expire("2024-05-01T12:00:00Z").isoformat()
    '2024-05-01T12:00:00+00:00'

    Raises:
        InvalidArgument: not an RFC 3339 time with a timezone.
    """
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        t = None
    if t is None or t.tzinfo is None or "T" not in value.upper():
        raise InvalidArgument(f"{LABEL_EXPIRE}: {value!r} is not an RFC 3339 time")
    return t


def validate_labels(labels: Mapping[str, str]) -> None:
    """Refuse GC labels that could never work: a content ref that is not a digest, a snapshot
    ref without a snapshotter or key, an expiry that is not RFC 3339.

    >>> validate_labels({"containerd.io/gc.ref.content.l.0": "sha256:" + "0" * 64, "x": "y"})
    >>> validate_labels({"containerd.io/gc.ref.content.config": "latest"})
    Traceback (most recent call last):
    ...
    pyctrd.errdefs.InvalidArgument: label containerd.io/gc.ref.content.config: invalid digest "latest": invalid argument

    Raises:
        InvalidArgument: which label, and why.
    """
    for key, value in labels.items():
        if not key.startswith("containerd.io/gc."):
            continue
        try:
            if key.startswith(LABEL_REF_CONTENT) and (len(key) == len(LABEL_REF_CONTENT)
                                                      or key[len(LABEL_REF_CONTENT)] in "./"):
                digests.validate(value)
            elif key.startswith(LABEL_REF_SNAPSHOT):
                if not key[len(LABEL_REF_SNAPSHOT):].partition("/")[0] or not value:
                    raise InvalidArgument("needs a snapshotter in the key and a snapshot key as value")
            elif key == LABEL_EXPIRE:
                parse_expire(value)
        except InvalidArgument as exc:
            raise InvalidArgument(f"label {key}: {exc.what}") from None


@dataclass
class Stats:
    """What one collection did: records removed, backend data removed, and how long it took."""

    removed: list[Node] = field(default_factory=list)
    content_removed: list[str] = field(default_factory=list)
    ingests_aborted: list[str] = field(default_factory=list)
    other_removed: dict[str, list[str]] = field(default_factory=dict)
    elapsed: float = 0.0

    def __repr__(self) -> str:
        other = sum(len(v) for v in self.other_removed.values())
        return (f"<GCStats removed={len(self.removed)} blobs={len(self.content_removed)} "
                f"ingests={len(self.ingests_aborted)}{f' other={other}' if other else ''} "
                f"{self.elapsed * 1000:.1f}ms>")


@runtime_checkable
class Collector(Protocol):
    """What the GC scheduler needs from a database (containerd's two-method ``collector``)."""

    def register_mutation_callback(self, fn: Callable[[bool], None]) -> None:
        """Call ``fn(dirty)`` after every committed change; ``dirty`` is True once something
        was deleted since the last collection. Never raises."""

    def garbage_collect(self) -> Stats:
        """Mark, sweep, clean the backends. Raises whatever the database raises (Unknown)."""


@runtime_checkable
class ResourceTracker(Protocol):
    """One more kind of resource the metadata collector should know (snapshots, containers).

    A store that keeps its records in the metadata database registers a tracker; the
    collector then asks it, inside its one transaction ``tx`` (the store's own database
    handle), for nodes, roots and edges, and tells it what to remove. ``types`` lists the
    node types it owns (e.g. ``("snapshot/overlayfs",)``).
    """

    types: tuple[str, ...]

    def scan_all(self, tx: Any) -> Iterable[Node]:
        """Every node of its types that exists (candidates for the sweep)."""

    def scan_roots(self, tx: Any) -> Iterable[Node]:
        """Nodes that are roots by themselves (``containerd.io/gc.root``, containers...)."""

    def references(self, tx: Any, node: Node) -> Iterable[Node]:
        """Edges out of one of its nodes; a flat node yields only what keeps it usable (parents)."""

    def remove(self, tx: Any, node: Node) -> None:
        """Delete the record of an unreachable node (in the collector's transaction)."""

    def cleanup(self, removed: list[Node]) -> list[str]:
        """After the transaction committed: remove backend data no record uses any more
        (e.g. the snapshotter's directories). Returns what it removed, for the stats."""
