"""Who talks to whom when a container runs: pyctr -> daemon -> shim -> runc, as a sequence diagram.

Each :class:`Step` is one message between two participants; :data:`LIFECYCLE` lists
containerd 1.6's steps for ``create``, ``start``, ``kill`` and ``delete`` (the calls ``ctr
run`` / ``ctr task kill`` / ``ctr task delete`` make). The drawing is graphviz laid out as a
sequence diagram: one column (lifeline) per participant, one row per message, top to bottom.

That default is the teaching sequence. :func:`steps_from_events` builds the same kind of
sequence from what a daemon *announced* while one container ran - ``/containers/create``,
``/tasks/create``, ``/tasks/start``, ``/tasks/exit``, ``/tasks/delete``,
``/containers/delete`` - with the real IDs, pids, exit status and times. An event shows
that a step happened and when; the calls that led to it (``Tasks.Start`` -> ``Start`` ->
``runc start``) are implied by containerd's protocol and drawn without a time::

    log = [env for env in client.events.subscribe()]       # in a thread, while c1 runs
    lifecycle_sequence(events=log, container="c1")          # .text() for a terminal

>>> dot = lifecycle_sequence(phases=("start",))
>>> "runc start" in dot.source and "runc create" not in dot.source
True
"""
from __future__ import annotations

import html
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from ..core.events import Envelope
from .drawing import Drawing
from .style import FONT

__all__ = ["LIFECYCLE", "PARTICIPANTS", "PHASES", "Step", "lifecycle_sequence", "lifecycle_text"]

PARTICIPANTS = ("pyctr", "daemon", "shim", "runc")
PHASES = ("create", "start", "kill", "delete")
_PHASE_COLOUR = {"create": "#1565c0", "start": "#2e7d32", "exec": "#00838f", "pause": "#5d4037",
                 "kill": "#c62828", "exit": "#ef6c00", "delete": "#6a1b9a"}


@dataclass(frozen=True)
class Step:
    """One message: ``src`` sends ``label`` to ``dst`` (``reply`` draws it dashed); ``at`` is
    when it was seen (an event's timestamp), None for a step that is only implied."""

    phase: str
    src: str
    dst: str
    label: str
    reply: bool = False
    at: datetime | None = None

    def __repr__(self) -> str:
        when = f" at {self.at:%H:%M:%S.%f}"[:-3] if self.at else ""
        return f"<Step {self.phase}: {self.src} -> {self.dst} {self.label}{when}>"


LIFECYCLE: tuple[Step, ...] = (
    Step("create", "pyctr", "daemon", "Containers.Create (metadata only)"),
    Step("create", "pyctr", "daemon", "Tasks.Create (rootfs mounts, stdio FIFOs)"),
    Step("create", "daemon", "shim", "exec containerd-shim-… start"),
    Step("create", "shim", "daemon", "ttrpc address", reply=True),
    Step("create", "daemon", "shim", "Create (bundle: config.json + rootfs)"),
    Step("create", "shim", "runc", "runc create --bundle …"),
    Step("create", "runc", "shim", "init pid (paused before exec)", reply=True),
    Step("create", "shim", "daemon", "event /tasks/create", reply=True),
    Step("create", "daemon", "pyctr", "pid", reply=True),
    Step("start", "pyctr", "daemon", "Tasks.Start"),
    Step("start", "daemon", "shim", "Start"),
    Step("start", "shim", "runc", "runc start (exec the process)"),
    Step("start", "shim", "daemon", "event /tasks/start", reply=True),
    Step("kill", "pyctr", "daemon", "Tasks.Kill SIGTERM"),
    Step("kill", "daemon", "shim", "Kill"),
    Step("kill", "shim", "runc", "runc kill"),
    Step("kill", "shim", "daemon", "event /tasks/exit (status)", reply=True),
    Step("delete", "pyctr", "daemon", "Tasks.Delete"),
    Step("delete", "daemon", "shim", "Delete"),
    Step("delete", "shim", "runc", "runc delete"),
    Step("delete", "shim", "daemon", "event /tasks/delete", reply=True),
    Step("delete", "daemon", "shim", "Shutdown (the shim exits)"),
    Step("delete", "pyctr", "daemon", "Containers.Delete"),
)


