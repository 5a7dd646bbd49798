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
    architecture_text,
    block_of,
    lifecycle_sequence,
    lifecycle_text,
    steps_from_events,
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


def test_architecture_has_the_bundle_subsystem_between_storage_metadata_and_runtime() -> None:
    plugins = [PluginInfo("io.containerd.content.v1", "content"), PluginInfo("io.containerd.metadata.v1", "sqlite"),
               PluginInfo("io.containerd.runtime.v2", "task")]
    dot = architecture(plugins, state="/run/lab/state", bundles=["ns1/c1"])
    src = dot.source
    bundle = next(x for x in src.splitlines() if x.strip().startswith("Bundle ["))
    assert "/run/lab/state/io.containerd.runtime.v2.task/&lt;namespace&gt;/&lt;id&gt;/" in bundle
    assert "config.json" in bundle and "rootfs/" in bundle and "(subsystem)" in bundle
    assert "written by task (io.containerd.runtime.v2, ok)" in bundle and "bundle ns1/c1" in bundle
    for edge in ("Metadata -> Bundle", "Storage -> Bundle", "Bundle -> Runtime"):
        assert edge in src
    assert "<b>Runtime (subsystem)</b>" in src and "<b>Storage</b>" in src
    # no runtime v2 loaded: the block says there are no bundles
    assert "(no runtime v2 plugin: no bundles)" in architecture(plugins[:2]).source


def test_architecture_text_lists_blocks_top_to_bottom() -> None:
    plugins = [PluginInfo("io.containerd.grpc.v1", "version"), PluginInfo("io.containerd.content.v1", "content"),
               PluginInfo("io.containerd.snapshotter.v1", "zfs", error_code=2, error="no: skip plugin"),
               PluginInfo("io.containerd.runtime.v2", "task")]
    text = architecture(plugins, address="/tmp/x.sock", state="/s").text()
    lines = text.splitlines()
    assert lines[1] == "  | gRPC over /tmp/x.sock"
    heads = [ln.split()[0] for ln in lines if ln[:1].isupper()]
    assert heads == ["API", "Services", "Metadata", "Events", "Storage", "Bundle", "Runtime"]
    assert "Storage    content, zfs [skip]" in lines and "Runtime *  task" in lines
    assert "Bundle *   /s/io.containerd.runtime.v2.task/<namespace>/<id>/" in lines
    assert "           written by task (io.containerd.runtime.v2, ok)" in lines
    assert lines[-2].startswith("shim -> runc")
    assert architecture_text(plugins, address="/tmp/x.sock", state="/s") == text
    from rich.console import Console
    console = Console(width=120, record=True)
    console.print(architecture(plugins))
    assert "Bundle *" in console.export_text()


def test_lifecycle_text_numbers_calls_and_replies() -> None:
    lines = lifecycle_sequence(phases=("kill",)).text().splitlines()
    assert [ln.split()[0] for ln in lines] == ["1", "2", "3", "4"]
    assert lines[0].split() == ["1", "kill", "pyctr", "->", "daemon", "Tasks.Kill", "SIGTERM"]
    assert lines[3].split()[2:5] == ["daemon", "<-", "shim"]  # the exit event comes back
    assert lifecycle_text(LIFECYCLE) == lifecycle_sequence().text()


def _task_env(ms: int, topic: str, event: object, ns: str = "ns1") -> Envelope:
    return Envelope(datetime(2024, 5, 1, 12, 0, 0, ms * 1000, tzinfo=UTC), ns, topic, event)  # type: ignore[arg-type]


