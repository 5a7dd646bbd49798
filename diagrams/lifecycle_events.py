"""A container's lifecycle as the daemon announced it: events -> :class:`~pyctrd.diagrams.Step` rows.

Every step of a run leaves an event on the daemon's exchange: the containers service
publishes ``/containers/create`` and ``/containers/delete``, the snapshots service
``/snapshot/prepare`` and ``/snapshot/remove``, and the shim - over ttrpc, back through the
daemon - ``/tasks/create`` (with the bundle and the init pid), ``/tasks/start``,
``/tasks/exit`` (with the exit status) and ``/tasks/delete``. :func:`steps_from_events` turns
the events of one container into the rows of :func:`~pyctrd.diagrams.lifecycle_sequence`:

* the **seen** step carries the event's timestamp and what it says (ids, pid, status);
* the calls that must have come before it in containerd's protocol (``Tasks.Start`` ->
  ``Start`` -> ``runc start``) are added as **implied** steps, without a time.

Nothing says who sent ``Tasks.Kill``: a task that exits by itself and one that was killed
both end in ``/tasks/exit``, so the phase is called ``exit``, not ``kill``.

>>> from datetime import datetime, UTC
>>> from pyctrd._api.containerd.api.events import task_pb2
>>> from pyctrd.core.events import Envelope
>>> t = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
>>> steps = steps_from_events([Envelope(t, "ns", "/tasks/start", task_pb2.TaskStart(container_id="c1", pid=42))])
>>> [s.label for s in steps]
['Tasks.Start c1', 'Start', 'runc start c1', 'event /tasks/start pid 42']
>>> steps[-1].at == t and steps[0].at is None
True
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..core.events import Envelope
from .lifecycle import Step

__all__ = ["AFTER", "TOPICS", "container_of", "steps_from_events"]


def container_of(env: Envelope) -> str:
    """The container an event is about ("" for none): ``id`` of container events,
    ``container_id`` of task events, the ``key`` of snapshot events (a container's
    snapshot is named after it by ``new_container`` and ``ctr run``)."""
    ev: Any = env.event
    if env.topic.startswith("/containers/"):
        return str(getattr(ev, "id", ""))
    if env.topic.startswith("/tasks/"):
        return str(getattr(ev, "container_id", ""))
    if env.topic.startswith("/snapshot/"):
        return str(getattr(ev, "key", ""))
    return ""


def _container_create(ev: Any, c: str) -> list[Step]:
    runtime = getattr(getattr(ev, "runtime", None), "name", "")
    what = ", ".join(x for x in (f"image {ev.image}" if getattr(ev, "image", "") else "",
                                 f"runtime {runtime}" if runtime else "") if x)
    return [Step("create", "pyctr", "daemon", f"Containers.Create {c}" + (f" ({what})" if what else ""))]


def _snapshot_prepare(ev: Any, c: str) -> list[Step]:
    parent = getattr(ev, "parent", "")
    return [Step("create", "pyctr", "daemon", f"Snapshots.Prepare {c}" + (f" on {parent[:19]}…" if parent else ""))]


def _task_create(ev: Any, c: str) -> list[Step]:
    return [Step("create", "pyctr", "daemon", f"Tasks.Create {c}"),
            Step("create", "daemon", "shim", "exec containerd-shim-… start"),
            Step("create", "daemon", "shim", f"Create (bundle {ev.bundle})" if ev.bundle else "Create"),
            Step("create", "shim", "runc", "runc create --bundle …"),
            Step("create", "runc", "shim", f"init pid {ev.pid}", reply=True),
            Step("create", "shim", "daemon", f"event /tasks/create pid {ev.pid}", reply=True)]


def _task_start(ev: Any, c: str) -> list[Step]:
    return [Step("start", "pyctr", "daemon", f"Tasks.Start {c}"), Step("start", "daemon", "shim", "Start"),
            Step("start", "shim", "runc", f"runc start {c}"),
            Step("start", "shim", "daemon", f"event /tasks/start pid {ev.pid}", reply=True)]


def _exec_added(ev: Any, c: str) -> list[Step]:
    return [Step("exec", "pyctr", "daemon", f"Tasks.Exec {ev.exec_id} (its process spec)"),
            Step("exec", "daemon", "shim", f"Exec {ev.exec_id}"),
            Step("exec", "shim", "daemon", f"event /tasks/exec-added {ev.exec_id}", reply=True)]


def _exec_started(ev: Any, c: str) -> list[Step]:
    return [Step("exec", "pyctr", "daemon", f"Tasks.Start {c} exec {ev.exec_id}"),
            Step("exec", "daemon", "shim", f"Start {ev.exec_id}"),
            Step("exec", "shim", "runc", f"runc exec --process … {c}"),
            Step("exec", "shim", "daemon", f"event /tasks/exec-started {ev.exec_id} pid {ev.pid}", reply=True)]


def _task_exit(ev: Any, c: str) -> list[Step]:
    exec_id = getattr(ev, "id", "")
    who = f"exec {exec_id} pid {ev.pid}" if exec_id and exec_id != c else f"pid {ev.pid}"
    return [Step("exit", "shim", "daemon", f"event /tasks/exit {who} status {ev.exit_status}", reply=True)]


def _task_delete(ev: Any, c: str) -> list[Step]:
    return [Step("delete", "pyctr", "daemon", f"Tasks.Delete {c}"), Step("delete", "daemon", "shim", "Delete"),
            Step("delete", "shim", "runc", f"runc delete {c}"),
            Step("delete", "shim", "daemon", f"event /tasks/delete pid {ev.pid} status {ev.exit_status}",
                 reply=True)]


def _container_delete(ev: Any, c: str) -> list[Step]:
    return [Step("delete", "pyctr", "daemon", f"Containers.Delete {c}")]


def _snapshot_remove(ev: Any, c: str) -> list[Step]:
    return [Step("delete", "pyctr", "daemon", f"Snapshots.Remove {c}")]


def _simple(phase: str, call: str, shim_call: str, label: str) -> Callable[[Any, str], list[Step]]:
    def steps(ev: Any, c: str) -> list[Step]:
        return [Step(phase, "pyctr", "daemon", f"{call} {c}"), Step(phase, "daemon", "shim", shim_call),
                Step(phase, "shim", "daemon", label, reply=True)]
    return steps


#: topic -> the steps it shows: implied calls first, the seen step (stamped with the time) last.
TOPICS: dict[str, Callable[[Any, str], list[Step]]] = {
    "/containers/create": _container_create,
    "/snapshot/prepare": _snapshot_prepare,
    "/tasks/create": _task_create,
    "/tasks/start": _task_start,
    "/tasks/exec-added": _exec_added,
    "/tasks/exec-started": _exec_started,
    "/tasks/paused": _simple("pause", "Tasks.Pause", "Pause (runc pause)", "event /tasks/paused"),
    "/tasks/resumed": _simple("pause", "Tasks.Resume", "Resume (runc resume)", "event /tasks/resumed"),
    "/tasks/exit": _task_exit,
    "/tasks/oom": lambda ev, c: [Step("exit", "shim", "daemon", "event /tasks/oom", reply=True)],
    "/tasks/delete": _task_delete,
    "/containers/delete": _container_delete,
    "/snapshot/remove": _snapshot_remove,
}
#: topic -> implied steps that follow the seen one.
AFTER: dict[str, tuple[Step, ...]] = {"/tasks/delete": (Step("delete", "daemon", "shim", "Shutdown (the shim exits)"),)}


def steps_from_events(events: Iterable[Envelope], *, container: str | None = None) -> list[Step]:
    """The steps the events of ``container`` show, in the events' order (see the module docs).

    ``container`` defaults to the first container a task or container event names; only
    events of its namespace count. Topics without a meaning here (images, content, other
    containers) are left out. The *seen* step of each event is the one that carries the
    event's timestamp; for ``/containers/*`` and ``/snapshot/*`` (published by the daemon
    while it handles the call) it is the call itself, for ``/tasks/*`` the shim's event.
    """
    envs = [e for e in events if e.topic in TOPICS]
    first = next((e for e in envs if not e.topic.startswith("/snapshot/") and container_of(e)
                  and (container is None or container_of(e) == container)), None)
    if first is None:
        return []
    cid, ns = container_of(first), first.namespace
    out: list[Step] = []
    for env in envs:
        if env.namespace != ns or container_of(env) != cid:
            continue
        steps = TOPICS[env.topic](env.event, cid)
        last = steps[-1]
        out += [*steps[:-1], Step(last.phase, last.src, last.dst, last.label, last.reply, env.timestamp),
                *AFTER.get(env.topic, ())]
    return out
