"""The lifecycle sequence built from a real run's events: a real daemon, shim, runc and container."""
from __future__ import annotations

from pyctrd.diagrams import lifecycle_sequence, steps_from_events

from .conftest import Env, EventLog, needs_go_shim

pytestmark = needs_go_shim


def test_lifecycle_of_a_real_run_has_its_pids_status_and_times(rt: Env) -> None:
    log = EventLog(rt.daemon.address, f'namespace=="{rt.namespace}"')
    try:
        exit, _, _ = rt.run("c1", "sh", "-c", "exit 3")
        log.wait("/containers/delete")
    finally:
        log.close()
    steps = steps_from_events(log.envelopes)
    seen = [s for s in steps if s.at is not None]
    assert [s.label.split()[0:2] for s in seen] == [
        ["Containers.Create", "c1"], ["event", "/tasks/create"], ["event", "/tasks/start"], ["event", "/tasks/exit"],
        ["event", "/tasks/delete"], ["Containers.Delete", "c1"]]
    assert [s.at for s in seen] == sorted(s.at for s in seen if s.at)
    assert f"event /tasks/create pid {exit.pid}" in [s.label for s in seen]
    assert f"event /tasks/exit pid {exit.pid} status 3" in [s.label for s in seen]
    assert any(s.label == f"Create (bundle {rt.state / 'c1'})" for s in steps)  # the real bundle directory
    dot = lifecycle_sequence(events=log.envelopes, container="c1")
    text = dot.text()
    assert f"daemon <- shim    event /tasks/exit pid {exit.pid} status 3" in text
    assert text.splitlines()[0].split()[1:4] == ["create", "+0.0", "ms"]
    assert "seen from " in dot.source and dot.source.count("->") > len(steps)
