"""The daemon as a process: socket, boot, shutdown, refusal, oom_score, metrics, events."""
from __future__ import annotations

import os
import signal
import socket
import stat
import threading
import urllib.request
from pathlib import Path

import pytest

from pyctrd import errdefs
from pyctrd._api.containerd.api.events import namespace_pb2
from tests.fixtures.daemon import DaemonProcess, start_daemon


def test_boots_and_serves_on_a_0660_socket(pyctrd: DaemonProcess) -> None:
    st = os.stat(pyctrd.address)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660
    assert "pyctrd successfully booted in" in pyctrd.log_text()
    v = pyctrd.client().version()
    assert v.version.startswith("1.6.20+pyctrd.")
    uuid_file = pyctrd.root / "io.containerd.grpc.v1.introspection" / "uuid"
    assert uuid_file.read_text().strip() == v.uuid


def test_uuid_survives_restart(short_tmp: Path) -> None:
    d = start_daemon(short_tmp)
    first = d.client().version().uuid
    assert d.stop() == 0
    d2 = start_daemon(short_tmp)
    try:
        assert d2.client().version().uuid == first
    finally:
        assert d2.stop() == 0


def test_sigterm_removes_socket_and_sigint_too(short_tmp: Path) -> None:
    d = start_daemon(short_tmp)
    assert d.stop(signal.SIGINT) == 0
    assert not os.path.exists(d.address)
    assert "pyctrd stopped" in d.log_text()


def test_stale_socket_is_replaced(short_tmp: Path) -> None:
    state = short_tmp / "d-state"
    state.mkdir()
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(state / "pyctrd.sock"))
    s.close()  # a socket file nobody listens on
    d = start_daemon(short_tmp)
    try:
        assert d.client().version()
        assert "removing stale socket" in d.log_text()
    finally:
        d.stop()


def test_second_daemon_on_the_same_socket_is_refused(pyctrd: DaemonProcess, short_tmp: Path) -> None:
    with pytest.raises(AssertionError, match="another daemon is already serving on"):
        start_daemon(short_tmp, name="second", args=("--address", pyctrd.address))
    assert pyctrd.client().version()  # the first one is unharmed


def test_second_daemon_on_the_same_root_is_refused(pyctrd: DaemonProcess, short_tmp: Path) -> None:
    with pytest.raises(AssertionError, match="is in use by another pyctrd"):
        start_daemon(short_tmp, name="third", args=("--root", str(pyctrd.root)))


@pytest.mark.requires_root
def test_oom_score_and_metrics(short_tmp: Path) -> None:
    d = start_daemon(short_tmp, config_text='version = 2\noom_score = 500\n[metrics]\naddress = "127.0.0.1:0"\n')
    try:
        assert Path(f"/proc/{d.pid}/oom_score_adj").read_text().strip() == "500"
        c = d.client()
        c.version()
        c.plugins()
        # the metrics port was chosen by the kernel; the log names it
        line = next(x for x in d.log_text().splitlines() if "metrics served" in x)
        port = int(line.rsplit(":", 1)[1].strip('"'))
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/metrics", timeout=5).read().decode()
        assert 'grpc_server_started_total{grpc_method="Version",grpc_service="containerd.services.version.v1.Version"} 1' in body
        assert 'pyctrd_plugin_init_seconds{id="sqlite",status="ok",type="io.containerd.metadata.v1"}' in body
    finally:
        d.stop()


def test_disabled_and_required_plugins(short_tmp: Path) -> None:
    d = start_daemon(short_tmp, config_text='version = 2\ndisabled_plugins = ["healthcheck"]\n')
    try:
        ids = [p.id for p in d.client().plugins()]
        assert "healthcheck" not in ids and "version" in ids
    finally:
        d.stop()
    with pytest.raises(AssertionError, match="required plugins not included"):
        start_daemon(short_tmp, name="r", config_text='version = 2\ndisabled_plugins = ["version"]\n'
                     'required_plugins = ["io.containerd.grpc.v1.version"]\n')


def test_introspection_filters(pyctrd: DaemonProcess) -> None:
    c = pyctrd.client()
    assert [p.id for p in c.plugins("id==sqlite")] == ["sqlite"]
    grpc_ids = {p.id for p in c.plugins("type==io.containerd.grpc.v1")}
    assert {"version", "namespaces", "events", "introspection", "healthcheck"} <= grpc_ids
    assert {p.id for p in c.plugins("id==version", "id==events")} == {"version", "events"}
    with pytest.raises(errdefs.InvalidArgument, match="filters"):
        c.plugins("id==")
    meta = c.plugins("type==io.containerd.metadata.v1")[0]
    assert meta.exports["path"].endswith("io.containerd.metadata.v1.sqlite/meta.db")
    assert meta.requires == ("io.containerd.content.v1", "io.containerd.snapshotter.v1")


def test_namespaces_and_errors_cross_the_wire(pyctrd: DaemonProcess) -> None:
    c = pyctrd.client()
    c.namespaces.create("lab", {"team": "a"})
    with pytest.raises(errdefs.AlreadyExists, match='namespace "lab": already exists'):
        c.namespaces.create("lab")
    with pytest.raises(errdefs.NotFound):
        c.namespaces.get("missing")
    with pytest.raises(errdefs.InvalidArgument):
        c.namespaces.create("../escape")
    with pytest.raises(errdefs.InvalidArgument, match="maximum size"):
        c.namespaces.create("big", {"k": "v" * 5000})
    assert c.namespaces.label("lab", team="", owner="me") == {"owner": "me"}
    assert c.namespaces.list() == {"lab": {"owner": "me"}}
    c.namespaces.delete("lab")
    assert c.namespaces.list() == {}
    # a namespace named in the header must itself be valid
    with pytest.raises(errdefs.InvalidArgument, match="identifier"):
        c.with_namespace("bad/ns").namespaces.list()


def test_events_are_filtered_by_namespace_and_topic(pyctrd: DaemonProcess) -> None:
    c = pyctrd.client()
    got: list[tuple[str, str]] = []
    probed = threading.Event()

    def listen() -> None:
        it = c.events.subscribe('namespace==blue,topic~="^/namespaces/"', 'topic=="/custom/thing"',
                                'topic=="/probe/ready"')
        for env in it:
            if env.topic == "/probe/ready":
                probed.set()
                continue
            got.append((env.namespace, env.topic))
            if len(got) == 3:
                it.close()
                return

    t = threading.Thread(target=listen, daemon=True)
    t.start()
    # The stream is set up asynchronously: publish probes until the listener has seen one.
    blue = c.with_namespace("blue")
    for _ in range(100):
        blue.events.publish("/probe/ready", namespace_pb2.NamespaceCreate(name="probe"))
        if probed.wait(0.05):
            break
    assert probed.is_set()
    c.namespaces.create("red")   # filtered out: wrong namespace
    c.namespaces.create("blue")  # in
    c.with_namespace("red").events.publish("/custom/thing", namespace_pb2.NamespaceCreate(name="x"))  # in
    c.namespaces.delete("blue")  # in
    t.join(10)
    assert got == [("blue", "/namespaces/create"), ("red", "/custom/thing"), ("blue", "/namespaces/delete")]
    with pytest.raises(errdefs.InvalidArgument, match="must start with"):
        c.events.publish("no-slash", namespace_pb2.NamespaceCreate(name="x"))
