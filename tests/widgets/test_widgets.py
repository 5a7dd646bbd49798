"""Each widget against a real daemon: its values change when the daemon does something."""
from __future__ import annotations

import itertools

import pytest

from pyctrd.lab import Lab
from pyctrd.widgets import Dashboard, DirTree, EventFeed, EventLog, PluginGraph
from pyctrd.widgets.svg_view import SvgView

from .conftest import RecordingComm, comm_of, until

_names = (f"w{n}" for n in itertools.count())



def test_event_log_shows_a_new_namespace(lab: Lab, comms: list[RecordingComm]) -> None:
    log = EventLog(lab.client(), interval=0.05)
    try:
        before = log.redraws
        name = next(_names)
        lab.client().namespaces.create(name)
        assert log.timeline.wait_for(lambda es: any(e.topic == "/namespaces/create" for e in es), 10)
        assert log.wait_for_redraw(before, 10)
        assert f"name: &quot;{name}&quot;" in log.table.value and "<circle" in log.lanes.value
        sent = comm_of(log.table, comms).updates("value")
        assert any(name in v for v in sent), "the new row never went to the frontend"
        text = log._repr_mimebundle_()["text/plain"]
        assert text == "<EventLog 1 events, last /namespaces/create>" == repr(log)
    finally:
        log.close()
    assert not log.feed.running


def test_dir_tree_rescans_and_marks_changes_on_events(lab: Lab, comms: list[RecordingComm]) -> None:
    feed = EventFeed.for_client(lab.client()).start()
    tree = DirTree.for_lab(lab, feed=feed, interval=0.05)
    try:
        assert "io.containerd.metadata.v1.sqlite" in tree.views["root"].value
        assert "pyctrd.sock  [socket]" in tree.text()
        lab.client().namespaces.create(next(_names))
        # a redraw already under way when the write lands shows the tree before it: wait for
        # the change itself (each event schedules a rescan; redraws are throttled)
        assert until(tree, lambda: bool(tree.changes["root"]), 10), "the metadata write did not show"
        assert "pyctrd-changed" in tree.views["root"].value
        assert any("pyctrd-changed" in v for v in comm_of(tree.views["root"], comms).updates("value"))
        assert len(tree._repr_mimebundle_()["text/plain"]) <= 110
        tree.set_baseline()
        assert not tree.changes["root"] and "since baseline" in tree.status.value
    finally:
        tree.close()
        feed.stop()


@pytest.mark.needs_dot
def test_plugin_graph_draws_every_plugin_and_explains_the_picked_one(lab: Lab) -> None:
    g = PluginGraph(lab.client(), follow=False)
    assert ">overlayfs</text>" in g.svg.value and ">sqlite</text>" in g.svg.value and g.svg.value.startswith("<svg")
    g.select("devmapper")
    assert "devmapper not configured" in g.details.value and ">error<" in g.details.value
    g.select("io.containerd.snapshotter.v1.overlayfs")
    assert "upperdir_label = False" in g.details.value and "init #" in g.details.value
    assert "(defaults):" in g.details.value and "config is not known here" in g.details.value
    assert 'stroke="#1565c0"' in g.svg.value  # the pick is highlighted
    live = lab.client().plugins()
    counts = {s: sum(p.status == s for p in live) for s in ("error", "ok", "skip")}
    assert counts["error"] >= 1 and counts["skip"] >= 3  # devmapper; aufs, btrfs, zfs
    assert g.summary() == (f"<PluginGraph {len(live)} plugins error={counts['error']} ok={counts['ok']} "
                           f"skip={counts['skip']} disabled=0>")
    with pytest.raises(ValueError, match="no plugin 'nope'"):
        g.select("nope")


