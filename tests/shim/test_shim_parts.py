"""The shim's parts without containers: process states, kill errors, timestamps, the publisher."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pyctrd import errdefs
from pyctrd._api.containerd.api.events import task_pb2 as events
from pyctrd.runc import Reaper
from pyctrd.shim.init_process import kill_error
from pyctrd.shim.process import Process
from pyctrd.shim.publisher import Publisher
from pyctrd.shim.service import timestamp
from pyctrd.shim.stdio import Stdio
from tests.shim.conftest import EventSink


async def test_process_states_refuse_what_does_not_fit() -> None:
    p = Process("e1", Stdio(stdout="/x"))
    assert repr(p) == "<Process e1 pid=0 created>"
    p._refuse("start", "created")
    with pytest.raises(errdefs.FailedPrecondition, match="cannot delete a running process"):
        p.state = "running"
        p._refuse("delete", "created", "stopped")
    p.set_exited(137)
    await asyncio.wait_for(p.wait(), 1)
    assert (p.status(), p.exit_status) == ("stopped", 137) and p.exited_at_ns > 0
    p.set_exited(0)  # a second exit changes nothing
    assert p.exit_status == 137
    p.state = "deleted"
    assert p.status() == "stopped"
    with pytest.raises(errdefs.NotFound, match="cannot kill a deleted process"):
        p._refuse("kill")


def test_kill_errors_read_as_containerd_reads_them() -> None:
    assert repr(kill_error("runc kill c1: container not running")) == \
        "NotFound('process already finished: not found')"
    assert str(kill_error("container does not exist")) == "no such container: not found"
    assert isinstance(kill_error("permission denied"), errdefs.Unknown)


def test_timestamps_zero_is_gos_zero_time() -> None:
    assert timestamp(0).seconds == -62135596800
    ts = timestamp(1_700_000_000_000_000_123)
    assert (ts.seconds, ts.nanos) == (1_700_000_000, 123)


async def test_publisher_retries_in_order_until_the_daemon_listens(short_tmp: Path) -> None:
    address = short_tmp / "ev.sock"
    async with Reaper() as reaper:
        publisher = Publisher("lab", ttrpc_address=str(address), monitor=reaper, retry_delay=0.05)
        publisher.publish(events.TaskStart(container_id="c1", pid=1))
        publisher.publish(events.TaskExit(container_id="c1", id="c1", pid=1, exit_status=3))
        while publisher._queue[0].tries == 0:  # until a send has failed: nothing listens yet
            await asyncio.sleep(0)
        assert repr(publisher) == f"<Publisher ttrpc {address} queued=2 sent=0>"
        sink, server = await EventSink.serve(address)
        await sink.wait_for("/tasks/exit")
        await publisher.close()
        await server.close()
    assert sink.topics == ["/tasks/start", "/tasks/exit"]
    assert {e.namespace for e in sink.envelopes} == {"lab"}
    assert sink.events("/tasks/exit")[0].exit_status == 3
    assert publisher.sent == 2


async def test_publisher_close_gives_up_on_an_absent_daemon(short_tmp: Path) -> None:
    async with Reaper() as reaper:
        publisher = Publisher("lab", ttrpc_address=str(short_tmp / "none.sock"), monitor=reaper,
                              retry_delay=10)
        publisher.publish(events.TaskOOM(container_id="c1"))
        await asyncio.wait_for(publisher.close(timeout=0.2), 5)
    assert publisher.sent == 0
