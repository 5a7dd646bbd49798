"""What the daemon offers shims and systemd: the ttrpc events socket, ``pyctrd publish``,
``sd_notify`` readiness, the unit file, and the opt and runtime plugins' settings."""
from __future__ import annotations

import asyncio
import os
import socket
import stat
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from google.protobuf import timestamp_pb2

from pyctrd import ttrpc
from pyctrd._api.containerd.api.events import task_pb2
from pyctrd._api.containerd.api.services.ttrpc.events.v1 import events_pb2 as ttrpc_events
from pyctrd.core import typeurl
from pyctrd.daemon.systemd import notify, unit
from tests.fixtures.daemon import DaemonProcess, start_daemon


def test_shims_forward_events_over_the_ttrpc_socket(pyctrd: DaemonProcess) -> None:
    path = pyctrd.address + ".ttrpc"
    st = os.stat(path)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660
    client = pyctrd.client()
    got: list[object] = []
    stream = client.events.subscribe('topic=="/tasks/oom"')

    def collect() -> None:
        for env in stream:
            got.append(env)
            return
    t = threading.Thread(target=collect, daemon=True)
    t.start()

    async def forward() -> None:
        ts = timestamp_pb2.Timestamp()
        ts.FromDatetime(datetime(2026, 1, 2, 3, 4, 5))
        env = ttrpc_events.Envelope(timestamp=ts, namespace="shimns", topic="/tasks/oom",
                                    event=typeurl.pack(task_pb2.TaskOOM(container_id="c9")))
        async with await ttrpc.connect(path, timeout=5) as c:
            stub = ttrpc.Stub(c, ttrpc_events.DESCRIPTOR.services_by_name["Events"])
            # the subscription is registered asynchronously: forward until it is seen
            for _ in range(50):
                await stub.Forward(ttrpc_events.ForwardRequest(envelope=env), timeout=5)
                if got:
                    return
                await asyncio.sleep(0.05)
    asyncio.run(forward())
    t.join(5)
    [env] = got
    assert (env.namespace, env.topic, env.event.container_id) == ("shimns", "/tasks/oom", "c9")  # type: ignore[attr-defined]
    assert env.timestamp == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)  # type: ignore[attr-defined]


def test_pyctrd_publish_reads_an_any_from_stdin(pyctrd: DaemonProcess) -> None:
    client = pyctrd.client()
    got: list[object] = []
    stream = client.events.subscribe('topic=="/tasks/oom"')

    def collect() -> None:
        for env in stream:
            got.append(env)
            return
    t = threading.Thread(target=collect, daemon=True)
    t.start()
    payload = typeurl.pack(task_pb2.TaskOOM(container_id="c7")).SerializeToString()
    cmd = [sys.executable, "-m", "pyctrd.cmd.pyctrd", "--address", pyctrd.address, "publish",
           "--topic", "/tasks/oom", "--namespace", "pubns"]
    for _ in range(50):  # until the asynchronous subscription sees one
        r = subprocess.run(cmd, input=payload, capture_output=True, timeout=30, check=False)
        assert r.returncode == 0, r.stderr
        t.join(0.1)
        if got:
            break
    [env] = got
    assert (env.namespace, env.event.container_id) == ("pubns", "c7")  # type: ignore[attr-defined]
    r = subprocess.run(cmd[:-4], input=payload, capture_output=True, timeout=30, check=False)
    assert r.returncode == 1 and b"topic required" in r.stderr
    r = subprocess.run(cmd, input=b"\xff\xff", capture_output=True, timeout=30, check=False)
    assert r.returncode == 1 and b"not a serialized Any" in r.stderr