def _offset(at: datetime | None, t0: datetime | None) -> str:
    """``+12.3 ms`` after the first timed step ("" for an untimed one)."""
    if at is None or t0 is None:
        return ""
    ms = (at - t0).total_seconds() * 1000
    return f"+{ms:.1f} ms" if ms < 10_000 else f"+{ms / 1000:.2f} s"


def _choose(steps: Sequence[Step], phases: Iterable[str] | None) -> list[Step]:
    wanted = None if phases is None else set(phases)
    return [s for s in steps if wanted is None or s.phase in wanted]


def lifecycle_text(steps: Sequence[Step] = LIFECYCLE, *, phases: Iterable[str] | None = None) -> str:
    """The sequence as numbered lines: phase, time after the first event, who -> whom, what.

    ``->`` is a call, ``<-`` a reply or event coming back.

    >>> print(lifecycle_text(phases=("start",)))
     1  start                  pyctr  -> daemon  Tasks.Start
     2  start                  daemon -> shim    Start
     3  start                  shim   -> runc    runc start (exec the process)
     4  start                  daemon <- shim    event /tasks/start
    """
    chosen = _choose(steps, phases)
    t0 = next((s.at for s in chosen if s.at is not None), None)
    width = max((len(p) for s in chosen for p in (s.src, s.dst)), default=6)
    lines = []
    for n, s in enumerate(chosen, 1):
        a, arrow, b = (s.dst, "<-", s.src) if s.reply else (s.src, "->", s.dst)
        lines.append(f"{n:>2}  {s.phase:<7} {_offset(s.at, t0):>14}  {a:<{width}} {arrow} {b:<{width}}  {s.label}")
    return "\n".join(lines)


def lifecycle_sequence(steps: Sequence[Step] = LIFECYCLE, *, phases: Iterable[str] | None = None,
                       participants: Sequence[str] = PARTICIPANTS, events: Iterable[Envelope] | None = None,
                       container: str | None = None) -> Drawing:
    """Draw ``steps`` (those in ``phases``; all by default) as a sequence diagram, numbered in order.

    With ``events`` (:class:`~pyctrd.core.events.Envelope` objects, e.g. collected from
    ``client.events.subscribe()``), the steps are :func:`~pyctrd.diagrams.lifecycle_events.steps_from_events` of ``container``
    (default: the first container the events name) instead, each seen step labelled with its
    time after the first one.
    """
    if events is not None:
        from .lifecycle_events import steps_from_events  # it builds Steps: imported here, not at the top

        steps = steps_from_events(events, container=container)
    chosen = _choose(steps, phases)
    t0 = next((s.at for s in chosen if s.at is not None), None)
    dot = Drawing("lifecycle", graph_attr={"rankdir": "TB", "fontname": FONT, "splines": "line",
                                           "nodesep": "1.6", "ranksep": "0.12", "newrank": "true"},
                  node_attr={"fontname": FONT, "fontsize": "11"},
                  edge_attr={"fontname": FONT, "fontsize": "10"},
                  text=lifecycle_text(chosen))
    if t0 is not None:
        dot.attr(label=f"seen from {t0:%H:%M:%S.%f}"[:-3] + " UTC", labelloc="t")
    rows = len(chosen) + 1
    for p in participants:
        dot.node(f"{p}_0", p, shape="box", style="filled,rounded", fillcolor="#eceff1")
        for r in range(1, rows + 1):
            dot.node(f"{p}_{r}", "", shape="point", width="0.01", color="#90a4ae")
            dot.edge(f"{p}_{r - 1}", f"{p}_{r}", style="dashed", arrowhead="none", color="#b0bec5",
                     weight="100")
    for r in range(rows + 1):
        with dot.subgraph() as same:
            same.attr(rank="same")
            for p in participants:
                same.node(f"{p}_{r}")
    for a, b in itertools.pairwise(participants):  # keep the columns in order
        dot.edge(f"{a}_0", f"{b}_0", style="invis")
    for n, s in enumerate(chosen, 1):
        colour = _PHASE_COLOUR.get(s.phase, "#37474f")
        when = f" <font color='#607d8b' point-size='9'>{_offset(s.at, t0)}</font>" if s.at else ""
        label = f"<<font color='{colour}'><b>{n}</b></font> {html.escape(s.label)}{when}>"
        dot.edge(f"{s.src}_{n}", f"{s.dst}_{n}", label=label, color=colour, constraint="false",
                 style="dashed" if s.reply else "solid", arrowhead="open" if s.reply else "normal")
    return dot
