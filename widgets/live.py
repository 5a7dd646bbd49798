"""The plumbing under every live widget: a shared event feed, throttled redraws, safe hand-off.

Events arrive on a background thread (:class:`EventFeed`). Widgets must not redraw once per
event - a pull can publish hundreds - so each widget asks a :class:`Throttle` for a redraw,
which coalesces requests into at most one run per ``interval`` (0.2 s: ≤ 5 redraws/s). The
run itself is handed to the kernel's event loop (:func:`ui_dispatcher`), the thread that
owns the widgets' comms; outside a kernel (tests, scripts) it simply runs.

>>> runs, pending = [], []
>>> now = [0.0]
>>> t = Throttle(lambda: runs.append(now[0]), interval=0.2, clock=lambda: now[0],
...              call_later=lambda delay, fn: pending.append((delay, fn)), dispatch=lambda fn: fn())
>>> t.request(); t.request(); t.request()        # three requests at t=0 ...
>>> [d for d, _ in pending]                      # ... one run scheduled, at once
[0.0]
>>> pending.pop()[1](); runs
[0.0]
>>> now[0] = 0.05; t.request(); [round(d, 2) for d, _ in pending]   # too soon: wait for the interval
[0.15]
"""
from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from google.protobuf import empty_pb2

from ..client import Client
from ..core.events import Envelope
from ..errdefs import PyctrdError

__all__ = ["EventFeed", "LiveWidget", "Throttle", "ui_dispatcher"]

log = logging.getLogger("pyctrd.widgets")

#: Topics under this prefix are the feed's own probes (see :meth:`EventFeed.wait_subscribed`).
PROBE_PREFIX = "/pyctrd/probe/"


