"""Throttling, hand-off to the event loop, and the shared event feed (against a real daemon)."""
from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
from collections.abc import Callable

from pyctrd.core.events import Envelope
from pyctrd.lab import Lab
from pyctrd.widgets import EventFeed, Throttle, ui_dispatcher


class FakeTime:
    """A clock and a call_later that run callbacks when time is advanced: no sleeping."""

    def __init__(self) -> None:
        self.now = 0.0
        self.queue: list[tuple[float, int, Callable[[], None]]] = []
        self.n = 0

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        self.n += 1
        heapq.heappush(self.queue, (self.now + delay, self.n, fn))

    def advance(self, to: float) -> None:
        while self.queue and self.queue[0][0] <= to:
            due, _, fn = heapq.heappop(self.queue)
            self.now = due
            fn()
        self.now = to


def test_a_burst_of_requests_redraws_at_most_five_times_a_second() -> None:
    t = FakeTime()
    runs: list[float] = []
    th = Throttle(lambda: runs.append(t.now), 0.2, clock=lambda: t.now, call_later=t.call_later,
                  dispatch=lambda fn: fn())
    for i in range(100):  # 100 events in one second
        t.advance(i / 100)
        th.request()
    t.advance(2.0)
    assert th.requests == 100
    assert len(runs) == 6 and runs[0] == 0.0 and runs[-1] <= 1.2  # the last request is never dropped
    assert all(b - a >= 0.2 - 1e-9 for a, b in itertools.pairwise(runs))
    assert repr(th) == "<Throttle 6 runs for 100 requests, every ≥0.2s>"


def test_updates_from_a_thread_run_on_the_loop_thread() -> None:
    async def main() -> tuple[int, int]:
        dispatch = ui_dispatcher()
        loop_thread = threading.get_ident()
        ran: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        loop = asyncio.get_running_loop()
        worker = threading.Thread(target=lambda: dispatch(
            lambda: ran.set_result(threading.get_ident())))
        worker.start()
        got = await asyncio.wait_for(ran, 10)
        worker.join()
        assert loop.is_running()
        return loop_thread, got

    loop_thread, ran_on = asyncio.run(main())
    assert ran_on == loop_thread


def test_without_a_loop_updates_run_in_place() -> None:
    seen: list[int] = []
    ui_dispatcher()(lambda: seen.append(threading.get_ident()))
    assert seen == [threading.get_ident()]


def test_feed_delivers_events_skips_probes_and_survives_a_restart(short_tmp) -> None:  # type: ignore[no-untyped-def]
    lab = Lab(short_tmp / "lab")
    lab.launch()
    got: list[Envelope] = []
    cond = threading.Condition()

    def listener(env: Envelope) -> None:
        with cond:
            got.append(env)
            cond.notify_all()

    def bad(env: Envelope) -> None:
        raise RuntimeError("a broken listener")

    feed = EventFeed(lab.address, retry=0.05)
    feed.add_listener(bad)
    feed.add_listener(listener)
    back = threading.Event()
    feed.add_reconnect_listener(back.set)
    try:
        assert feed.start().subscribed
        c = lab.client()
        c.namespaces.create("one")
        with cond:
            assert cond.wait_for(lambda: [e.topic for e in got] == ["/namespaces/create"], 10)
        assert isinstance(feed.last_error, RuntimeError)
        assert not back.is_set() and feed.reconnects == 0
        c.close()
        lab.restart()
        assert back.wait(20), "no reconnect reported after the restart"
        assert feed.reconnects == 1
        assert feed.wait_subscribed(20)
        with lab.client() as c2:
            c2.namespaces.create("two")
        with cond:
            assert cond.wait_for(lambda: len(got) == 2, 10)
        assert got[1].event.name == "two"  # type: ignore[union-attr]
        assert not any(e.topic.startswith("/pyctrd/probe/") for e in got)
        assert feed.received == 2
    finally:
        feed.stop()
        lab.destroy()
    assert not feed.running and repr(feed).endswith("stopped 2 events>")


def test_a_filtered_feed_still_knows_when_it_is_subscribed(lab: Lab) -> None:
    feed = EventFeed(lab.address, 'topic~="/namespaces/"').start()
    try:
        assert feed.subscribed
    finally:
        feed.stop()
