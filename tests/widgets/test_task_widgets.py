"""A real container's task, started and removed under the widgets' eyes: the state tree gains and
loses the bundle, the event log shows the task's topics, the snapshot chain its active snapshot."""
from __future__ import annotations

import signal

import pytest

from pyctrd.client import cio
from pyctrd.lab import Lab
from pyctrd.widgets import DirTree, EventFeed, EventLog, SnapshotChain

from .conftest import RecordingComm, comm_of, until

TASK_DIR = "io.containerd.runtime.v2.task"




@pytest.mark.requires_root
@pytest.mark.needs_dot
def test_a_task_starting_and_going_shows_in_tree_log_and_chain(lab: Lab, comms: list[RecordingComm]) -> None:
    ns, cid = "w-task", "t1"
    bundle = f"{TASK_DIR}/{ns}/{cid}"
    c = lab.client(ns)
    ref = f"{lab.registry_with_samples()}/busybox:latest"
    c.pull(ref)
    feed = EventFeed.for_client(c).start()
    log = EventLog(feed=feed, interval=0.05)
    tree = DirTree.for_lab(lab, feed=feed, interval=0.05)
    chain = SnapshotChain(c, feed=feed, interval=0.05, usage=False)
    try:
        assert bundle not in tree.snapshots["state"].entries  # type: ignore[union-attr]
        assert "active" not in chain.summary()
        tree.set_baseline()  # marks: what changed since now, not since the previous scan
        c.new_container(cid, ref, args=["sleep", "60"])
        task = c.tasks.create(cid, io=cio.null_io())
        task.start()

        def task_topics() -> list[str]:
            return [e.topic for e in log.timeline.entries if e.namespace == ns and e.topic.startswith("/tasks/")]

        assert log.timeline.wait_for(lambda _: task_topics()[:2] == ["/tasks/create", "/tasks/start"], 15)
        assert until(log, lambda: "/tasks/start" in log.table.value)
        assert any("/tasks/start" in v for v in comm_of(log.table, comms).updates("value"))

        assert until(tree, lambda: bundle in tree.snapshots["state"].entries)  # type: ignore[union-attr]
        tree.refresh()  # settle: a redraw on the timer's thread may be half-way through its fields
        assert bundle in tree.changes["state"].added
        assert "pyctrd-changed" in tree.views["state"].value and cid in tree.views["state"].value

        assert until(chain, lambda: "active=1" in chain.summary())
        chain.refresh()
        assert chain.text().splitlines()[-1].strip() == f"└── {cid}  ACTIVE"
        assert cid in chain.svg.value

        tree.set_baseline()
        task.kill(signal.SIGKILL)
        task.wait(timeout=30)
        task.delete()
        c.containers.delete(cid, snapshot_cleanup=True)
        assert log.timeline.wait_for(lambda _: task_topics()[-2:] == ["/tasks/exit", "/tasks/delete"], 15)
        assert until(tree, lambda: bundle not in tree.snapshots["state"].entries)  # type: ignore[union-attr]
        tree.refresh()
        assert bundle in tree.changes["state"].removed
        assert until(chain, lambda: "active" not in chain.summary())
    finally:
        for t in c.tasks.list():
            c.tasks.get(t.id).delete(force=True)
        for ctr in c.containers.list():
            c.containers.delete(ctr.id, snapshot_cleanup=True)
        chain.close()
        tree.close()
        log.close()
        feed.stop()
        c.images.delete(ref, sync=True)
