"""PullProgress: pull an image and watch each blob arrive - a bar per blob, then a timeline;
with ``watch=True`` also every pull in the namespace, wherever it was started."""
from __future__ import annotations

import html
import threading
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ..client import Client
from ..core.remotes import Progress
from ..diagrams import PullTimeline
from ..errdefs import FailedPrecondition, PyctrdError
from .ingests import IngestWatch, ingests_html
from .live import LiveWidget

if TYPE_CHECKING:
    from ..client.transfer import PullResult

__all__ = ["PullProgress"]


class PullProgress(LiveWidget, w.VBox):  # type: ignore[misc]  # ipywidgets is untyped
    """A reference box and a *pull* button; :meth:`pull` does the same from code.

    The pull runs in a background thread (the cell returns at once and the bars move while
    the kernel is free to draw them); :meth:`wait` returns its ``PullResult`` or raises its
    error. Every progress event goes into :attr:`timeline` as it happens; the view is
    redrawn at most ``1/interval`` times a second. ``pull_options`` go to ``client.pull``.

    With ``watch=True`` (or after :meth:`watch`) it also polls the content store's active
    ingests every ``poll`` seconds (:class:`~pyctrd.widgets.ingests.IngestWatch`), so a pull
    started elsewhere - ``pyctr images pull`` in a terminal - shows as bars too, the way
    ``ctr images pull`` draws its own. :meth:`stop` ends the polling.
    """

    def __init__(self, client: Client, ref: str = "", *, watch: bool = False, poll: float = 0.5,
                 interval: float = 0.2, **pull_options: Any) -> None:
        self.client, self.options = client, pull_options
        self.timeline = PullTimeline(ref)
        self.result: PullResult | None = None
        self.error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self.ref = w.Text(value=ref, placeholder="registry/name:tag", layout=w.Layout(width="420px"))
        self.button = w.Button(description="pull", icon="download", layout=w.Layout(width="90px"))
        self.button.on_click(lambda _: self.pull())
        self.bars = w.HTML()
        self.chart = w.HTML()
        self.status = w.HTML()
        self.active = w.HTML()
        super().__init__([w.HBox([self.ref, self.button]), self.status, self.bars, self.chart, self.active])
        self._setup_live(interval, **_throttle_of(pull_options))
        self.ingests = IngestWatch(client, poll=poll, on_change=self.request_redraw)
        self.redraw()
        if watch:
            self.watch()

    @property
    def watching(self) -> bool:
        return self.ingests.running

    def watch(self, poll: float | None = None) -> PullProgress:
        """Show the namespace's active ingests (every pull's blobs), polled in the background."""
        if poll is not None:
            self.ingests.interval = poll
        if not self.watching:
            self.ingests.poll()  # the first answer drawn now: the caller's thread owns the widget
            self.ingests.start()
            self._redraw()
        return self

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def pull(self, ref: str | None = None, **options: Any) -> PullProgress:
        """Start pulling ``ref`` (default: the box's) in the background; returns self.

        Raises:
            FailedPrecondition: a pull is still running.
        """
        if self.running:
            raise FailedPrecondition("a pull is still running: wait() for it first")
        if ref is not None:
            self.ref.value = ref
        self.timeline = PullTimeline(self.ref.value)
        self.result, self.error = None, None
        opts = {**self.options, **options}
        self._thread = threading.Thread(target=self._run, args=(self.ref.value, opts), name="pyctrd-pull",
                                        daemon=True)
        self._thread.start()
        self.request_redraw()
        return self

    def _on_progress(self, p: Progress) -> None:
        self.timeline.add(p)
        self.request_redraw()

    def _run(self, ref: str, options: dict[str, Any]) -> None:
        try:
            self.result = self.client.pull(ref, progress=self._on_progress, **options)
        except (PyctrdError, NotImplementedError) as exc:
            self.error = exc
        finally:
            self.request_redraw()

    def wait(self, timeout: float | None = 120) -> PullResult:
        """Block until the pull is over; its result, or its error raised here.

        Raises:
            FailedPrecondition: nothing was pulled, or still running after ``timeout``.
            Whatever the pull raised (NotFound, Unavailable, ...).
        """
        if self._thread is None:
            raise FailedPrecondition("nothing pulled yet")
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise FailedPrecondition(f"the pull of {self.ref.value} is still running after {timeout}s")
        self._redraw()  # the final state, drawn now whatever the throttle had pending
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result

    def redraw(self) -> None:
        tl = self.timeline
        if self.error is not None:
            state = f"<span style='color:#c62828'>failed: {html.escape(str(self.error))}</span>"
        elif self.result is not None:
            r = self.result
            chain = ", ".join(u.chain_id[:19] + "…" for _, u in r.unpacked) or "not unpacked"
            state = (f"<span style='color:#2e7d32'>done</span>: fetched {len(r.fetch.fetched)}, already there "
                     f"{len(r.fetch.existing)}; fetch {r.fetch_seconds * 1000:.0f} ms, unpack "
                     f"{r.unpack_seconds * 1000:.0f} ms; top snapshot <code>{html.escape(chain)}</code>")
        elif self.running:
            state = "pulling…"
        else:
            state = "ready"
        self.status.value = f"<span style='font-size:11px'>{state}</span>"
        self.button.disabled = self.running
        self.bars.value = tl.html() if tl.blobs or tl.ref else ""
        self.chart.value = tl.svg() if tl.blobs and not self.running else ""
        self.active.value = self._active_html() if self.watching or self.ingests.polls else ""

    def _active_html(self) -> str:
        ingests, finished, error = self.ingests.snapshot()
        state = "watching" if self.watching else "stopped"
        head = (f"<b>content store</b> <span style='color:#607d8b;font-size:11px'>{len(ingests)} active "
                f"ingest{'s' if len(ingests) != 1 else ''} in namespace {html.escape(self.client.namespace)} · "
                f"{state}, every {self.ingests.interval:g} s</span>")
        err = f"<div style='color:#c62828;font-size:11px'>{html.escape(error)}</div>" if error else ""
        return head + err + ingests_html(ingests, finished)

    def summary(self) -> str:
        state = "failed" if self.error else "done" if self.result else "pulling" if self.running else "ready"
        active = f" ingests={len(self.ingests.ingests)}" if self.watching else ""
        return f"<PullProgress {state}{active} {self.timeline.summary()[1:-1]}>"[:110]

    def stop(self) -> None:
        """Stop watching the content store (a running pull finishes by itself)."""
        watch = getattr(self, "ingests", None)
        if watch is not None:
            watch.stop()


def _throttle_of(options: dict[str, Any]) -> dict[str, Any]:
    """Take the Throttle's own keyword arguments (clock, call_later, dispatch) out of ``options``."""
    return {k: options.pop(k) for k in ("clock", "call_later", "dispatch") if k in options}
