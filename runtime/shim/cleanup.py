"""``delete``: clean up after a shim that is gone (containerd's ``cleanupAfterDeadShim``).

When a shim dies (killed, OOM, crashed) its container may still exist in runc, with its
rootfs mounted. containerd then runs the shim binary once more, in the bundle, as
``… -id ID -bundle DIR delete``, and expects on stdout a serialized ``DeleteResponse``
describing how the task ended. Like the Go shim we:

1. read the runtime options the dead shim saved at Create (``options.json``: runc binary
   and root),
2. ``runc delete --force ID`` (kills whatever is left; errors are only logged),
3. unmount ``<bundle>/rootfs``,
4. remove the dead shim's socket if nothing answers there any more,
5. answer pid (from ``init.pid``), exit status 137 (128 + SIGKILL) and exited_at = now.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os

from ..errdefs import PyctrdError
from .flags import Flags

__all__ = ["delete", "read_options"]

log = logging.getLogger("pyctrd.shim")

OPTIONS_FILE = "options.json"


def read_options(bundle: str) -> dict[str, object]:
    """The runtime options saved at Create (proto field names; ``{}`` when there were none)."""
    try:
        with open(os.path.join(bundle, OPTIONS_FILE)) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


async def _force_delete(flags: Flags, bundle: str) -> None:
    from ..runc import Runc

    options = read_options(bundle)
    root = os.path.join(str(options.get("root") or flags.runc_root_base), flags.namespace)
    runc = Runc(root, str(options.get("binary_name") or "runc"), log=os.path.join(bundle, "log.json"))
    try:
        await runc.delete(flags.id, force=True)
    except PyctrdError as exc:
        log.warning("failed to remove runc container %s: %s", flags.id, exc)


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
    from google.protobuf import timestamp_pb2

    from .._api.containerd.runtime.v2.task import shim_pb2
    from ..core.mount import unmount_all

    bundle = flags.bundle_dir
    asyncio.run(_force_delete(flags, bundle))
    try:
        unmount_all(os.path.join(bundle, "rootfs"))
    except (PyctrdError, OSError) as exc:
        log.warning("failed to cleanup rootfs mount: %s", exc)
    _remove_dead_socket(bundle)
    try:
        with open(os.path.join(bundle, "init.pid")) as f:
            pid = int(f.read().strip() or 0)
    except (OSError, ValueError) as exc:
        log.warning("failed to read init pid file: %s", exc)
        pid = 0
    now = timestamp_pb2.Timestamp()
    now.GetCurrentTime()
    response = shim_pb2.DeleteResponse(pid=pid, exit_status=128 + 9, exited_at=now)
    data: bytes = response.SerializeToString()
    return data
