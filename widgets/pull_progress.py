"""PullProgress: pull an image and watch each blob arrive - a bar per blob, then a timeline."""
from __future__ import annotations

import html
import threading
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ..client import Client
from ..core.remotes import Progress
from ..diagrams import PullTimeline
from ..errdefs import FailedPrecondition, PyctrdError
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
    """

    def __init__(self, client: Client, ref: str = "", *, interval: float = 0.2, **pull_options: Any) -> None:
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
        super().__init__([w.HBox([self.ref, self.button]), self.status, self.bars, self.chart])
        self._setup_live(interval, **_throttle_of(pull_options))
        self.redraw()

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

    def summary(self) -> str:
        state = "failed" if self.error else "done" if self.result else "pulling" if self.running else "ready"
        return f"<PullProgress {state} {self.timeline.summary()[1:-1]}>"[:110]

    def stop(self) -> None:
        """Nothing listens in the background (a running pull finishes by itself)."""


def _throttle_of(options: dict[str, Any]) -> dict[str, Any]:
    """Take the Throttle's own keyword arguments (clock, call_later, dispatch) out of ``options``."""
    return {k: options.pop(k) for k in ("clock", "call_later", "dispatch") if k in options}
