"""Reaping orphans: the price of being a child subreaper.

The daemon marks itself a *child subreaper*, so a shim it started becomes its child once the
shim's ``start`` process exits (and is reaped by the daemon when it ends). But when a shim is
killed, *its* children - ``runc init``, a container's processes - become the daemon's children
too, and nobody waits for them: they stay zombies, and ``runc delete --force`` waits on a zombie
forever. The daemon cannot simply ``waitpid(-1)``: that would steal the exit statuses of the
processes other code waits for (``asyncio`` subprocesses, ``subprocess.run`` in a thread).

So :class:`OrphanReaper` reaps only zombies that nobody else reaped: on ``SIGCHLD`` it lists the
daemon's zombie children (``/proc/self/task/*/children``), and reaps those that were *already*
zombies at the previous look, ``grace`` seconds earlier. A process whose parent code waits for
it is reaped by that code within microseconds; one still a zombie after the grace is an orphan.
"""
from __future__ import annotations

import asyncio
import contextlib
import glob
import json
import logging
import os
import select
import shutil
import signal
from pathlib import Path

from ....cgroups import Cgroup
from ....core import mount
from ....errdefs import PyctrdError
from ....ttrpc import sockets as ttrpc_sockets
from .bundle import Bundle

__all__ = ["OrphanReaper", "alive", "listening_sockets", "remove_empty_cgroup", "remove_hidden_bundle", "remove_stray_shims", "stray_shims",
           "task_cgroup", "zombie_children"]

log = logging.getLogger("pyctrd.runtime")


def zombie_children() -> set[int]:
    """Pids of this process's children that have exited but not been reaped."""
    pids: set[int] = set()
    for path in glob.glob(f"/proc/{os.getpid()}/task/*/children"):
        with contextlib.suppress(OSError), open(path) as f:
            pids.update(int(p) for p in f.read().split())
    zombies = set()
    for pid in pids:
        with contextlib.suppress(OSError, IndexError), open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                zombies.add(pid)
    return zombies


def alive(pid: int) -> bool:
    """Is ``pid`` running (not gone, not a zombie)?"""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def stray_shims(address: str, namespace: str, id: str) -> list[int]:
    """Live processes that are a shim of the daemon at ``address`` for task ``namespace/id``,
    known by the command line every shim is started with (``-namespace``, ``-address``, ``-id``).

    How a restarted daemon finds a shim it cannot reach: one whose ``start`` was cut short by
    the daemon's death, after the server was up but before its address reached the bundle.
    """
    want = {b"-namespace": namespace.encode(), b"-address": address.encode(), b"-id": id.encode()}
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        flags = {a: args[i + 1] for i, a in enumerate(args[:-1]) if a in want}
        if flags == want and alive(int(entry)):
            found.append(int(entry))
    return found


def listening_sockets(pid: int) -> list[str]:
    """Paths of the unix sockets process ``pid`` holds open (its fds' inodes in /proc/net/unix):
    what to remove after killing a shim, which cannot remove its own socket then."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
    paths = []
    with contextlib.suppress(OSError), open("/proc/net/unix") as f:
        for line in f.read().splitlines()[1:]:
            fields = line.split()
            if len(fields) >= 8 and fields[6] in inodes and fields[7].startswith("/"):
                paths.append(fields[7])
    return paths


async def remove_stray_shims(address: str, namespace: str, id: str) -> None:
    """Kill the :func:`stray_shims` of a task and remove their sockets (a killed shim cannot)."""
    for pid in stray_shims(address, namespace, id):
        log.warning("killing stray shim %d", pid, extra={"fields": {"id": id, "namespace": namespace}})
        sockets = listening_sockets(pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):  # let the kernel close its sockets before we look
            fd = os.pidfd_open(pid)
            await asyncio.get_running_loop().run_in_executor(None, select.select, [fd], [], [], 5)
            os.close(fd)
        for path in sockets:
            with contextlib.suppress(PyctrdError):
                await ttrpc_sockets.remove_stale_socket(path)


def task_cgroup(bundle: Bundle) -> Cgroup | None:
    """The cgroup the task's spec names (read it before the bundle goes), if any."""
    try:
        return Cgroup.from_spec(json.loads(bundle.read("config.json") or "{}"))
    except (PyctrdError, OSError, ValueError, AttributeError):
        return None


def remove_empty_cgroup(cgroup: Cgroup) -> None:
    """After a dead shim's cleanup: a ``runc create`` killed half-way (its shim's caller gone)
    leaves the task's cgroup with no runc state to delete it. Empty directories go; one still
    holding processes stays (rmdir refuses) and is reported."""
    for d in cgroup.directories:
        try:
            os.rmdir(d)
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("cgroup %s of a dead task left: %s", d, exc.strerror)


def remove_hidden_bundle(hidden: Path) -> None:
    """Finish a bundle delete cut off by a crash: the bundle was renamed to ``.<id>`` (so it no
    longer looks like a task) but not yet removed. Its rootfs is unmounted first - removing
    files through a mount would delete the container's own - and if that fails it stays."""
    try:
        mount.unmount_all(hidden / "rootfs")
    except OSError as exc:
        log.warning("leaving %s: its rootfs cannot be unmounted (%s)", hidden, exc)
        return
    log.info("removing %s, left by an interrupted delete", hidden)
    shutil.rmtree(hidden, ignore_errors=True)


class OrphanReaper:
    """Reaps zombie children nobody else waits for (see the module docstring)."""

    def __init__(self, grace: float = 0.5) -> None:
        self.grace = grace
        self.reaped = 0
        self._seen: set[int] = set()
        self._scheduled: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"<OrphanReaper reaped={self.reaped} watching={len(self._seen)}>"

    def start(self) -> None:
        """Install the SIGCHLD handler (main thread's event loop only; else a no-op)."""
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGCHLD, self._wake)
        except (RuntimeError, ValueError):  # not the main thread: leave orphans to PID 1
            log.debug("orphan reaper not installed (not on the main thread)")
            return
        self._loop = loop
        self._wake()  # orphans that arrived before the handler

    def _wake(self) -> None:
        if self._loop is not None and self._scheduled is None:
            self._scheduled = self._loop.call_later(self.grace, self.scan)

    def scan(self) -> list[int]:
        """Reap the zombies seen at the previous scan too; look again later if any remain."""
        self._scheduled = None
        now = zombie_children()
        reaped = []
        for pid in sorted(now & self._seen):
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    reaped.append(pid)
        if reaped:
            self.reaped += len(reaped)
            log.debug("reaped orphans %s", reaped)
        self._seen = now - set(reaped)
        if self._seen:
            self._wake()
        return reaped

    def stop(self) -> None:
        if self._scheduled is not None:
            self._scheduled.cancel()
            self._scheduled = None
        if self._loop is not None:
            self._loop.remove_signal_handler(signal.SIGCHLD)
            self._loop = None