def test_ready_is_notified_to_systemd(short_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(short_tmp / "notify")
    listener.bind(path)
    listener.settimeout(20)
    with monkeypatch.context() as m:
        m.setenv("NOTIFY_SOCKET", path)
        d = start_daemon(short_tmp)
    try:
        assert listener.recv(64) == b"READY=1"
    finally:
        assert d.stop() == 0
    assert listener.recv(64) == b"STOPPING=1"
    listener.close()
    assert notify("READY=1") is False  # not under systemd: nothing to tell


def test_systemd_unit_has_what_containerd_s_has() -> None:
    text = unit("/usr/local/bin/pyctrd", "/etc/pyctrd/config.toml")
    settings = {line.partition("=")[0]: line.partition("=")[2] for line in text.splitlines()
                if "=" in line and not line.startswith("#")}
    assert settings["ExecStart"] == "/usr/local/bin/pyctrd --config /etc/pyctrd/config.toml"
    assert settings["ExecStartPre"] == "-/sbin/modprobe overlay"
    expected = {"Type": "notify", "Delegate": "yes", "KillMode": "process", "Restart": "always",
                "RestartSec": "5", "LimitNPROC": "infinity", "LimitCORE": "infinity", "TasksMax": "infinity",
                "OOMScoreAdjust": "-999", "WantedBy": "multi-user.target", "After": "network.target local-fs.target"}
    assert {k: settings.get(k) for k in expected} == expected
    assert settings["LimitNOFILE"] in ("infinity", "1048576")
    assert text.index("[Unit]") < text.index("[Service]") < text.index("[Install]")
    r = subprocess.run([sys.executable, "-m", "pyctrd.cmd.pyctrd", "systemd-unit"], capture_output=True, text=True,
                       timeout=30, check=True)
    assert "KillMode=process" in r.stdout and "Type=notify" in r.stdout


def test_systemd_unit_from_a_relative_invocation_names_an_absolute_binary() -> None:
    """`.venv/bin/pyctrd systemd-unit` once printed ExecStart=.venv/bin/pyctrd, which systemd refuses."""
    script = Path(sys.executable).parent / "pyctrd"  # the console script beside this Python
    if not script.exists():
        pytest.skip(f"no console script at {script}")
    cwd = script.parent.parent.parent  # e.g. the checkout holding .venv/
    relative = os.path.relpath(script, cwd)
    assert not os.path.isabs(relative) and "/" in relative
    r = subprocess.run([relative, "systemd-unit"], cwd=cwd, capture_output=True, text=True, timeout=30, check=True)
    [exec_start] = [line.removeprefix("ExecStart=") for line in r.stdout.splitlines() if line.startswith("ExecStart=")]
    binary = exec_start.split()[0]
    assert os.path.isabs(binary) and os.path.samefile(binary, script), exec_start


def test_opt_and_runtime_plugins_settings(short_tmp: Path) -> None:
    opt = short_tmp / "opt"
    d = start_daemon(short_tmp, config_text=f'version = 2\n[plugins."io.containerd.internal.v1.opt"]\n'
                                            f'  path = "{opt}"\n[plugins."io.containerd.runtime.v2.task"]\n'
                                            f'  platforms = ["linux/arm64/v8"]\n')
    try:
        plugins = {(p.type, p.id): p for p in d.client().plugins()}
        assert plugins[("io.containerd.internal.v1", "opt")].exports == {"path": str(opt)}
        assert sorted(os.listdir(opt)) == ["bin", "lib"]
        task = plugins[("io.containerd.runtime.v2", "task")]
        assert task.platforms == ("linux/arm64/v8",) and task.requires == (
            "io.containerd.event.v1", "io.containerd.metadata.v1")
        assert plugins[("io.containerd.service.v1", "tasks-service")].requires == (
            "io.containerd.event.v1", "io.containerd.runtime.v1", "io.containerd.runtime.v2",
            "io.containerd.metadata.v1", "io.containerd.monitor.v1")
    finally:
        assert d.stop() == 0
    d = start_daemon(short_tmp, name="e")  # default: inside the root, nothing outside
    try:
        assert (d.root / "io.containerd.internal.v1.opt" / "bin").is_dir()
    finally:
        assert d.stop() == 0