def ui_dispatcher() -> Callable[[Callable[[], None]], None]:
    """How to run widget updates: on the event loop running *now* (the kernel's, when called
    from a cell), from whichever thread asks; directly if there is no loop."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return lambda fn: fn()
    owner = threading.get_ident()

    def dispatch(fn: Callable[[], None]) -> None:
        if threading.get_ident() == owner:
            fn()
            return
        try:
            loop.call_soon_threadsafe(fn)
        except RuntimeError:  # the loop is closed: the kernel is going away
            pass

    return dispatch


def _timer(delay: float, fn: Callable[[], None]) -> None:
    if delay <= 0:
        fn()
        return
    t = threading.Timer(delay, fn)
    t.daemon = True
    t.start()


class Throttle:
    """Run ``fn`` at most once per ``interval`` seconds however often it is requested.

    A request while a run is pending is absorbed (that run draws the latest state); a request
    after a quiet spell runs at once. ``clock``, ``call_later`` and ``dispatch`` are injectable.
    """

    def __init__(self, fn: Callable[[], None], interval: float = 0.2, *,
                 clock: Callable[[], float] = time.monotonic,
                 call_later: Callable[[float, Callable[[], None]], None] = _timer,
                 dispatch: Callable[[Callable[[], None]], None] | None = None) -> None:
        self.fn, self.interval = fn, interval
        self._clock, self._call_later = clock, call_later
        self._dispatch = dispatch or ui_dispatcher()
        self._lock = threading.Lock()
        self._pending = False
        self._last = float("-inf")
        self.requests = self.runs = 0

    def __repr__(self) -> str:
        return f"<Throttle {self.runs} runs for {self.requests} requests, every ≥{self.interval}s>"

    def request(self) -> None:
        with self._lock:
            self.requests += 1
            if self._pending:
                return
            self._pending = True
            delay = max(0.0, self._last + self.interval - self._clock())
        self._call_later(delay, self._fire)

    def _fire(self) -> None:
        with self._lock:
            self._pending = False
            self._last = self._clock()
            self.runs += 1
        self._dispatch(self.fn)


class EventFeed:
    """One background subscription to a daemon's events, fanned out to listeners.

    It has its own connection (closing it is how :meth:`stop` interrupts the blocking
    stream) and re-subscribes after ``retry`` seconds when the daemon goes away - a notebook
    may restart its daemon while the widgets stay on screen.

    A stream is quiet until the first event, so "am I subscribed yet?" has no direct answer.
    :meth:`start` finds out by publishing probe events (topic ``/pyctrd/probe/<token>``) until
    one comes back; probes are never passed to listeners. After that, nothing the daemon
    does is missed - which is what makes a notebook's "create, then look" cells repeatable.

    Reconnect listeners (:meth:`add_reconnect_listener`) are called, on the feed's thread,
    when the daemon answers again after the stream broke: it restarted, maybe with another
    config - what a widget that reads more than events (the plugin list) must re-read.
    """

    def __init__(self, address: str, *filters: str, namespace: str = "default", retry: float = 0.5) -> None:
        self.address, self.filters, self.namespace, self.retry = address, filters, namespace, retry
        self._listeners: list[Callable[[Envelope], None]] = []
        self._reconnect_listeners: list[Callable[[], None]] = []
        self.reconnects = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._client: Client | None = None
        self._thread: threading.Thread | None = None
        self.received = 0
        self.last_error: Exception | None = None
        self._token = secrets.token_hex(6)
        self._subscribed = threading.Event()

    @classmethod
    def for_client(cls, client: Client, *filters: str) -> EventFeed:
        return cls(client.address, *filters, namespace=client.namespace)

    def __repr__(self) -> str:
        return f"<EventFeed {self.address} {'running' if self.running else 'stopped'} {self.received} events>"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def add_listener(self, fn: Callable[[Envelope], None]) -> None:
        with self._lock:
            self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[Envelope], None]) -> None:
        with self._lock:
            if fn in self._listeners:
                self._listeners.remove(fn)

    def add_reconnect_listener(self, fn: Callable[[], None]) -> None:
        with self._lock:
            self._reconnect_listeners.append(fn)

    def remove_reconnect_listener(self, fn: Callable[[], None]) -> None:
        with self._lock:
            if fn in self._reconnect_listeners:
                self._reconnect_listeners.remove(fn)

    @property
    def subscribed(self) -> bool:
        return self._subscribed.is_set()

    def start(self, wait: float = 5.0) -> EventFeed:
        """Start the thread and wait up to ``wait`` seconds until it is subscribed."""
        if not self.running:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="pyctrd-event-feed", daemon=True)
            self._thread.start()
        if wait:
            self.wait_subscribed(wait)
        return self

    def wait_subscribed(self, timeout: float = 5.0) -> bool:
        """Publish probes until one comes back through the stream (False: not within ``timeout``)."""
        deadline = time.monotonic() + timeout
        self._subscribed.clear()  # a fresh round trip: the stream may have died unnoticed
        probe = Client(self.address, self.namespace, timeout=timeout)
        try:
            while not self._subscribed.is_set() and time.monotonic() < deadline:
                try:
                    probe.events.publish(PROBE_PREFIX + self._token, empty_pb2.Empty())
                except PyctrdError:
                    pass  # daemon not there (yet): keep trying until the deadline
                self._subscribed.wait(0.05)
        finally:
            probe.close()
        return self._subscribed.is_set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._lock:
            if self._client is not None:
                self._client.close()  # cancels the blocking stream
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _reconnected(self) -> None:
        self.reconnects += 1
        with self._lock:
            listeners = list(self._reconnect_listeners)
        for fn in listeners:
            try:
                fn()
            except Exception as exc:
                self.last_error = exc
                log.exception("reconnect listener %r failed", fn)

    def _run(self) -> None:
        lost = False  # the stream broke: tell reconnect listeners once the daemon answers again
        while not self._stop.is_set():
            client = Client(self.address, self.namespace, timeout=None)
            with self._lock:
                if self._stop.is_set():
                    client.close()
                    return
                self._client = client
            self._subscribed.clear()
            filters = (*self.filters, f'topic=="{PROBE_PREFIX}{self._token}"') if self.filters else ()
            try:
                if lost:
                    client.version()  # raises while the daemon is still away
                    lost = False
                    self._reconnected()
                for env in client.events.subscribe(*filters):
                    if env.topic.startswith(PROBE_PREFIX):
                        if env.topic == PROBE_PREFIX + self._token:
                            self._subscribed.set()
                        continue
                    self.received += 1
                    with self._lock:
                        listeners = list(self._listeners)
                    for fn in listeners:
                        try:
                            fn(env)
                        except Exception as exc:
                            self.last_error = exc
                            log.exception("event listener %r failed", fn)
            except (PyctrdError, ValueError) as exc:  # daemon gone; ValueError: channel closed under us
                self.last_error = exc
            finally:
                lost = True  # however the stream ended, the daemon may come back another one
                with self._lock:
                    self._client = None
                client.close()
            self._stop.wait(self.retry)


class LiveWidget:
    """Mixed into each widget: a short text form, throttled redraws, and a redraw counter
    tests (and curious readers) can wait on."""

    _throttle: Throttle
    _redraw_cond: threading.Condition
    _redraw_lock: threading.RLock
    redraws: int

    def _setup_live(self, interval: float, **throttle: Any) -> None:
        self.redraws = 0
        self._redraw_cond = threading.Condition()
        self._redraw_lock = threading.RLock()  # a button's refresh and a timer's redraw never overlap
        self._throttle = Throttle(self._redraw, interval, **throttle)

    def request_redraw(self) -> None:
        """Ask for a redraw soon (any thread; coalesced)."""
        self._throttle.request()

    def _redraw(self) -> None:
        try:
            with self._redraw_lock:
                self.redraw()
        finally:
            with self._redraw_cond:
                self.redraws += 1
                self._redraw_cond.notify_all()

    def redraw(self) -> None:
        """Bring the view up to date now (the widget's own thread)."""
        raise NotImplementedError

    def _join_feed(self, client: Client, feed: EventFeed | None) -> None:
        """Listen (``_on_event``) to a shared ``feed``, or to a subscription of this widget's own,
        started here and stopped with the widget."""
        self._owns_feed = feed is None
        self.feed = feed if feed is not None else EventFeed.for_client(client)
        self.feed.add_listener(self._on_event)  # type: ignore[attr-defined]  # each widget defines it
        if self._owns_feed:
            self.feed.start()

    def stop(self) -> None:
        """Stop redrawing on the daemon's events (the widget stays on screen, frozen), and stop
        the subscription too if this widget started it."""
        on_event = getattr(self, "_on_event", None)
        if on_event is not None:
            self._leave_feed(lambda feed: feed.remove_listener(on_event))

    def _leave_feed(self, unsubscribe: Callable[[EventFeed], None]) -> None:
        feed = getattr(self, "feed", None)
        if feed is not None:
            unsubscribe(feed)
            if getattr(self, "_owns_feed", False):
                feed.stop()

    def close(self) -> None:
        """Stop, then take the widget off the page."""
        self.stop()
        super().close()  # type: ignore[misc]  # the ipywidgets class mixed in after this one

    def wait_for_redraw(self, after: int, timeout: float = 10.0) -> bool:
        """Block until more than ``after`` redraws have happened (False on timeout)."""
        with self._redraw_cond:
            return self._redraw_cond.wait_for(lambda: self.redraws > after, timeout)

    def summary(self) -> str:
        """One short line (≤ 110 characters) for terminals and text-only frontends."""
        return f"<{type(self).__name__}>"

    def __repr__(self) -> str:
        return self.summary()[:110]

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        data: dict[str, Any] = super()._repr_mimebundle_(**kwargs) or {}  # type: ignore[misc]
        data["text/plain"] = self.summary()[:110]
        return data
