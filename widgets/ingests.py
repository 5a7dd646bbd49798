"""IngestWatch: the content store's active ingests, polled - how a pull started anywhere shows.

A pull writes each blob into the content store through a ``Write`` stream under a *ref*
(``layer-sha256:…``). Until the blob is committed the daemon lists that ingest in
``ListStatuses``, with how many bytes it has and how many it expects. ``ctr images pull``
draws its bars from exactly these statuses - it polls them - so anyone can watch a pull
they did not start: another notebook's, or ``pyctr images pull`` in a terminal. Ingests
are per namespace, like everything else in the metadata store: the client's namespace is
the one watched.

>>> from pyctrd.core.content import Status
>>> print(ingests_text({"layer-sha256:" + "a" * 64: Status("layer-sha256:" + "a" * 64, 1024, 2048)}))
layer-sha256:aaaaaaaaaaaa…       |+++++     |  1.0 KiB / 2.0 KiB
"""
from __future__ import annotations

import html
import threading
from collections import deque
from collections.abc import Callable, Mapping

from ..client import Client
from ..core.content import Status
from ..diagrams import human_size
from ..errdefs import PyctrdError

__all__ = ["IngestWatch", "ingests_html", "ingests_text"]


def _short(ref: str) -> str:
    kind, _, digest = ref.partition("-")
    if digest.startswith("sha256:"):
        return f"{kind}-{digest[:19]}…"
    return ref


def _fraction(s: Status) -> float:
    return min(1.0, s.offset / s.total) if s.total else 0.0


def ingests_text(ingests: Mapping[str, Status], bar: int = 10) -> str:
    """One line per ingest, as ``ctr content active`` with a bar."""
    lines = []
    for ref, s in sorted(ingests.items()):
        filled = round(_fraction(s) * bar)
        total = human_size(s.total) if s.total else "?"
        lines.append(f"{_short(ref):32} |{'+' * filled}{' ' * (bar - filled)}|  {human_size(s.offset)} / {total}")
    return "\n".join(lines)


def ingests_html(ingests: Mapping[str, Status], finished: list[str]) -> str:
    """A bar per active ingest, then the refs that went since (committed or aborted)."""
    rows = []
    for ref, s in sorted(ingests.items()):
        pct = f"{_fraction(s) * 100:.0f}%"
        total = human_size(s.total) if s.total else "?"
        rows.append(f"<tr><td><code title='{html.escape(ref)}'>{html.escape(_short(ref))}</code></td>"
                    f"<td style='width:220px'><div style='background:#eceff1;height:10px'>"
                    f"<div style='background:#1565c0;width:{pct};height:10px'></div></div></td>"
                    f"<td style='text-align:right'>{human_size(s.offset)} / {total}</td></tr>")
    table = f"<table style='font-size:11px'>{''.join(rows)}</table>" if rows else ""
    gone = ""
    if finished:
        refs = ", ".join(f"<code title='{html.escape(r)}'>{html.escape(_short(r))}</code>" for r in finished)
        gone = f"<div style='font-size:11px;color:#607d8b'>finished (committed or aborted): {refs}</div>"
    return table + gone


class IngestWatch:
    """Polls ``client.content.list_statuses()`` every ``poll`` seconds in a background thread.

    :attr:`ingests` (ref -> Status) is the last answer, :attr:`finished` the refs that were
    active once and are gone now (newest last, at most ``keep``). ``on_change`` is called
    from the polling thread when either changed - hand it something thread-safe (a widget's
    ``request_redraw``). :meth:`poll` does one round now, from any thread.
    """

    def __init__(self, client: Client, *, poll: float = 0.5, keep: int = 8,
                 on_change: Callable[[], None] | None = None) -> None:
        self.client, self.interval, self.on_change = client, poll, on_change
        self.ingests: dict[str, Status] = {}
        self.finished: deque[str] = deque(maxlen=keep)
        self.error = ""
        self.polls = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<IngestWatch {self.client.namespace} {state} {len(self.ingests)} active, {self.polls} polls>"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def poll(self) -> bool:
        """Ask the daemon once; True if what it says differs from the last answer (or is the first)."""
        try:
            now, error = {s.ref: s for s in self.client.content.list_statuses()}, ""
        except PyctrdError as exc:  # the daemon is restarting, say: keep the last answer
            now, error = None, f"cannot list ingests: {exc}"
        with self._lock:
            changed = error != self.error or not self.polls
            self.polls += 1
            self.error = error
            if now is not None:
                before = {r: (s.offset, s.total) for r, s in self.ingests.items()}
                changed |= before != {r: (s.offset, s.total) for r, s in now.items()}
                self.finished.extend(r for r in self.ingests if r not in now)
                self.ingests = now
        return changed

    def snapshot(self) -> tuple[dict[str, Status], list[str], str]:
        """``(ingests, finished, error)`` as of the last poll, copied under the lock."""
        with self._lock:
            return dict(self.ingests), list(self.finished), self.error

    def start(self) -> IngestWatch:
        if not self.running:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="pyctrd-ingest-watch", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            if self.poll() and self.on_change is not None:
                self.on_change()
            if self._stop.wait(self.interval):
                return
