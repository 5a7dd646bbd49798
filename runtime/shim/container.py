"""One container in the shim: its init process, its exec'd processes, its cgroup.

:func:`create_container` is what Task/Create does before anything runs (containerd's
``runc.NewContainer``):

1. read the runtime options (``containerd.runc.v1.Options``: runc binary, runc root,
   systemd cgroups, no-pivot, …) and save them in the bundle (``options.json``, and the
   binary name in ``runtime``), where ``delete`` finds them if this shim dies;
2. mount the rootfs the request describes (the snapshot's mounts) on ``<bundle>/rootfs``;
3. ``runc create`` the init process, with its stdio (:mod:`.stdio`);
4. find the container's cgroup from the init pid (for Stats and OOM events).

If a step fails, what the earlier ones did is undone (the rootfs is unmounted).
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import Any

from .. import errdefs
from .._api.containerd.runtime.v2.runc.options import oci_pb2
from .._api.containerd.runtime.v2.task import shim_pb2
from ..errdefs import NotFound
from ..runc import Monitor, Runc
from .cleanup import OPTIONS_FILE
from .exec_process import ExecProcess
from .init_process import InitProcess
from .process import Process
from .stdio import Stdio

__all__ = ["Container", "create_container", "read_runtime_options"]

log = logging.getLogger("pyctrd.shim")


class Container:
    """A container the shim serves: ``init`` plus exec'd processes by exec id."""

    def __init__(self, id: str, bundle: str, init: InitProcess, cgroup: Any = None) -> None:
        self.id, self.bundle, self.init, self.cgroup = id, bundle, init, cgroup
        self.execs: dict[str, ExecProcess] = {}
        self.oom_watch: asyncio.Task[None] | None = None  # publishes /tasks/oom while running

    def __repr__(self) -> str:
        return f"<Container {self.id} init={self.init.pid} {self.init.status()} execs={len(self.execs)}>"

    def process(self, exec_id: str = "") -> Process:
        """The init process (``exec_id`` empty) or the exec'd process ``exec_id``.

        Raises:
            NotFound: no such exec'd process.
        """
        if not exec_id:
            return self.init
        try:
            return self.execs[exec_id]
        except KeyError:
            raise NotFound(f"process does not exist {exec_id}") from None

    def all(self) -> list[Process]:
        """Every process, exec'd ones first."""
        return [*self.execs.values(), self.init]

    def by_pid(self, pid: int) -> Process | None:
        """The process with host pid ``pid`` that has not been seen exiting yet."""
        for p in self.all():
            if p.pid == pid and p.state not in ("stopped", "deleted"):
                return p
        return None

    def should_kill_all_on_exit(self) -> bool:
        """Does init's exit leave other processes behind? Yes unless the container has a
        PID namespace of its own: then the kernel kills them all (containerd's rule)."""
        try:
            with open(os.path.join(self.bundle, "config.json")) as f:
                spec = json.load(f)
        except (OSError, ValueError):
            return True
        namespaces = (spec.get("linux") or {}).get("namespaces") or []
        return not any(ns.get("type") == "pid" and not ns.get("path") for ns in namespaces)


def read_runtime_options(options: Any) -> oci_pb2.Options:
    """The ``containerd.runc.v1.Options`` inside a request's ``Any`` (defaults if none).

    Raises:
        InvalidArgument: an ``Any`` of another type, or undecodable.
    """
    if options is None or not options.type_url:
        return oci_pb2.Options()
    if options.type_url.rsplit("/", 1)[-1] != oci_pb2.Options.DESCRIPTOR.full_name:
        raise errdefs.InvalidArgument(f"runtime options of type {options.type_url}")
    try:
        opts: oci_pb2.Options = oci_pb2.Options.FromString(options.value)
    except Exception as exc:  # protobuf's DecodeError
        raise errdefs.InvalidArgument(f"runtime options: {exc}") from exc
    return opts


def _save_options(bundle: str, opts: oci_pb2.Options) -> None:
    """``options.json`` (set fields, proto names, as Go's ``omitempty`` JSON) and ``runtime``."""
    fields = {f.name: value for f, value in opts.ListFields()}
    with errdefs.map_exceptions(f"bundle {bundle}"):
        for name, text in ((OPTIONS_FILE, json.dumps(fields, separators=(",", ":"))),
                           ("runtime", opts.binary_name)):
            fd = os.open(os.path.join(bundle, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with open(fd, "w") as f:
                f.write(text)


def _mount_rootfs(bundle: str, mounts: Any) -> str:
    """Mount the request's rootfs mounts on ``<bundle>/rootfs``; return it ("" if none)."""
    if not mounts:
        return ""
    from ..core.mount import Mount, mount_all, unmount_all

    rootfs = os.path.join(bundle, "rootfs")
    with errdefs.map_exceptions(f"rootfs {rootfs}"):
        os.makedirs(rootfs, mode=0o711, exist_ok=True)
    described = [Mount(m.type, m.source, list(m.options)) for m in mounts]
    try:
        with errdefs.map_exceptions(f"failed to mount rootfs component {described}"):
            mount_all(described, rootfs)
    except BaseException:
        unmount_all(rootfs)
        raise
    return rootfs


async def create_container(r: shim_pb2.CreateTaskRequest, *, namespace: str, runc_root_base: str,
                           monitor: Monitor) -> Container:
    """Mount, ``runc create`` and describe one container (the numbered steps above).

    Raises:
        InvalidArgument: bad runtime options.
        PyctrdError: a mount or runc failed (``OCI runtime create failed: …``).
    """
    opts = read_runtime_options(r.options if r.HasField("options") else None)
    _save_options(r.bundle, opts)
    rootfs = _mount_rootfs(r.bundle, r.rootfs)
    runc = Runc(os.path.join(opts.root or runc_root_base, namespace), opts.binary_name or "runc",
                log=os.path.join(r.bundle, "log.json"), systemd_cgroup=opts.systemd_cgroup,
                monitor=monitor)
    init = InitProcess(r.id, r.bundle, rootfs, runc, Stdio(r.stdin, r.stdout, r.stderr, r.terminal),
                       namespace=namespace, monitor=monitor, io_uid=opts.io_uid, io_gid=opts.io_gid)
    try:
        await init.create(no_pivot=opts.no_pivot_root, no_new_keyring=opts.no_new_keyring)
    except BaseException:
        if rootfs:
            from ..core.mount import unmount_all

            unmount_all(rootfs)
        raise
    cgroup = None
    try:
        from ..cgroups import Cgroup

        cgroup = Cgroup.from_pid(init.pid)
    except errdefs.PyctrdError as exc:
        log.error("loading cgroup for %d: %s", init.pid, exc)
    return Container(r.id, r.bundle, init, cgroup)
