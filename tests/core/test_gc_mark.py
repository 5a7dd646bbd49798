"""The pure GC pieces: tricolour marking (property-tested), label edges, label validation."""
from __future__ import annotations

from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyctrd.core.gc import Node, Stats, label_refs, mark, parse_expire, validate_labels
from pyctrd.errdefs import InvalidArgument

D = "sha256:" + "d" * 64


def _bfs(roots: list[Node], edges: dict[Node, list[Node]]) -> set[Node]:
    """An independent reachability oracle (plain BFS)."""
    seen, todo = set(roots), deque(roots)
    while todo:
        for m in edges.get(todo.popleft(), []):
            if m not in seen:
                seen.add(m)
                todo.append(m)
    return seen


@st.composite
def graphs(draw: st.DrawFn) -> tuple[list[Node], dict[Node, list[Node]], list[Node]]:
    n = draw(st.integers(1, 30))
    nodes = [Node(draw(st.sampled_from(["content", "snapshot/overlayfs", "image", "lease", "ingest"])),
                  draw(st.sampled_from(["a", "b"])), f"k{i}") for i in range(n)]
    edges = {node: draw(st.lists(st.sampled_from(nodes), max_size=4)) for node in nodes}
    roots = draw(st.lists(st.sampled_from(nodes), max_size=5))
    return nodes, edges, roots


@settings(max_examples=200, deadline=None)
@given(graphs())
def test_mark_is_exactly_reachability(g: tuple[list[Node], dict[Node, list[Node]], list[Node]]) -> None:
    nodes, edges, roots = g
    marked = mark(roots, lambda n: edges.get(n, []))
    reachable = _bfs(roots, edges)
    assert marked == reachable
    assert all(n in marked for n in roots)  # nothing reachable is swept ...
    assert not (set(nodes) - reachable) & marked  # ... and everything unreachable is


def test_mark_visits_each_node_once_and_survives_cycles() -> None:
    a, b = Node("content", "ns", "a"), Node("content", "ns", "b")
    visits: list[Node] = []

    def refs(n: Node) -> list[Node]:
        visits.append(n)
        return [b] if n == a else [a]

    assert mark([a, a], refs) == {a, b}
    assert sorted(visits) == [a, b]


def test_flat_nodes_are_reported_plain_but_walked_separately() -> None:
    snap = Node("snapshot/overlayfs", "ns", "s1")
    parent = Node("snapshot/overlayfs", "ns", "s0")
    blob = Node("content", "ns", D)

    def refs(n: Node) -> list[Node]:  # a flat snapshot keeps its parent only, no label refs
        if n.key == "s1":
            return [Node(n.type, n.namespace, "s0", flat=n.flat)] + ([] if n.flat else [blob])
        return []

    assert mark([snap.__class__(snap.type, "ns", "s1", flat=True)], refs) == {snap, parent}
    assert mark([Node(snap.type, "ns", "s1", flat=True), snap], refs) == {snap, parent, blob}


def test_errors_from_refs_stop_marking() -> None:
    def refs(n: Node) -> list[Node]:
        raise InvalidArgument("broken edge")

    with pytest.raises(InvalidArgument):
        mark([Node("content", "ns", "a")], refs)


def test_label_refs_follow_containerds_rules() -> None:
    labels = {
        "containerd.io/gc.ref.content": D,
        "containerd.io/gc.ref.content.l.0": D,
        "containerd.io/gc.ref.content/m": D,
        "containerd.io/gc.ref.contentx": D,  # not a separator: ignored
        "containerd.io/gc.ref.snapshot.overlayfs": "s1",
        "containerd.io/gc.ref.snapshot.native/extra": "s2",
        "containerd.io/gc.root": "x",
    }
    assert list(label_refs("ns", labels)) == [
        Node("content", "ns", D), Node("content", "ns", D), Node("content", "ns", D),
        Node("snapshot/native", "ns", "s2"), Node("snapshot/overlayfs", "ns", "s1")]


@pytest.mark.parametrize("labels, message", [
    ({"containerd.io/gc.ref.content.l.0": "nope"}, 'label containerd.io/gc.ref.content.l.0: invalid digest "nope"'),
    ({"containerd.io/gc.ref.snapshot.": "k"}, "needs a snapshotter"),
    ({"containerd.io/gc.ref.snapshot.overlayfs": ""}, "needs a snapshotter"),
    ({"containerd.io/gc.expire": "tomorrow"}, "is not an RFC 3339 time"),
    ({"containerd.io/gc.expire": "2024-05-01T12:00:00"}, "is not an RFC 3339 time"),  # no zone
])
def test_validate_labels_refuses_broken_gc_labels(labels: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        validate_labels(labels)


def test_validate_labels_accepts_the_rest() -> None:
    validate_labels({"containerd.io/gc.expire": "2024-05-01T12:00:00.5+02:00", "containerd.io/gc.flat": "",
                     "containerd.io/gc.root": "", "containerd.io/gc.ref.content.m.0": D,
                     "team": "anything at all"})
    assert parse_expire("2024-05-01T12:00:00Z").tzinfo is not None


def test_reprs() -> None:
    assert repr(Node("content", "default", D)) == "<Node content default/sha256:dddddddddddd>"
    assert repr(Node("snapshot/overlayfs", "a", "k", flat=True)) == "<Node snapshot/overlayfs a/k flat>"
    assert Node("snapshot/overlayfs", "a", "k").snapshotter == "overlayfs"
    s = Stats(removed=[Node("lease", "a", "l")], content_removed=[D], other_removed={"snapshot/x": ["k"]},
              elapsed=0.0015)
    assert repr(s) == "<GCStats removed=1 blobs=1 ingests=0 other=1 1.5ms>"
