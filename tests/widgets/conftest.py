"""Widgets without a browser: a comm that records what would go to the frontend, and a Lab."""
from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import comm
import pytest

from pyctrd.lab import Lab
from pyctrd.widgets import LiveWidget


class RecordingComm:
    """Stands in for a kernel comm (as ipywidgets' own tests do) and keeps what is sent."""

    _ids = itertools.count()
    kernel = "Truthy"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.comm_id = f"comm-{next(self._ids)}"
        self.messages: list[dict[str, Any]] = []

    def open(self, *args: Any, **kwargs: Any) -> None:
        pass

    def on_msg(self, *args: Any, **kwargs: Any) -> None:
        pass

    def send(self, data: Any = None, *args: Any, **kwargs: Any) -> None:
        self.messages.append(data)

    def close(self, *args: Any, **kwargs: Any) -> None:
        pass

    def updates(self, key: str) -> list[Any]:
        return [m["state"][key] for m in self.messages if m and m.get("method") == "update" and key in m["state"]]


def until(widget: LiveWidget, ok: Callable[[], bool], timeout: float = 20) -> bool:
    """Wait through redraws (each at most ``timeout`` apart) until ``ok()`` holds."""
    while not ok():
        if not widget.wait_for_redraw(widget.redraws, timeout):
            return ok()
    return True


def comm_of(widget: object, comms: list[RecordingComm]) -> RecordingComm:
    """The recorded comm behind ``widget``: what was sent to the frontend."""
    cid = widget.comm.comm_id  # type: ignore[attr-defined]
    return next(c for c in comms if c.comm_id == cid)


@pytest.fixture
def comms(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[RecordingComm]]:
    made: list[RecordingComm] = []

    def create_comm(**kwargs: Any) -> RecordingComm:
        c = RecordingComm()
        made.append(c)
        return c

    monkeypatch.setattr(comm, "create_comm", create_comm)
    yield made


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    lab = Lab.start()
    try:
        yield lab
    finally:
        lab.destroy()
