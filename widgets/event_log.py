"""EventLog: a timeline of the daemon's events as they happen."""
from __future__ import annotations

from typing import Any

import ipywidgets as w

from ..client import Client
from ..core.events import Envelope
from ..diagrams import EventTimeline
from .live import EventFeed, LiveWidget

__all__ = ["EventLog"]


class EventLog(LiveWidget, w.VBox):  # type: ignore[misc]  # ipywidgets is untyped
    """Subscribes (in a background thread) and shows a lane per topic plus the latest events.

    Without a ``feed`` it starts its own subscription for ``client`` (stopped by :meth:`stop`
    or :meth:`close`); given one, it only listens. Entries land in :attr:`timeline` at once;
    the view is redrawn at most ``1/interval`` times a second.
    """

    def __init__(self, client: Client | None = None, *filters: str, feed: EventFeed | None = None,
                 maxlen: int = 200, rows: int = 15, interval: float = 0.2, **throttle: Any) -> None:
        if feed is None and client is None:
            raise TypeError("EventLog needs a client or a feed")
        self.timeline = EventTimeline(maxlen)
        self.rows = rows
        self.header = w.HTML()
        self.lanes = w.HTML()
        self.table = w.HTML(layout=w.Layout(max_height="320px", overflow="auto"))
        clear = w.Button(description="clear", icon="trash", layout=w.Layout(width="90px"))
        clear.on_click(lambda _: self.clear())
        super().__init__([w.HBox([self.header, clear]), self.lanes, self.table])
        self._setup_live(interval, **throttle)
        self._owns_feed = feed is None
        self.feed = feed if feed is not None else EventFeed.for_client(client, *filters)  # type: ignore[arg-type]
        self.feed.add_listener(self._on_event)
        self.feed.start()
        self.redraw()

    def _on_event(self, envelope: Envelope) -> None:
        self.timeline.add(envelope)  # now, on the feed's thread: data is never late
        self.request_redraw()  # the view: throttled, on the widgets' thread

    def clear(self) -> None:
        self.timeline = EventTimeline(self.timeline._entries.maxlen or 200)
        self.redraw()

    def redraw(self) -> None:
        tl = self.timeline
        state = "listening" if self.feed.running else "stopped"
        self.header.value = (f"<b>events</b> <span style='color:#607d8b;font-size:11px'>{tl.total} received, "
                             f"{len(tl.topics())} topics · {state} on {self.feed.address}</span>")
        self.lanes.value = tl.svg() if len(tl) else "<i style='font-size:11px'>no events yet</i>"
        self.table.value = tl.html(last=self.rows)

    def summary(self) -> str:
        last = self.timeline.entries[-1].topic if len(self.timeline) else "-"
        return f"<EventLog {self.timeline.total} events, last {last}>"
