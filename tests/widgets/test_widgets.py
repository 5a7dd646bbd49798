"""Each widget against a real daemon: its values change when the daemon does something."""
from __future__ import annotations

import itertools

import pytest

from pyctrd.lab import Lab
from pyctrd.widgets import Dashboard, DirTree, EventFeed, EventLog, PluginGraph

from .conftest import RecordingComm

_names = (f"w{n}" for n in itertools.count())


def _comm_of(widget: object, comms: list[RecordingComm]) -> RecordingComm:
    cid = widget.comm.comm_id  # type: ignore[attr-defined]
    return next(c for c in comms if c.comm_id == cid)


def test_event_log_shows_a_new_namespace(lab: Lab, comms: list[RecordingComm]) -> None:
    log = EventLog(lab.client(), interval=0.05)
    try:
        before = log.redraws
        name = next(_names)
        lab.client().namespaces.create(name)
        assert log.timeline.wait_for(lambda es: any(e.topic == "/namespaces/create" for e in es), 10)
        assert log.wait_for_redraw(before, 10)
        assert f"name: &quot;{name}&quot;" in log.table.value and "<circle" in log.lanes.value
        sent = _comm_of(log.table, comms).updates("value")
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
        before = tree.redraws
        lab.client().namespaces.create(next(_names))
        assert tree.wait_for_redraw(before, 10)
        assert tree.changes["root"], "the metadata write did not show"
        assert "pyctrd-changed" in tree.views["root"].value
        assert any("pyctrd-changed" in v for v in _comm_of(tree.views["root"], comms).updates("value"))
        assert len(tree._repr_mimebundle_()["text/plain"]) <= 110
        tree.set_baseline()
        assert not tree.changes["root"] and "since baseline" in tree.status.value
    finally:
        tree.close()
        feed.stop()


@pytest.mark.needs_dot
def test_plugin_graph_draws_every_plugin_and_explains_the_picked_one(lab: Lab) -> None:
    g = PluginGraph(lab.client())
    assert ">overlayfs</text>" in g.svg.value and ">sqlite</text>" in g.svg.value and g.svg.value.startswith("<svg")
    g.select("devmapper")
    assert "devmapper not configured" in g.details.value and ">error<" in g.details.value
    g.select("io.containerd.snapshotter.v1.overlayfs")
    assert "upperdir_label = False" in g.details.value and "init #" in g.details.value
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
        g = PluginGraph(lab.client())
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