def test_plugin_graph_follows_a_restart_with_a_plugin_disabled(short_tmp) -> None:  # type: ignore[no-untyped-def]
    lab = Lab(short_tmp / "lab")
    lab.launch()
    try:
        g = PluginGraph(lab.client(), follow=False)
        n = len(lab.client().plugins())
        assert g.summary().startswith(f"<PluginGraph {n} plugins")
        lab.config_text = 'version = 2\ndisabled_plugins = ["io.containerd.snapshotter.v1.native"]\n'
        lab.restart()
        g.refresh(lab.client(), disabled=["io.containerd.snapshotter.v1.native"])
        assert g.summary().endswith("disabled=1>") and f"{n - 1} plugins" in g.summary()
        labels = [label for label, _ in g.picker.options]
        assert "native (snapshotter, disabled)" in labels
        g.select("native")
        assert "disabled_plugins" in g.details.value
        lab.stop()
        g.refresh()
        assert "cannot reach the daemon" in g.svg.value
    finally:
        lab.destroy()


def test_dashboard_shares_one_feed_and_stops_it(lab: Lab) -> None:
    d = Dashboard.for_lab(lab, interval=0.05)
    try:
        files, events = d.files.redraws, d.events.redraws
        lab.client().namespaces.create(next(_names))
        assert d.files.wait_for_redraw(files, 10) and d.events.wait_for_redraw(events, 10)
        assert d.events.feed is d.feed and d.feed.received >= 1
        assert ">Storage</text>" in d.arch.value or "dot is not installed" in d.arch.value
        assert d._repr_mimebundle_()["text/plain"].startswith("<Dashboard ")
    finally:
        d.close()
    assert not d.feed.running



@pytest.mark.needs_dot
def test_a_click_shows_the_plugins_effective_config_and_the_graph_follows_a_restart(
        short_tmp, comms: list[RecordingComm]) -> None:  # type: ignore[no-untyped-def]
    overlayfs, content = "io.containerd.snapshotter.v1.overlayfs", "io.containerd.content.v1.content"
    lab = Lab(short_tmp / "lab", config_text=f'version = 2\n[plugins."{overlayfs}"]\nupperdir_label = true\n')
    lab.launch()
    g = PluginGraph.for_lab(lab, interval=0.05)
    try:
        # the drawing is the clickable view: every plugin is a node whose click names it
        assert isinstance(g.svg, SvgView) and g.svg.id_prefix == "plugin-"
        assert sorted(g.svg.node_names()) == sorted(p.uri for p in lab.client().plugins())
        assert 'closest("g.node")' in g.svg._esm and 'model.set("selected", name)' in g.svg._esm

        g.svg.selected = overlayfs  # what the view does on a click on overlayfs' node
        assert g.picker.value == overlayfs and g.selected == overlayfs
        assert "upperdir_label = True" in g.details.value and "(effective):" in g.details.value
        assert "the daemon&#x27;s config file" in g.details.value
        g.svg.selected = content
        root = next(p for p in lab.client().plugins() if p.uri == content).exports["root"]
        assert "exports:" in g.details.value and f"root = {root}" in g.details.value
        g.svg.selected = "io.containerd.snapshotter.v1.devmapper"
        assert ">error<" in g.details.value and "devmapper not configured" in g.details.value
        g.svg.selected = "not-a-plugin"  # a click the list cannot follow is undone
        assert g.svg.selected == g.picker.value == "io.containerd.snapshotter.v1.devmapper"
        g.select("sqlite")  # and the list drives the drawing (the keyboard's way)
        assert g.svg.selected == "io.containerd.metadata.v1.sqlite"
        assert "io.containerd.metadata.v1.sqlite" in comm_of(g.svg, comms).updates("selected")

        # a restart with another config: nobody calls refresh, the graph notices by itself
        n = len(g.plugins)
        lab.restart(config_text='version = 2\ndisabled_plugins = ["io.containerd.snapshotter.v1.native"]\n')
        assert until(g, lambda: g.summary().endswith("disabled=1>")), g.summary()
        assert f"{n - 1} plugins" in g.summary() and g.feed is not None and g.feed.reconnects == 1
        assert "native (snapshotter, disabled)" in [label for label, _ in g.picker.options]
        g.svg.selected = overlayfs
        assert "upperdir_label = False" in g.details.value and "(effective):" in g.details.value
    finally:
        g.close()
        lab.destroy()
    assert g.feed is not None and not g.feed.running
