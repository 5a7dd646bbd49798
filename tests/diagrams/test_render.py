"""The few tests that call graphviz's dot: the drawings really render."""
from __future__ import annotations

from pathlib import Path

import pytest

from pyctrd.client import PluginInfo
from pyctrd.diagrams import architecture, dir_tree, lifecycle_sequence, plugin_graph

PLUGINS = [PluginInfo("io.containerd.content.v1", "content"),
           PluginInfo("io.containerd.snapshotter.v1", "overlayfs"),
           PluginInfo("io.containerd.metadata.v1", "sqlite", requires=("io.containerd.content.v1",
                                                                     "io.containerd.snapshotter.v1"))]


@pytest.mark.needs_dot
def test_plugin_graph_svg_has_a_node_per_plugin() -> None:
    svg = plugin_graph(PLUGINS, highlight="sqlite").pipe(format="svg", encoding="utf-8")
    assert svg.count('class="node"') == 3
    assert ">overlayfs</text>" in svg and ">#3</text>" in svg and 'id="plugin&#45;io.containerd.metadata.v1.sqlite"' in svg


@pytest.mark.needs_dot
def test_other_diagrams_render(tmp_path: Path) -> None:
    svg = architecture(PLUGINS).pipe(format="svg", encoding="utf-8")
    assert ">Storage</text>" in svg and ">Bundle</text>" in svg and ">config.json &#160;← container spec (Metadata)</text>" in svg
    assert ">runc</text>" in lifecycle_sequence().pipe(format="svg", encoding="utf-8")
    (tmp_path / "f").write_text("x")
    assert ">f &#160;1 B</text>" in dir_tree(tmp_path).digraph().pipe(format="svg", encoding="utf-8")


@pytest.mark.needs_dot
def test_snapshot_chain_and_content_graph_render() -> None:
    from pyctrd.diagrams import content_graph, snapshot_chain
    from tests.diagrams.test_snapshots_gc_pull import _blobs, _chain, _image, _overlay

    svg = snapshot_chain(_chain(), mounts=_overlay()).pipe(format="svg", encoding="utf-8")
    assert svg.count('class="node"') == 5 and "> lowerdir[2]</text>" in svg
    svg = content_graph(_blobs(), [_image()]).pipe(format="svg", encoding="utf-8")
    assert svg.count('class="node"') == 8  # 6 blobs, the image, the snapshot the config names
