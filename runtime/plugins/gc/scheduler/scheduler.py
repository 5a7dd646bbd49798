"""When to collect garbage: containerd's ``gc/scheduler``, with the clock injected.

Collecting locks the metadata database, so it should neither run too often nor wait too
long. The policy, from containerd:

- **Triggers**: ``schedule_and_wait()`` (``ctr images rm --sync``, ``leases rm --sync``)
  schedules a collection ``schedule_delay`` from now and waits for it. Every committed
  database change is a *mutation*; one made after a deletion is *dirty*. With
  ``deletion_threshold`` 0, the first dirty mutation schedules a collection; with N > 0,
  N dirty mutations do. ``mutation_threshold`` mutations schedule one too.
- **Pacing**: after each collection the next one is planned ``interval`` later, where
  ``interval = avg_pause / pause_threshold - avg_pause`` (pauses take at most that share of
  the time). When that time comes and nothing asked for a collection (no trigger, no
  deletion, too few mutations), it is skipped and planned again an interval later.
- **Start**: the first collection runs ``startup_delay`` after start.

Tests drive :meth:`Scheduler.run_pending` with a fake clock; the daemon calls
:meth:`Scheduler.start`, whose thread waits on a condition until the next planned time or
an event - nothing here ever sleeps for a fixed time.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ....config import Duration, setting
from ....core.gc import Collector, Stats
from ....errdefs import Unavailable, Unknown

__all__ = ["Scheduler", "SchedulerConfig"]

log = logging.getLogger("pyctrd.gc")


@dataclass
class SchedulerConfig:
    """containerd's ``[plugins."io.containerd.gc.v1.scheduler"]`` keys and defaults."""

    pause_threshold: float = setting(0.02, "Largest share of time collections may pause the database "
                                     "(0.02: 20ms of every second), at most 0.5")
    deletion_threshold: int = setting(0, "Deletions that force a collection; 0: the first deletion "
                                      "schedules one when none is planned")
    mutation_threshold: int = setting(100, "Database changes after which the next planned collection "
                                      "runs (0: only triggers and deletions count)")
    schedule_delay: Duration = setting(Duration("0ms"), "Delay between a trigger and the collection")
    startup_delay: Duration = setting(Duration("100ms"), "Delay before the first collection after start")


class _Waiter:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.stats: Stats | None = None
        self.error: BaseException | None = None


