"""Who talks to whom when a container runs: pyctr -> daemon -> shim -> runc, as a sequence diagram.

Each :class:`Step` is one message between two participants; :data:`LIFECYCLE` lists
containerd 1.6's steps for ``create``, ``start``, ``kill`` and ``delete`` (the calls ``ctr
run`` / ``ctr task kill`` / ``ctr task delete`` make). The drawing is graphviz laid out as a
sequence diagram: one column (lifeline) per participant, one row per message, top to bottom.

>>> dot = lifecycle_sequence(phases=("start",))
>>> "runc start" in dot.source and "runc create" not in dot.source
True
"""
from __future__ import annotations

import html
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import graphviz

from .style import FONT

__all__ = ["LIFECYCLE", "PARTICIPANTS", "PHASES", "Step", "lifecycle_sequence"]

PARTICIPANTS = ("pyctr", "daemon", "shim", "runc")
PHASES = ("create", "start", "kill", "delete")
_PHASE_COLOUR = {"create": "#1565c0", "start": "#2e7d32", "kill": "#c62828", "delete": "#6a1b9a"}


@dataclass(frozen=True)
class Step:
    """One message: ``src`` sends ``label`` to ``dst`` (``reply`` draws it dashed)."""

    phase: str
    src: str
    dst: str
    label: str
    reply: bool = False

    def __repr__(self) -> str:
        return f"<Step {self.phase}: {self.src} -> {self.dst} {self.label}>"


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


def lifecycle_sequence(steps: Sequence[Step] = LIFECYCLE, *, phases: Iterable[str] = PHASES,
                       participants: Sequence[str] = PARTICIPANTS) -> graphviz.Digraph:
    """Draw ``steps`` (those in ``phases``) as a sequence diagram, numbered in order."""
    wanted = set(phases)
    chosen = [s for s in steps if s.phase in wanted]
    dot = graphviz.Digraph("lifecycle", graph_attr={"rankdir": "TB", "fontname": FONT, "splines": "line",
                                                     "nodesep": "1.6", "ranksep": "0.12", "newrank": "true"},
                           node_attr={"fontname": FONT, "fontsize": "11"},
                           edge_attr={"fontname": FONT, "fontsize": "10"})
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
        label = f"<<font color='{colour}'><b>{n}</b></font> {html.escape(s.label)}>"
        dot.edge(f"{s.src}_{n}", f"{s.dst}_{n}", label=label, color=colour, constraint="false",
                 style="dashed" if s.reply else "solid", arrowhead="open" if s.reply else "normal")
    return dot
