"""Tearing a lab's daemon down: its tasks first, through the API; then whatever survived.

Stopping a daemon is not stopping its containers. ``Lab.stop`` sends SIGTERM and the tasks
keep running - right for a daemon *restart* (containerd's systemd unit has ``KillMode=process``
for exactly that: the shims outlive the daemon, and the next one reconnects to them). Tearing
a lab down is the other case: Ctrl-C on ``make lab`` must leave no shim, container, rootfs
mount or cgroup behind. So, while the daemon still serves:

1. :func:`stop_tasks` goes through every namespace and kills (SIGKILL), waits for and deletes
   every task, whichever runtime runs it. Delete is the normal path: the shim runs
   ``runc delete`` (cgroup gone), the daemon unmounts the rootfs, removes the bundle and shuts
   the shim down. Container records and images stay, as containerd keeps them.

and once the daemon is gone, the safety net for what step 1 could not reach (a hung daemon, a
shim it lost):

2. :func:`clean_after` kills, by PID, every shim still serving a bundle under the daemon's
   state directory (and the container's processes: its children and its cgroup's), removes
   the containers' cgroups and unmounts what is still mounted there. The bundles stay for the next daemon
   start, whose dead-shim clean-up finishes the job (``runc delete``, bundle removal).
"""
from __future__ import annotations

import contextlib
import glob
import itertools
import json
import os
import select
import signal
from collections.abc import Iterator
from pathlib import Path

from ..cgroups import Cgroup
from ..client import Client
from ..errdefs import PyctrdError
from .procs import PidDir, unmount_under

__all__ = ["TASK_DIR", "bundles", "clean_after", "shim_pid", "stop_recorded", "stop_tasks"]

#: Where the runtime-v2 task manager keeps bundles, under the daemon's state directory.
TASK_DIR = "io.containerd.runtime.v2.task"


def bundles(state: str | os.PathLike[str]) -> Iterator[tuple[str, str, Path]]:
    """``(namespace, id, bundle directory)`` for every task bundle under ``state``."""
    for ns_dir in sorted(Path(state, TASK_DIR).glob("*")):
        if ns_dir.is_dir() and not ns_dir.name.startswith("."):
            for d in sorted(ns_dir.iterdir()):
                if d.is_dir() and not d.name.startswith("."):
                    yield ns_dir.name, d.name, d


def _serves(pid: int, bundle: Path) -> bool:
    """Is ``pid`` the shim of ``bundle``? Both shims (ours and Debian's Go shim) run with the
    bundle as their working directory and ``-id <id>`` on their command line."""
    try:
        if os.readlink(f"/proc/{pid}/cwd") != str(bundle):
            return False
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(a == b"-id" and b == bundle.name.encode() for a, b in itertools.pairwise(args))


def shim_pid(bundle: Path) -> int | None:
    """The PID of the live shim serving ``bundle``, if any.

    Our shim writes ``<bundle>/shim.pid``; Debian's Go shim (containerd 1.6) does not, so
    without that file the processes whose working directory is the bundle are looked at.
    Either way the answer is checked (:func:`_serves`): a PID may have been reused.
    """
    with contextlib.suppress(OSError, ValueError):
        pid = int((bundle / "shim.pid").read_text().strip())
        if _serves(pid, bundle):
            return pid
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _serves(int(entry), bundle):
            return int(entry)
    return None


