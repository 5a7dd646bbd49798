"""``delete``: clean up after a shim that is gone (containerd's ``cleanupAfterDeadShim``).

When a shim's connection closes, containerd 1.6 runs the shim binary once more, in the
bundle, as ``… -id ID -bundle DIR delete``, and reads a serialized ``DeleteResponse`` from
its stdout. It does so after *every* task, dead shim or not, so this action is on the path
of each ``ctr run --rm``. Like the Go shim we:

1. read the runtime options the shim saved at Create (``options.json``: runc binary, root),
2. ``runc delete --force ID`` (kills whatever is left; failures are only logged),
3. unmount ``<bundle>/rootfs``,
4. remove the shim's socket if nothing answers there any more,
5. answer pid (from ``init.pid``), exit status 137 (128 + SIGKILL) and exited_at = now.

Kept cheap on purpose: no asyncio, no logging, no protobuf library (the three-field answer is encoded
by hand, see :func:`encode_delete_response`), and runc and the mount code only when there
is something for them to do.
"""
from __future__ import annotations

import json
import os
import sys
import time

from .flags import Flags

__all__ = ["OPTIONS_FILE", "delete", "encode_delete_response", "read_options"]

OPTIONS_FILE = "options.json"


def _warn(message: str) -> None:
    """A warning on stderr, where containerd collects them ("cleanup warnings ...")."""
    sys.stderr.write(f"level=warning msg={json.dumps(message)}\n")


def read_options(bundle: str) -> dict[str, object]:
    """The runtime options saved at Create (proto field names; ``{}`` when there were none)."""
    try:
        with open(os.path.join(bundle, OPTIONS_FILE)) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def encode_delete_response(pid: int, exit_status: int, exited_at_ns: int) -> bytes:
    """``DeleteResponse{pid=1, exit_status=2, exited_at=3 (Timestamp{seconds=1, nanos=2})}`` on the wire.

    Protobuf's encoding, by hand: each set field is a key (``field number << 3 | wire
    type``; 0 = varint, 2 = length-delimited) and its value; zero values are left out.

    >>> from pyctrd._api.containerd.runtime.v2.task import shim_pb2
    >>> data = encode_delete_response(4242, 137, 1_700_000_000_123_456_789)
    >>> m = shim_pb2.DeleteResponse.FromString(data)
    >>> m.pid, m.exit_status, m.exited_at.seconds, m.exited_at.nanos
    (4242, 137, 1700000000, 123456789)
    >>> data == m.SerializeToString()
    True
    """
    seconds, nanos = divmod(exited_at_ns, 10**9)
    ts = (b"\x08" + _varint(seconds) if seconds else b"") + (b"\x10" + _varint(nanos) if nanos else b"")
    return ((b"\x08" + _varint(pid) if pid else b"")
            + (b"\x10" + _varint(exit_status) if exit_status else b"")
            + b"\x1a" + _varint(len(ts)) + ts)


def _force_delete(flags: Flags, bundle: str) -> None:
    """``runc delete --force``, only if runc still has state for the container."""
    options = read_options(bundle)
    root = os.path.join(str(options.get("root") or flags.runc_root_base), flags.namespace)
    if not os.path.exists(os.path.join(root, flags.id)):
        return  # runc keeps <root>/<id>/state.json: without it there is nothing to delete
    import subprocess

    done = subprocess.run([str(options.get("binary_name") or "runc"), "--root", root,
                           "--log", os.path.join(bundle, "log.json"), "--log-format", "json",
                           "delete", "--force", flags.id], capture_output=True, check=False)
    if done.returncode != 0:
        _warn(f"failed to remove runc container {flags.id}: {done.stderr.decode().strip()}")


def _unmount_rootfs(rootfs: str) -> None:
    with open("/proc/self/mountinfo") as f:
        if not any(line.split()[4] == rootfs for line in f):
            return
    from ..core.mount import unmount_all

    try:
        unmount_all(rootfs)
    except OSError as exc:
        _warn(f"failed to cleanup rootfs mount: {exc}")


def _remove_dead_socket(bundle: str) -> None:
    from .start import can_connect

    try:
        with open(os.path.join(bundle, "address")) as f:
            address = f.read().strip()
    except OSError:
        return
    if address.startswith("unix://") and not can_connect(address):
        try:
            os.unlink(address.removeprefix("unix://"))
        except OSError:
            pass


def delete(flags: Flags) -> bytes:
    """Clean up the container of a dead shim; return the serialized ``DeleteResponse``.

    Raises:
        Nothing of its own: every cleanup step logs its failure and goes on, as containerd
        needs an answer either way.
    """
    bundle = flags.bundle_dir
    _force_delete(flags, bundle)
    _unmount_rootfs(os.path.join(bundle, "rootfs"))
    _remove_dead_socket(bundle)
    try:
        with open(os.path.join(bundle, "init.pid")) as f:
            pid = int(f.read().strip() or 0)
    except (OSError, ValueError) as exc:
        _warn(f"failed to read init pid file: {exc}")
        pid = 0
    return encode_delete_response(pid, 128 + 9, time.time_ns())
