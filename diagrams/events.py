"""A timeline of what the daemon announced: topics over time, safe to fill from another thread.

Every change the daemon makes is published as an event on a topic (``/namespaces/create``,
``/tasks/exit``, …). :class:`EventTimeline` keeps the last ``maxlen`` of them as
:class:`TimelineEntry` rows and draws them as a table, a text log, or an SVG strip with one
lane per topic::

    tl = EventTimeline()
    for envelope in client.events.subscribe():    # usually in a background thread
        tl.add(envelope)

>>> from datetime import datetime, UTC
>>> tl = EventTimeline(maxlen=2)
>>> for n in range(3):
...     _ = tl.add(TimelineEntry(datetime(2024, 1, 1, 0, 0, n, tzinfo=UTC), "default", "/namespaces/create", f"n{n}"))
>>> len(tl), tl.total, [e.summary for e in tl.entries]
(2, 3, ['n1', 'n2'])
>>> print(tl.text())
00:00:01.000  default  /namespaces/create  n1
00:00:02.000  default  /namespaces/create  n2
"""
from __future__ import annotations

import html
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.protobuf import text_format
from google.protobuf.message import Message

from ..core.events import Envelope

__all__ = ["EventTimeline", "TimelineEntry"]

_LANE_COLOURS = ("#1565c0", "#2e7d32", "#c62828", "#6a1b9a", "#ef6c00", "#00838f", "#5d4037")


def _summary(event: Any, limit: int = 70) -> str:
    if isinstance(event, Message):
        text = str(text_format.MessageToString(event, as_one_line=True))
    else:
        text = "" if event is None else str(event)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class TimelineEntry:
    """One event, reduced to what a timeline shows."""

    timestamp: datetime
    namespace: str
    topic: str
    summary: str = ""

    @classmethod
    def from_envelope(cls, env: Envelope) -> TimelineEntry:
        return cls(env.timestamp, env.namespace, env.topic, _summary(env.event))

    def __repr__(self) -> str:
        return f"<TimelineEntry {self.timestamp:%H:%M:%S.%f} {self.namespace} {self.topic}>"

    def line(self) -> str:
        return f"{self.timestamp:%H:%M:%S.%f}"[:12] + f"  {self.namespace}  {self.topic}  {self.summary}".rstrip()


class EventTimeline:
    """The last ``maxlen`` events, in arrival order; ``add`` may be called from any thread."""

    def __init__(self, maxlen: int = 500) -> None:
        self._entries: deque[TimelineEntry] = deque(maxlen=maxlen)
        self._cond = threading.Condition()
        self.total = 0

    def add(self, item: Envelope | TimelineEntry) -> TimelineEntry:
        entry = item if isinstance(item, TimelineEntry) else TimelineEntry.from_envelope(item)
        with self._cond:
            self._entries.append(entry)
            self.total += 1
            self._cond.notify_all()
        return entry

    @property
    def entries(self) -> list[TimelineEntry]:
        with self._cond:
            return list(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        last = self._entries[-1].topic if self._entries else "-"
        return f"<EventTimeline {len(self)} events (total {self.total}) last={last}>"

    def topics(self) -> Counter[str]:
        """How many of the kept events went to each topic."""
        return Counter(e.topic for e in self.entries)

    def wait_for(self, predicate: Callable[[list[TimelineEntry]], bool], timeout: float) -> bool:
        """Block until ``predicate(entries)`` holds (True) or ``timeout`` seconds pass (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(list(self._entries)), timeout)

    def text(self, last: int = 20) -> str:
        return "\n".join(e.line() for e in self.entries[-last:])

    def html(self, last: int = 30) -> str:
        rows = "".join(
            f"<tr><td>{e.timestamp:%H:%M:%S.%f}"[:-3] + f"</td><td>{html.escape(e.namespace)}</td>"
            f"<td><code>{html.escape(e.topic)}</code></td><td>{html.escape(e.summary)}</td></tr>"
            for e in reversed(self.entries[-last:]))
        head = "<tr><th>time</th><th>namespace</th><th>topic</th><th>event</th></tr>"
        return f"<table style='font-size:11px'>{head}{rows}</table>"

    def svg(self, width: int = 640, lane: int = 18) -> str:
        """One lane per topic, a dot per event, time running left to right."""
        entries = self.entries
        topics = list(dict.fromkeys(e.topic for e in entries))
        height = lane * max(1, len(topics)) + 8
        parts = [(f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
                  "font-family='Helvetica' font-size='10'>")]
        if entries:
            t0 = entries[0].timestamp.timestamp()
            span = max(entries[-1].timestamp.timestamp() - t0, 1e-3)
            left = 150
            for i, topic in enumerate(topics):
                y = 4 + lane * i + lane // 2
                colour = _LANE_COLOURS[i % len(_LANE_COLOURS)]
                parts.append(f"<text x='2' y='{y + 3}' fill='{colour}'>{html.escape(topic)}</text>"
                             f"<line x1='{left}' y1='{y}' x2='{width - 6}' y2='{y}' stroke='#eceff1'/>")
                for e in entries:
                    if e.topic == topic:
                        x = left + (width - left - 10) * (e.timestamp.timestamp() - t0) / span
                        parts.append(f"<circle cx='{x:.1f}' cy='{y}' r='4' fill='{colour}'>"
                                     f"<title>{html.escape(e.line())}</title></circle>")
        parts.append("</svg>")
        return "".join(parts)

    def __rich__(self) -> Any:
        from rich.table import Table

        t = Table("time", "namespace", "topic", "event", title=f"{self.total} events")
        for e in self.entries[-20:]:
            t.add_row(f"{e.timestamp:%H:%M:%S.%f}"[:12], e.namespace, e.topic, e.summary)
        return t

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/plain": self.text() or repr(self), "text/html": self.svg() + self.html()}
