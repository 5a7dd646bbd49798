"""The real ``ctr`` (Debian's containerd package) against pyctrd: version, plugins, namespaces, events."""
from __future__ import annotations

import select
import subprocess
import time

import pytest

from tests.fixtures.daemon import DaemonProcess

pytestmark = pytest.mark.needs_ctr


def test_ctr_version_shows_our_server_and_uuid(pyctrd: DaemonProcess) -> None:
    out = pyctrd.ctr("version").stdout
    uuid = pyctrd.client().version().uuid
    assert "Server:\n  Version:  1.6.20+pyctrd." in out
    assert f"  UUID: {uuid}" in out


def test_ctr_plugins_ls_has_containerds_shape(pyctrd: DaemonProcess) -> None:
    lines = pyctrd.ctr("plugins", "ls").stdout.splitlines()
    assert lines[0].split() == ["TYPE", "ID", "PLATFORMS", "STATUS"]
    rows = {tuple(line.split()[:2]): line.split()[-1] for line in lines[1:]}
    assert rows[("io.containerd.grpc.v1", "version")] == "ok"
    assert rows[("io.containerd.metadata.v1", "sqlite")] == "ok"
    assert len(rows) == len(pyctrd.client().plugins())
    # pyctr prints the same table, byte for byte
    assert pyctrd.pyctr("plugins", "ls").stdout == pyctrd.ctr("plugins", "ls").stdout


def test_ctr_plugins_ls_detailed_and_filtered(pyctrd: DaemonProcess) -> None:
    out = pyctrd.ctr("plugins", "ls", "-d", "id==sqlite").stdout
    assert "Type:         io.containerd.metadata.v1" in out
    assert "ID:           sqlite" in out
    assert "io.containerd.content.v1" in out and "policy      shared" in out
    only = pyctrd.ctr("plugins", "ls", "type==io.containerd.grpc.v1").stdout.splitlines()[1:]
    assert only and all(line.startswith("io.containerd.grpc.v1") for line in only)
    assert pyctrd.ctr("plugins", "ls", "-q", "id==version").stdout == "version\n"


def test_ctr_namespaces_lifecycle(pyctrd: DaemonProcess) -> None:
    pyctrd.ctr("namespaces", "create", "lab", "course=ctrd")
    pyctrd.ctr("namespaces", "label", "lab", "level=1")
    out = pyctrd.ctr("namespaces", "ls").stdout
    assert out.splitlines()[0].split() == ["NAME", "LABELS"]
    assert "lab  course=ctrd,level=1" in out
    dup = pyctrd.ctr("namespaces", "create", "lab", check=False)
    assert dup.returncode != 0 and "already exists" in dup.stderr
    bad = pyctrd.ctr("namespaces", "create", "../x", check=False)
    assert bad.returncode != 0 and "invalid argument" in bad.stderr
    assert pyctrd.ctr("namespaces", "rm", "lab").stdout == "lab\n"
    assert "lab" not in pyctrd.ctr("namespaces", "ls", "-q").stdout
    assert pyctrd.pyctr("namespaces", "ls").stdout == pyctrd.ctr("namespaces", "ls").stdout


def test_ctr_events_receives_what_we_publish(pyctrd: DaemonProcess) -> None:
    ctr = subprocess.Popen(["ctr", "--address", pyctrd.address, "events"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        c = pyctrd.client()
        lines: list[str] = []
        deadline = time.monotonic() + 15
        n = 0
        # ctr subscribes asynchronously; create namespaces until it prints one.
        while time.monotonic() < deadline:
            c.namespaces.create(f"ev{n}")
            n += 1
            time.sleep(0.2)
            if ctr.poll() is not None:
                break
            if select.select([ctr.stdout], [], [], 0.1)[0]:
                lines.append(ctr.stdout.readline())  # type: ignore[union-attr]
                break
        assert lines, f"ctr events printed nothing; stderr: {ctr.stderr.read() if ctr.poll() is not None else ''}"
        parts = lines[0].split()
        # "2026-11-28 05:14:56.014629 +0000 UTC ev3 /namespaces/create {"name":"ev3"}"
        assert parts[2:4] == ["+0000", "UTC"] and parts[5] == "/namespaces/create"
        assert parts[6] == f'{{"name":"{parts[4]}"}}'
    finally:
        ctr.terminate()
        ctr.communicate(timeout=5)  # also closes the pipes