def _recorded_run() -> list[Envelope]:
    """The events one `pyctr run --rm` of c1 publishes (plus noise: an image, another container)."""
    from pyctrd._api.containerd.api.events import container_pb2, image_pb2, snapshot_pb2, task_pb2

    return [
        _task_env(0, "/images/create", image_pb2.ImageCreate(name="r/busybox:latest")),
        _task_env(1, "/snapshot/prepare", snapshot_pb2.SnapshotPrepare(key="c1", parent="sha256:" + "a" * 64)),
        _task_env(2, "/containers/create", container_pb2.ContainerCreate(
            id="c1", image="r/busybox:latest", runtime=container_pb2.ContainerCreate.Runtime(name="io.containerd.runc.v2"))),
        _task_env(3, "/containers/create", container_pb2.ContainerCreate(id="other")),
        _task_env(3, "/containers/create", container_pb2.ContainerCreate(id="c1"), ns="ns2"),
        _task_env(40, "/tasks/create", task_pb2.TaskCreate(container_id="c1", bundle="/s/c1", pid=4242)),
        _task_env(45, "/tasks/start", task_pb2.TaskStart(container_id="c1", pid=4242)),
        _task_env(60, "/tasks/exit", task_pb2.TaskExit(container_id="c1", id="c1", pid=4242, exit_status=3)),
        _task_env(70, "/tasks/delete", task_pb2.TaskDelete(container_id="c1", pid=4242, exit_status=3)),
        _task_env(80, "/containers/delete", container_pb2.ContainerDelete(id="c1")),
    ]


def test_lifecycle_from_recorded_events_has_real_ids_pids_and_times() -> None:
    steps = steps_from_events(_recorded_run())
    seen = [s for s in steps if s.at is not None]
    assert [s.label for s in seen] == [
        "Snapshots.Prepare c1 on sha256:aaaaaaaaaaaa…",
        "Containers.Create c1 (image r/busybox:latest, runtime io.containerd.runc.v2)",
        "event /tasks/create pid 4242", "event /tasks/start pid 4242", "event /tasks/exit pid 4242 status 3",
        "event /tasks/delete pid 4242 status 3", "Containers.Delete c1"]
    assert [s.phase for s in seen] == ["create", "create", "create", "start", "exit", "delete", "delete"]
    assert "Create (bundle /s/c1)" in [s.label for s in steps] and "runc start c1" in [s.label for s in steps]
    assert "other" not in str(steps) and steps_from_events(_recorded_run(), container="other")[0].label == \
        "Containers.Create other"
    assert steps_from_events(_recorded_run(), container="nope") == []
    dot = lifecycle_sequence(events=_recorded_run())
    assert "seen from 12:00:00.001 UTC" in dot.source and "+69.0 ms" in dot.source  # /tasks/delete
    text = dot.text().splitlines()
    exit_line = next(ln for ln in text if "/tasks/exit" in ln)
    assert exit_line.split()[1:5] == ["exit", "+59.0", "ms", "daemon"]
    assert repr(seen[3]) == "<Step start: shim -> daemon event /tasks/start pid 4242 at 12:00:00.045>"
    assert lifecycle_sequence(events=_recorded_run(), phases=("start",)).text().count("\n") == 3


def test_lifecycle_from_events_shows_execs_and_pauses() -> None:
    from pyctrd._api.containerd.api.events import task_pb2

    run = [_task_env(1, "/tasks/exec-added", task_pb2.TaskExecAdded(container_id="c1", exec_id="e1")),
           _task_env(2, "/tasks/exec-started", task_pb2.TaskExecStarted(container_id="c1", exec_id="e1", pid=77)),
           _task_env(3, "/tasks/exit", task_pb2.TaskExit(container_id="c1", id="e1", pid=77, exit_status=0)),
           _task_env(4, "/tasks/paused", task_pb2.TaskPaused(container_id="c1")),
           _task_env(5, "/tasks/resumed", task_pb2.TaskResumed(container_id="c1"))]
    seen = [s for s in steps_from_events(run) if s.at]
    assert [s.label for s in seen] == ["event /tasks/exec-added e1", "event /tasks/exec-started e1 pid 77",
                                       "event /tasks/exit exec e1 pid 77 status 0", "event /tasks/paused",
                                       "event /tasks/resumed"]
    assert [s.phase for s in seen] == ["exec", "exec", "exit", "pause", "pause"]
    assert "runc exec --process … c1" in lifecycle_sequence(events=run).text()
