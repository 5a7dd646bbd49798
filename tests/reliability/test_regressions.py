"""Bugs the reliability corpus found, one regression test each (fixed in the service or store)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tests.fixtures.inprocess import InProcessDaemon, inprocess_daemon
from tests.reliability.rawgrpc import assert_serving, call, method


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessDaemon]:
    with inprocess_daemon(tmp_path_factory.mktemp("regress")) as d:
        yield d


@pytest.fixture
def channel(daemon: InProcessDaemon) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"unix://{daemon.address}") as ch:
        yield ch


@pytest.mark.parametrize("tail", ["Containers/Get", "Version/Version", "Events/Subscribe", "Content/Write",
                                  "Content/Read"])
def test_undecodable_request_is_invalid_argument(channel: grpc.Channel, tail: str) -> None:
    """Bytes that are not the method's message: INVALID_ARGUMENT naming the type (was UNKNOWN
    ``Unexpected <class 'DecodeError'>`` plus a traceback in the log)."""
    out = call(channel, method(tail), b"\x0a\xff\xff\xff\xff\x0f")
    assert out.code == "INVALID_ARGUMENT", out
    assert "request does not decode" in out.details and "<class" not in out.details
    assert_serving(channel)
