"""Noticing out-of-memory kills: the kernel tells us, we never poll.

When a cgroup's memory use hits its limit and nothing can be reclaimed, the kernel's OOM
killer picks a process in it and sends SIGKILL. The container just exits with 137; the shim
also publishes a ``TaskOOM`` event so that users know *why*. How the kernel tells us:

- **v1**: the ``memory.oom_control`` notification API. Make an ``eventfd``, open
  ``memory.oom_control``, and write ``"<eventfd> <oom_control fd>"`` to the cgroup's
  ``cgroup.event_control``. From then on the eventfd's counter goes up at every OOM, and the
  fd becomes readable. It also fires once when the cgroup is removed, so after each wake-up
  we check whether the cgroup still exists.
- **v2**: ``memory.events`` counts ``oom_kill`` events; the kernel signals a change of the
  file to inotify (``IN_MODIFY``). When the cgroup is removed the watch ends (``IN_IGNORED``).

Both are async iterators that yield once per OOM and stop when the cgroup goes away::

    async for event in oom_events(Cgroup.from_spec(spec)):
        publish(TaskOOM(container_id=…))
"""
from __future__ import annotations

import asyncio
import ctypes
import os
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass

from .. import errdefs
from ..errdefs import NotFound, map_exceptions
from .cgroup import Cgroup
from .v1 import parse_kv

__all__ = ["OOMEvent", "oom_events", "watch_file"]

_IN_MODIFY, _IN_DELETE_SELF, _IN_IGNORED = 0x2, 0x400, 0x8000
_IN_NONBLOCK, _IN_CLOEXEC = os.O_NONBLOCK, os.O_CLOEXEC


@dataclass(frozen=True)
class OOMEvent:
    """One out-of-memory event in ``cgroup`` (``count``: kills so far, where the kernel says)."""

    cgroup: str
    count: int = 0

    def __repr__(self) -> str:
        return f"<OOMEvent {self.cgroup} count={self.count}>"


async def _readable(fd: int) -> None:
    """Wait until ``fd`` can be read (the event loop watches it; no thread, no polling)."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)
    loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        loop.remove_reader(fd)


def _oom_kills(path: str, default: int = 0) -> int:
    """The ``oom_kill`` count of a ``memory.oom_control`` or ``memory.events`` file."""
    try:
        with open(path) as f:
            return parse_kv(f.read()).get("oom_kill", default)
    except FileNotFoundError:
        return default


def _register_v1(directory: str, efd: int, control: int) -> None:
    with open(os.path.join(directory, "cgroup.event_control"), "w") as f:
        f.write(f"{efd} {control}")


async def _v1_events(cg: Cgroup, directory: str) -> AsyncIterator[OOMEvent]:
    with map_exceptions(f"cgroup {cg.path} memory.oom_control"):
        control = os.open(os.path.join(directory, "memory.oom_control"), os.O_RDONLY | os.O_CLOEXEC)
    efd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
    try:
        with map_exceptions(f"cgroup {cg.path} cgroup.event_control"):
            _register_v1(directory, efd, control)
        count = 0
        while True:
            await _readable(efd)
            try:
                os.eventfd_read(efd)
            except BlockingIOError:
                continue
            if not os.path.isdir(directory):
                return  # the wake-up was the cgroup's removal
            count = max(count + 1, _oom_kills(os.path.join(directory, "memory.oom_control")))
            yield OOMEvent(cg.path, count)
    finally:
        os.close(efd)
        os.close(control)


async def watch_file(path: str) -> AsyncIterator[None]:
    """Yield each time ``path`` is modified (inotify); stop when it is removed.

    Raises:
        NotFound: ``path`` does not exist.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
    if fd < 0:
        with map_exceptions("inotify_init1"):
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    try:
        if libc.inotify_add_watch(fd, os.fsencode(path), _IN_MODIFY | _IN_DELETE_SELF) < 0:
            with map_exceptions(f"watch {path}"):
                raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        while True:
            await _readable(fd)
            try:
                data = os.read(fd, 4096)
            except BlockingIOError:
                continue
            offset, modified = 0, False
            while offset + 16 <= len(data):
                _, mask, _, length = struct.unpack_from("iIII", data, offset)
                offset += 16 + length
                if mask & (_IN_IGNORED | _IN_DELETE_SELF):
                    return
                modified = modified or bool(mask & _IN_MODIFY)
            if modified:
                yield None
    finally:
        os.close(fd)


async def _v2_events(cg: Cgroup, directory: str) -> AsyncIterator[OOMEvent]:
    path = os.path.join(directory, "memory.events")
    if not os.path.exists(path):
        raise NotFound(f"cgroup {cg.path}: memory.events (memory controller not enabled)")

    seen = _oom_kills(path)
    async for _ in watch_file(path):
        now = _oom_kills(path)
        if now > seen:
            seen = now
            yield OOMEvent(cg.path, now)


def oom_events(cg: Cgroup) -> AsyncIterator[OOMEvent]:
    """OOM events of ``cg`` as they happen, until the cgroup is removed.

    Registration happens when iteration starts (the first ``__anext__``), not before.

    Raises (when iterated):
        NotFound: the cgroup (or its memory controller) does not exist.
        NotImplemented: no memory controller is mounted at all.
    """
    if cg.version == 1:
        if "memory" not in cg.v1:
            raise errdefs.NotImplemented("no v1 memory controller mounted")
        return _v1_events(cg, cg.v1["memory"])
    if cg.unified is None:
        raise errdefs.NotImplemented("no cgroup v2 hierarchy mounted")
    return _v2_events(cg, cg.unified)
