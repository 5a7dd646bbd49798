"""The plugin graph, asserted as graph structure and DOT text (no rendering)."""
from __future__ import annotations

import pytest

from pyctrd.client import PluginInfo
from pyctrd.diagrams import plugin_graph, plugin_network, plugin_table, requires_edges
from pyctrd.plugin import Registration, Registry

SNAP = "io.containerd.snapshotter.v1"
META = "io.containerd.metadata.v1"
GRPC = "io.containerd.grpc.v1"


def _live() -> list[PluginInfo]:
    return [
        PluginInfo("io.containerd.content.v1", "content"),
        PluginInfo(SNAP, "btrfs", error_code=2, error="path /x (ext4) must be a btrfs filesystem: skip plugin"),
        PluginInfo(SNAP, "devmapper", error_code=2, error="devmapper not configured"),
        PluginInfo(SNAP, "overlayfs"),
        PluginInfo(META, "sqlite", requires=("io.containerd.content.v1", SNAP)),
        PluginInfo(GRPC, "introspection", requires=("*",)),
    ]


def test_type_requirements_expand_to_every_plugin_of_that_type() -> None:
    edges = set(requires_edges(_live()))
    assert {(f"{META}.sqlite", f"{SNAP}.{i}") for i in ("btrfs", "devmapper", "overlayfs")} <= edges
    assert (f"{META}.sqlite", "io.containerd.content.v1.content") in edges
    star = {b for a, b in edges if a == f"{GRPC}.introspection"}
    assert len(star) == 5 and f"{GRPC}.introspection" not in star  # "*": every *other* plugin


def test_network_carries_status_order_and_error() -> None:
    g = plugin_network(_live())
    assert [g.nodes[u]["order"] for u in g] == [1, 2, 3, 4, 5, 6]
    assert g.nodes[f"{SNAP}.btrfs"]["status"] == "skip"
    assert g.nodes[f"{SNAP}.devmapper"]["status"] == "error"
    assert g.nodes[f"{SNAP}.devmapper"]["error"] == "devmapper not configured"
    assert g.nodes[f"{SNAP}.overlayfs"]["status"] == "ok"


def test_dot_clusters_by_type_colours_by_status_and_tooltips_the_error() -> None:
    src = plugin_graph(_live()).source
    assert f'subgraph "cluster_{SNAP}"' in src and "label=snapshotter" in src
    line = next(x for x in src.splitlines() if x.strip().startswith(f'"{SNAP}.devmapper"'))
    assert 'color="#c62828"' in line and 'tooltip="devmapper not configured"' in line
    assert 'label="devmapper\\n#3"' in line
    skip = next(x for x in src.splitlines() if x.strip().startswith(f'"{SNAP}.btrfs"'))
    assert 'color="#b26a00"' in skip
    assert f'"{META}.sqlite" -> "{SNAP}.overlayfs"' in src


def test_highlight_by_id_marks_the_node_and_its_edges() -> None:
    src = plugin_graph(_live(), highlight="sqlite").source
    node = next(x for x in src.splitlines() if x.strip().startswith(f'"{META}.sqlite" ['))
    assert "penwidth=3" in node
    edge = next(x for x in src.splitlines() if x.strip().startswith(f'"{META}.sqlite" -> "{SNAP}.btrfs"'))
    assert 'color="#1565c0"' in edge
    other = next(x for x in src.splitlines() if f'"{GRPC}.introspection" -> "{SNAP}.btrfs"' in x)
    assert "#1565c0" not in other


def test_disabled_plugins_are_drawn_grey_with_their_registered_requirements() -> None:
    reg = Registry()
    reg.register(Registration(type=SNAP, id="zfs", init=lambda ic: None))
    reg.register(Registration(type="io.containerd.gc.v1", id="scheduler", init=lambda ic: None,
                              requires=(META,)))
    live = _live()
    g = plugin_network(live, disabled=["zfs", "io.containerd.gc.v1.scheduler", "overlayfs"], registry=reg)
    assert g.nodes[f"{SNAP}.zfs"]["status"] == "disabled" and g.nodes[f"{SNAP}.zfs"]["order"] is None
    assert ("io.containerd.gc.v1.scheduler", f"{META}.sqlite") in g.edges
    assert (f"{META}.sqlite", f"{SNAP}.zfs") in g.edges  # sqlite would have had it
    assert g.nodes[f"{SNAP}.overlayfs"]["status"] == "ok"  # live wins over a stale disabled list
    src = plugin_graph(live, disabled=["zfs"], registry=reg).source
    zfs = next(x for x in src.splitlines() if x.strip().startswith(f'"{SNAP}.zfs"'))
    assert 'style="filled,rounded,dashed"' in zfs and "disabled" in zfs


def test_an_unknown_disabled_uri_still_shows_by_its_shape() -> None:
    g = plugin_network(_live(), disabled=["io.containerd.x.v1.thing"], registry=Registry())
    assert g.nodes["io.containerd.x.v1.thing"]["type"] == "io.containerd.x.v1"


def test_the_real_builtin_plugins_with_the_default_registry() -> None:
    """The names notebook 01 disables resolve through pyctrd's own registry."""
    g = plugin_network([], disabled=["io.containerd.snapshotter.v1.native", "sqlite"])
    assert g.nodes["io.containerd.metadata.v1.sqlite"]["requires"] == (
        "io.containerd.content.v1", "io.containerd.snapshotter.v1")


def test_rich_table_lists_every_plugin() -> None:
    from rich.console import Console

    console = Console(width=140, record=True)
    console.print(plugin_table(_live()))
    text = console.export_text()
    assert "devmapper" in text and "error" in text and "6 plugins" in text


@pytest.mark.parametrize("rankdir", ["LR", "TB"])
def test_rankdir_passes_through(rankdir: str) -> None:
    assert f"rankdir={rankdir}" in plugin_graph(_live(), rankdir=rankdir).source
