"""Talk to a unix socket as another user, from a child process (the test itself stays root).

:func:`connect_as` runs a small Python child that switches to ``uid``/``gid`` and then:

- ``dac=True``: keeps CAP_DAC_OVERRIDE (so file permissions do not stop it: what is tested is
  the *server's* check of the peer's uid, made with SO_PEERCRED at connect time);
- ``dac=False``: an ordinary process of that user (file permissions apply).

It sends one ttrpc request (or, with ``grpc=True``, calls Version over gRPC) and reports how
the server answered: ``answered``, ``closed`` (hung up without an answer), ``denied <errno>``
(connect refused by permissions) or ``error <text>``.
"""
from __future__ import annotations

import subprocess
import sys

__all__ = ["connect_as"]

CHILD = r'''
import ctypes, os, socket, sys
uid, gid, path, dac, grpc_call = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4] == "1", sys.argv[5] == "1"
from pyctrd.ttrpc import framing, messages
from pyctrd._api.containerd.runtime.v2.task import shim_pb2
if grpc_call:
    import grpc
    from google.protobuf import empty_pb2
    from pyctrd._api.containerd.api.services.version.v1 import version_pb2_grpc
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(8, 1, 0, 0, 0)  # PR_SET_KEEPCAPS: permitted capabilities survive setuid
os.setgroups([])
os.setresgid(gid, gid, gid)
os.setresuid(uid, uid, uid)
if dac:
    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]
    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]
    hdr, data = Header(0x20080522, 0), (Data * 2)()
    libc.capget(ctypes.byref(hdr), data)
    data[0].effective |= (1 << 1) | (1 << 2)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
    assert libc.capset(ctypes.byref(hdr), data) == 0, ctypes.get_errno()
assert os.geteuid() == uid
if grpc_call:
    try:
        with grpc.insecure_channel("unix://" + path) as ch:
            version_pb2_grpc.VersionStub(ch).Version(empty_pb2.Empty(), timeout=5)
        print("answered")
    except grpc.RpcError as exc:
        print("error", exc.code().name, exc.details())
    sys.exit(0)
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
try:
    s.connect(path)
except OSError as exc:
    print("denied", exc.errno)
    sys.exit(0)
req = messages.Request(service="containerd.task.v2.Task", method="Connect",
                       payload=shim_pb2.ConnectRequest(id="x").SerializeToString())
try:
    s.sendall(framing.encode_frame(1, framing.MessageType.REQUEST, req.SerializeToString()))
    data = s.recv(65536)
    print("answered" if data else "closed")
except (ConnectionResetError, BrokenPipeError):
    print("closed")
except OSError as exc:
    print("error", exc)
'''


def connect_as(uid: int, gid: int, path: str, *, dac: bool = True, grpc: bool = False) -> str:
    r = subprocess.run([sys.executable, "-c", CHILD, str(uid), str(gid), path, "1" if dac else "0",
                        "1" if grpc else "0"], capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout.strip()