def stop_tasks(address: str, state: str | os.PathLike[str] | None = None, *, timeout: float = 10) -> list[str]:
    """Kill (SIGKILL), wait for and delete every task of the daemon at ``address``, in every
    namespace; one line per task saying what happened (``state`` names the shim PIDs).

    Never raises: a daemon that does not answer is reported, and :func:`clean_after` is
    what deals with its shims.
    """
    notes = []
    try:
        with Client(address, timeout=timeout) as client:
            for ns in sorted(client.namespaces.list()):
                tasks = client.with_namespace(ns).tasks
                for st in tasks.list():
                    shim = shim_pid(Path(state, TASK_DIR, ns, st.id)) if state is not None else None
                    try:
                        task = tasks.get(st.id)
                        if st.status in ("paused", "pausing"):
                            task.resume()  # a frozen process never dies of its SIGKILL
                        task.delete(force=True)
                    except PyctrdError as exc:
                        notes.append(f"could not stop task {ns}/{st.id}: {exc}")
                    else:
                        if shim is not None:  # Delete asks the shim to shut down; it exits soon after
                            _wait_gone([shim], timeout)
                        notes.append(f"stopped task {ns}/{st.id} (shim {shim or '?'})")
    except PyctrdError as exc:
        notes.append(f"could not stop the tasks of the daemon at {address}: {exc}")
    return notes


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for path in glob.glob(f"/proc/{pid}/task/*/children"):
        with contextlib.suppress(OSError):
            kids += [int(p) for p in Path(path).read_text().split()]
    return kids


def _wait_gone(pids: list[int], timeout: float, sig: int | None = None) -> None:
    """Wait (up to ``timeout`` for each) until the processes have ended, signalling them first
    if ``sig`` is given: a pidfd turns readable when its process has ended."""
    fds = []
    for pid in pids:
        with contextlib.suppress(OSError):
            fds.append(os.pidfd_open(pid))
        if sig is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
    for fd in fds:
        select.select([fd], [], [], timeout)
        os.close(fd)


def _task_cgroup(bundle: Path) -> Cgroup | None:
    """The cgroup the task's spec names (``linux.cgroupsPath`` in the bundle's config.json)."""
    try:
        return Cgroup.from_spec(json.loads((bundle / "config.json").read_text()))
    except (OSError, ValueError, PyctrdError):
        return None


def _cgroup_procs(cgroup: Cgroup | None) -> list[int]:
    """The container's processes, thawed first: a paused (frozen) process never dies of SIGKILL."""
    if cgroup is None:
        return []
    for d, name, thawed in ((cgroup.v1.get("freezer"), "freezer.state", "THAWED"),
                            (cgroup.unified, "cgroup.freeze", "0")):
        if d and os.path.isfile(os.path.join(d, name)):
            with contextlib.suppress(OSError):
                Path(d, name).write_text(thawed)
    with contextlib.suppress(PyctrdError):
        return cgroup.procs()
    return []


def clean_after(state: str | os.PathLike[str]) -> list[str]:
    """The safety net once a daemon has stopped: kill by PID every shim still serving a bundle
    under ``state``, with the processes it parents and those in the container's cgroup; remove
    that cgroup (empty now); unmount what is still mounted under ``state``."""
    notes = []
    for ns, id, bundle in bundles(state):
        pid = shim_pid(bundle)
        if pid is None:
            continue
        cgroup = _task_cgroup(bundle)
        _wait_gone([*_cgroup_procs(cgroup), *_children(pid), pid], 5, signal.SIGKILL)
        notes.append(f"killed leftover shim of {ns}/{id} (pid {pid})")
        for d in cgroup.directories if cgroup else []:
            with contextlib.suppress(OSError):
                os.rmdir(d)
    notes += [f"unmounted {m}" for m in unmount_under(state)]
    return notes


def stop_recorded(pids: PidDir, *, verb: str = "stopped") -> list[str]:
    """:meth:`PidDir.stop_all`, with recorded daemons (records with an address) torn down:
    their tasks are stopped first (:func:`stop_tasks`) and :func:`clean_after` runs on their
    state once they are gone. Lines read ``"<verb> <name> (pid N)"``."""
    daemons = {name: rec for name, rec in pids.records().items() if rec.address}
    notes = [n for rec in daemons.values() if rec.alive() for n in stop_tasks(rec.address, rec.state or None)]
    notes += [f"{verb} {what}" for what in pids.stop_all()]
    for rec in daemons.values():
        if rec.state:
            notes += clean_after(rec.state)
    return notes
