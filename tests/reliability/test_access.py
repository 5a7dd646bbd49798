"""Who may talk to the daemon and its shims.

- The gRPC and ttrpc sockets are 0660 and owned by the uid/gid the config names (a non-root
  pair here): members of the group may use the gRPC API, anyone else is refused by the file's
  permissions.
- ttrpc serves only the daemon's own uid: another user, even one whom file permissions do
  not stop (CAP_DAC_OVERRIDE kept across setuid), is hung up on before a byte is read. The
  same holds for each shim (Debian's Go shim and ours) - a shim runs as root with the
  container's power; only its daemon may drive it.
"""
from __future__ import annotations

import os
import stat

import pytest

from pyctrd import errdefs
from pyctrd.plugins.runtime.v2.binary import resolve_runtime
from tests.reliability.figures import record
from tests.reliability.peer import connect_as
from tests.runtime.conftest import Env, needs_go_shim

UID, GID = 4321, 4322
NOBODY = 65534


@pytest.fixture
def rt_config() -> str:
    return f"version = 2\n[grpc]\nuid = {UID}\ngid = {GID}\n[ttrpc]\nuid = {UID}\ngid = {GID}\n"


@pytest.mark.requires_root
def test_sockets_are_0660_and_owned_as_configured(rt: Env) -> None:
    grpc_sock, ttrpc_sock = rt.daemon.address, rt.daemon.address + ".ttrpc"
    os.chmod(rt.daemon.root.parent, 0o711)  # the test's own temp dir (0700): let others reach the socket
    for path in (grpc_sock, ttrpc_sock):
        st = os.stat(path)
        assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660, oct(st.st_mode)
        assert (st.st_uid, st.st_gid) == (UID, GID), path
    assert connect_as(NOBODY, GID, grpc_sock, dac=False, grpc=True) == "answered"  # a group member
    refused = connect_as(NOBODY, NOBODY, grpc_sock, dac=False, grpc=True)
    assert refused.startswith("error UNAVAILABLE") and "ermission denied" in refused, refused
    assert connect_as(0, 0, ttrpc_sock) == "answered"  # the control: root (the daemon's uid) is served
    assert connect_as(UID, GID, ttrpc_sock) == "closed"  # the socket's owner, but not the daemon's uid
    assert connect_as(NOBODY, NOBODY, ttrpc_sock) == "closed"
    record("access", "socket owner/mode and peer-uid checks", 6)


@needs_go_shim[0]
@needs_go_shim[1]
@pytest.mark.parametrize("runtime", ["io.containerd.runc.v2", "io.containerd.pyrunc.v1"])
def test_shims_serve_only_their_daemons_uid(rt: Env, runtime: str) -> None:
    try:
        resolve_runtime(runtime)
    except errdefs.NotFound:
        pytest.skip(f"{runtime}'s shim is not installed")
    rt.client.containers.create("acc", spec=rt.spec("acc", "sleep", "1000"), runtime=runtime)
    task = rt.client.tasks.create("acc")
    task.start()
    sock = (rt.state / "acc" / "address").read_text().strip().removeprefix("unix://")
    assert connect_as(0, 0, sock) == "answered"
    assert connect_as(NOBODY, NOBODY, sock) == "closed"  # past the file permissions: the shim hangs up
    assert connect_as(UID, GID, sock) == "closed"
    assert connect_as(NOBODY, NOBODY, sock, dac=False).startswith("denied")  # and the file is closed to it
    assert task.status().status == "running"
    task.delete(force=True)
    rt.client.containers.delete("acc")
    record("access", f"shim refuses other uids/{runtime}", 3)
