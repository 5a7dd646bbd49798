"""Architecture, lifecycle sequence and the event timeline: structure, not pixels."""
from __future__ import annotations

import threading
from datetime import UTC, datetime

from pyctrd._api.containerd.api.events import namespace_pb2
from pyctrd.client import PluginInfo
from pyctrd.core.events import Envelope
from pyctrd.diagrams import (
    LIFECYCLE,
    EventTimeline,
    Step,
    TimelineEntry,
    architecture,
    block_of,
    lifecycle_sequence,
)


def test_architecture_blocks_list_live_plugins_with_status() -> None:
    plugins = [PluginInfo("io.containerd.content.v1", "content"),
               PluginInfo("io.containerd.snapshotter.v1", "zfs", error_code=2, error="no: skip plugin"),
               PluginInfo("io.containerd.metadata.v1", "sqlite"),
               PluginInfo("io.containerd.grpc.v1", "version"),
               PluginInfo("io.containerd.internal.v1", "opt")]
    src = architecture(plugins, address="/tmp/x/pyctrd.sock").source
    storage = next(x for x in src.splitlines() if x.strip().startswith("Storage ["))
    assert ">content<" in storage and ">zfs<" in storage and ">skip<" in storage
    assert ">sqlite<" in next(x for x in src.splitlines() if x.strip().startswith("Metadata ["))
    assert "(none loaded)" in next(x for x in src.splitlines() if x.strip().startswith("Runtime ["))
    assert ">opt<" in next(x for x in src.splitlines() if x.strip().startswith("Internal ["))
    assert "/tmp/x/pyctrd.sock" in src and "grpc -> API" in src and "shim -> runc" in src


def test_architecture_without_internal_plugins_has_no_internal_block() -> None:
    assert "Internal" not in architecture([PluginInfo("io.containerd.grpc.v1", "version")]).source
    assert block_of("io.containerd.runtime.v2") == "Runtime"


def test_lifecycle_rows_follow_the_steps_in_order() -> None:
    src = lifecycle_sequence().source
    assert all(f"{p}_0" in src for p in ("pyctr", "daemon", "shim", "runc"))
    labels = [s.label for s in LIFECYCLE]
    positions = [src.index(f"</b></font> {lab.replace('&', '&amp;')}") for lab in labels]
    assert positions == sorted(positions)
    n = next(i for i, s in enumerate(LIFECYCLE, 1) if s.label.startswith("runc create"))
    assert f"shim_{n} -> runc_{n}" in src


def test_lifecycle_takes_recorded_steps_and_phase_filters() -> None:
    steps = [Step("start", "pyctr", "daemon", "Tasks.Start"), Step("start", "daemon", "pyctr", "ok", reply=True)]
    src = lifecycle_sequence(steps, phases=["start"]).source
    assert "pyctr_1 -> daemon_1" in src and "daemon_2 -> pyctr_2" in src and "style=dashed" in src
    assert repr(steps[0]) == "<Step start: pyctr -> daemon Tasks.Start>"
    assert "Tasks.Start" not in lifecycle_sequence(steps, phases=["kill"]).source


def _env(second: int, topic: str, name: str = "x") -> Envelope:
    return Envelope(datetime(2024, 5, 1, 12, 0, second, tzinfo=UTC), "default", topic,
                    namespace_pb2.NamespaceCreate(name=name))


def test_timeline_keeps_the_last_events_and_counts_topics() -> None:
    tl = EventTimeline(maxlen=3)
    for i, t in enumerate(["/namespaces/create", "/namespaces/update", "/namespaces/create", "/tasks/exit"]):
        tl.add(_env(i, t))
    assert len(tl) == 3 and tl.total == 4
    assert tl.topics() == {"/namespaces/update": 1, "/namespaces/create": 1, "/tasks/exit": 1}
    assert repr(tl) == "<EventTimeline 3 events (total 4) last=/tasks/exit>"
    assert repr(tl.entries[0]) == "<TimelineEntry 12:00:01.000000 default /namespaces/update>"
    assert tl.entries[-1].summary == 'name: "x"'
    assert tl.text(last=1) == '12:00:03.000  default  /tasks/exit  name: "x"'


def test_timeline_svg_has_a_lane_per_topic_and_a_dot_per_event() -> None:
    tl = EventTimeline()
    for i, t in enumerate(["/a/b", "/c/d", "/a/b"]):
        tl.add(_env(i, t))
    svg = tl.svg()
    assert svg.count("<circle") == 3 and ">/a/b</text>" in svg and ">/c/d</text>" in svg
    bundle = tl._repr_mimebundle_()
    assert "/c/d" in bundle["text/plain"] and "<table" in bundle["text/html"]
    assert EventTimeline().svg().startswith("<svg") and EventTimeline()._repr_mimebundle_()["text/plain"]


def test_timeline_wait_for_wakes_on_add_from_another_thread() -> None:
    tl = EventTimeline()
    t = threading.Thread(target=lambda: tl.add(TimelineEntry(datetime.now(UTC), "ns", "/x/y")))
    t.start()
    assert tl.wait_for(lambda es: any(e.topic == "/x/y" for e in es), timeout=10)
    t.join()
    assert not tl.wait_for(lambda es: len(es) > 1, timeout=0.01)