class Scheduler:
    """Runs ``collector.garbage_collect()`` by containerd's policy (module docstring).

    Args:
        collector: what to run (:class:`pyctrd.core.gc.Collector`: the metadata plugin).
        config: thresholds and delays (clamped as containerd clamps them).
        clock: monotonic seconds (tests inject a fake one).
    """

    def __init__(self, collector: Collector, config: SchedulerConfig | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        cfg = config or SchedulerConfig()
        self.collector, self.clock = collector, clock
        self.pause_threshold = min(max(float(cfg.pause_threshold), 0.0), 0.5)
        self.deletion_threshold = max(int(cfg.deletion_threshold), 0)
        self.mutation_threshold = max(int(cfg.mutation_threshold), 0)
        self.schedule_delay = max(Duration(cfg.schedule_delay).seconds, 0.0)
        self.startup_delay = max(Duration(cfg.startup_delay).seconds, 0.0)
        self._cond = threading.Condition()
        self._waiters: list[_Waiter] = []  # served by the next collection to start
        self._collecting = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self.last_collection: float | None = None
        self.next_collection: float | None = clock() + self.startup_delay if self.startup_delay > 0 else None
        self.interval = 1.0
        self.gc_time, self.collections = 0.0, 0
        self.triggered, self.deletions, self.mutations = False, 0, 0
        self.last_stats: Stats | None = None
        collector.register_mutation_callback(self._mutation)

    def __repr__(self) -> str:
        nxt = "-" if self.next_collection is None else f"{self.next_collection - self.clock():+.3f}s"
        return (f"<Scheduler collections={self.collections} next={nxt} mutations={self.mutations} "
                f"deletions={self.deletions}{' triggered' if self.triggered else ''}>")

    # -- events ---------------------------------------------------------------------------
    def _mutation(self, dirty: bool) -> None:
        """The database's callback (runs in the writer's thread: must stay cheap)."""
        with self._cond:
            self._event(mutation=True, dirty=dirty)

    def schedule(self) -> _Waiter:
        """Ask for a collection soon (``schedule_delay``); returns a handle to wait on."""
        w = _Waiter()
        with self._cond:
            if self._closed:
                raise Unavailable("gc scheduler is closed")
            self._waiters.append(w)
            self._event(mutation=False, dirty=False)
        return w

    def schedule_and_wait(self, timeout: float | None = None) -> Stats:
        """Trigger a collection and wait for it to finish (containerd's ``ScheduleAndWait``).

        Raises:
            Unknown: the collection failed ("gc failed").
            Unavailable: the scheduler was closed, or ``timeout`` passed.
        """
        w = self.schedule()
        if not w.done.wait(timeout):
            raise Unavailable("gc did not finish in time")
        if w.error is not None or w.stats is None:
            raise Unknown(f"gc failed: {w.error}")
        return w.stats

    def _event(self, *, mutation: bool, dirty: bool) -> None:
        if dirty:
            self.deletions += 1
        if mutation:
            self.mutations += 1
        else:
            self.triggered = True
        soon = self.clock() + self.schedule_delay
        wanted = (self.triggered
                  or (self.deletion_threshold > 0 and self.deletions >= self.deletion_threshold)
                  or (self.next_collection is None
                      and ((self.deletion_threshold == 0 and self.deletions > 0)
                           or (self.mutation_threshold > 0 and self.mutations >= self.mutation_threshold))))
        if wanted and (self.next_collection is None or self.next_collection > soon):
            self.next_collection = soon  # never postpone one planned earlier
        self._cond.notify_all()

    # -- running --------------------------------------------------------------------------
    def _due(self) -> bool:
        """Is a collection due now? Reschedules a skippable one (called with the lock held)."""
        now = self.clock()
        if self.next_collection is None or now < self.next_collection:
            return False
        if (not self.triggered and self.last_collection is not None and self.deletions == 0
                and (self.mutation_threshold == 0 or self.mutations < self.mutation_threshold)):
            self.next_collection = now + self.interval
            return False
        return True

    def run_pending(self) -> float | None:
        """Collect if one is due; returns when the next is planned (clock time, or None)."""
        with self._cond:
            if self._collecting or not self._due():
                return self.next_collection
            self._collecting = True
            waiters, self._waiters = self._waiters, []
        stats: Stats | None = None
        error: BaseException | None = None
        try:
            stats = self.collector.garbage_collect()
        except Exception as exc:
            log.error("garbage collection failed: %s", exc)
            error = exc
        with self._cond:
            self._finished(stats, error)
            self._collecting = False
            nxt = self.next_collection
        for w in waiters:
            w.stats, w.error = stats, error
            w.done.set()
        return nxt

    def _finished(self, stats: Stats | None, error: BaseException | None) -> None:
        now = self.clock()
        self.last_collection = now
        if stats is None:
            self.next_collection = now + self.interval + 1.0
            return
        self.last_stats = stats
        self.gc_time += stats.elapsed
        self.collections += 1
        self.deletions = self.mutations = 0
        self.triggered = bool(self._waiters)  # asked for while this one ran: run again
        if self.pause_threshold > 0:
            avg = self.gc_time / self.collections
            self.interval = avg / self.pause_threshold - avg
        self.next_collection = now + (self.schedule_delay if self.triggered else self.interval)

    def start(self) -> None:
        """Run collections in a background thread until :meth:`close`."""
        self._thread = threading.Thread(target=self._loop, name="pyctrd-gc", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            nxt = self.run_pending()
            with self._cond:
                if self._closed:
                    return
                if self._due():
                    continue
                nxt = self.next_collection
                self._cond.wait(None if nxt is None else max(nxt - self.clock(), 0.0))
                if self._closed:
                    return

    def close(self) -> None:
        """Stop the thread; waiters still queued get Unavailable."""
        with self._cond:
            self._closed = True
            waiters, self._waiters = self._waiters, []
            self._cond.notify_all()
        for w in waiters:
            w.error = Unavailable("gc scheduler is closed")
            w.done.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
