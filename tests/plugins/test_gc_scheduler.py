"""The GC scheduler's policy, driven by a fake clock; and its thread, with the real collector."""
from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from pyctrd.config import Duration
from pyctrd.core.gc import Collector, Stats
from pyctrd.errdefs import Unavailable, Unknown
from pyctrd.plugins.content.local import LocalStore
from pyctrd.plugins.gc.scheduler import Scheduler, SchedulerConfig
from pyctrd.plugins.metadata.sqlite.metadata import Metadata
from tests.fixtures.blobs import write_blob


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class FakeCollector:
    """The two-method seam the scheduler depends on (beside the real-collector tests below)."""

    def __init__(self, clock: Clock, pause: float = 0.01) -> None:
        self.clock, self.pause, self.runs, self.fail = clock, pause, 0, False
        self.callbacks: list[Callable[[bool], None]] = []

    def register_mutation_callback(self, fn: Callable[[bool], None]) -> None:
        self.callbacks.append(fn)

    def mutate(self, dirty: bool = False) -> None:
        for fn in self.callbacks:
            fn(dirty)

    def garbage_collect(self) -> Stats:
        if self.fail:
            raise Unknown("database on fire")
        self.runs += 1
        return Stats(elapsed=self.pause)


def make(**cfg: object) -> tuple[Scheduler, FakeCollector, Clock]:
    clock = Clock()
    col = FakeCollector(clock)
    assert isinstance(col, Collector)
    return Scheduler(col, SchedulerConfig(**cfg), clock=clock), col, clock  # type: ignore[arg-type]


def test_defaults_are_containerds() -> None:
    cfg = SchedulerConfig()
    assert (cfg.pause_threshold, cfg.deletion_threshold, cfg.mutation_threshold) == (0.02, 0, 100)
    assert (cfg.schedule_delay, cfg.startup_delay) == (Duration("0ms"), Duration("100ms"))


def test_values_are_clamped() -> None:
    s, _, _ = make(pause_threshold=0.9, mutation_threshold=-5, schedule_delay=Duration(-1))
    assert (s.pause_threshold, s.mutation_threshold, s.schedule_delay) == (0.5, 0, 0.0)


def test_first_collection_after_the_startup_delay_then_paced() -> None:
    s, col, clock = make()
    assert s.run_pending() == 1000.1 and col.runs == 0
    clock.t = 1000.1
    nxt = s.run_pending()
    assert col.runs == 1
    # interval = avg / pause_threshold - avg = 0.01 / 0.02 - 0.01
    assert s.interval == pytest.approx(0.49) and nxt == pytest.approx(1000.59)
    assert repr(s) == "<Scheduler collections=1 next=+0.490s mutations=0 deletions=0>"
    clock.t = 1000.6  # due, but nothing asked for it: skipped and planned an interval later
    assert s.run_pending() == pytest.approx(1001.09) and col.runs == 1


def test_a_deletion_schedules_a_collection_when_none_is_planned() -> None:
    s, col, clock = make(startup_delay=Duration(0))
    assert s.next_collection is None and s.run_pending() is None
    col.mutate(dirty=False)
    assert s.next_collection is None  # a plain mutation does not
    col.mutate(dirty=True)
    assert s.next_collection == clock.t and s.deletions == 1
    s.run_pending()
    assert col.runs == 1 and (s.deletions, s.mutations) == (0, 0)


def test_deletion_threshold_forces_a_collection_even_when_one_is_planned() -> None:
    s, col, clock = make(deletion_threshold=2, schedule_delay=Duration("50ms"))
    col.mutate(dirty=True)
    assert s.next_collection == pytest.approx(1000.1)  # still the startup one
    col.mutate(dirty=True)
    assert s.next_collection == pytest.approx(1000.05)  # pulled in: now + schedule_delay
    clock.t = 1000.05
    s.run_pending()
    assert col.runs == 1


def test_mutation_threshold_makes_the_planned_collection_run() -> None:
    s, col, clock = make(mutation_threshold=3)
    clock.t = 1000.1
    s.run_pending()
    clock.t += s.interval
    col.mutate()
    col.mutate()
    s.run_pending()
    assert col.runs == 1  # skipped: 2 < 3
    col.mutate()
    clock.t = s.next_collection  # type: ignore[assignment]
    s.run_pending()
    assert col.runs == 2


def test_a_trigger_collects_at_once_and_a_failure_reaches_the_waiter() -> None:
    s, col, clock = make(startup_delay=Duration(0))
    w = s.schedule()
    assert s.triggered and s.next_collection == clock.t
    s.run_pending()
    assert w.done.is_set() and w.stats is not None and col.runs == 1 and not s.triggered
    col.fail = True
    w = s.schedule()
    s.run_pending()
    assert w.done.is_set() and isinstance(w.error, Unknown)
    assert s.next_collection == pytest.approx(clock.t + s.interval + 1.0)  # retried a second later


def test_schedule_and_wait_with_the_thread() -> None:
    s, col, _ = make(startup_delay=Duration("1h"))
    s.start()
    try:
        assert s.schedule_and_wait(timeout=30).elapsed == col.pause
        results = []
        threads = [threading.Thread(target=lambda: results.append(s.schedule_and_wait(timeout=30)))
                   for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(results) == 4 and 2 <= col.runs <= 5
        col.fail = True
        with pytest.raises(Unknown, match="gc failed: database on fire"):
            s.schedule_and_wait(timeout=30)
    finally:
        s.close()
    with pytest.raises(Unavailable):
        s.schedule()


def test_with_the_real_collector(tmp_path: Path) -> None:
    md = Metadata(tmp_path / "meta.db", content=LocalStore(tmp_path / "content"))
    s = Scheduler(md, SchedulerConfig(startup_delay=Duration("1h")))
    s.start()
    try:
        d = write_blob(md.content_store, b"unreferenced")
        md.content_store.delete(d)  # a dirty mutation: nothing planned within the hour, so no GC yet
        stats = s.schedule_and_wait(timeout=30)
        assert stats.content_removed == [d] and s.last_stats is stats
        assert s.deletions == 0
    finally:
        s.close()
        md.close()
