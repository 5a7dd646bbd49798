"""The restart monitor: keep labelled containers' tasks in the status their label asks for.

A container labelled ``containerd.io/restart.status=running`` gets a new task whenever it has
none running (it exited, was killed, or the machine rebooted); ``=stopped`` gets its task
killed. Every ``interval`` the monitor compares, namespace by namespace, and acts on the
difference - containerd's ``runtime/restart/monitor``. The new task's output goes where
``containerd.io/restart.loguri`` (``file:///path``, ``binary:///bin?args``) or the older
``containerd.io/restart.logpath`` says, and nowhere otherwise.

The loop's sleep is injected, so a test drives :meth:`RestartMonitor.reconcile` directly
or runs the loop on a fake clock.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from ....core import namespaces
from ....core.containers import Container
from ....core.runtime import IO, RUNNING, STOPPED
from ....errdefs import NotFound, PyctrdError

__all__ = ["LOG_PATH_LABEL", "LOG_URI_LABEL", "STATUS_LABEL", "RestartMonitor"]

log = logging.getLogger("pyctrd.restart")

STATUS_LABEL = "containerd.io/restart.status"
LOG_URI_LABEL = "containerd.io/restart.loguri"
LOG_PATH_LABEL = "containerd.io/restart.logpath"


class RestartMonitor:
    """Reconciles desired (label) and actual (task) status.

    Args:
        containers: the containers service (``list``).
        tasks: the tasks service (``get``, ``create``, ``start``, ``kill``, ``wait``, ``delete``).
        namespaces_: the namespace store (``list``).
        interval: seconds between reconciliations.
        sleep: how to wait between them (``asyncio.sleep``; tests pass a fake).
    """

    def __init__(self, containers: Any, tasks: Any, namespaces_: Any, interval: float = 10.0,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.containers, self.tasks, self.namespaces = containers, tasks, namespaces_
        self.interval = interval or 10.0
        self.sleep = sleep
        self.rounds = 0
        self._loop_task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<RestartMonitor every {self.interval:g}s rounds={self.rounds}>"

    async def run(self) -> None:
        """Reconcile, sleep, forever (errors are logged, never end the loop)."""
        while True:
            try:
                await self.reconcile()
            except Exception:
                log.exception("reconcile")
            await self.sleep(self.interval)

    async def reconcile(self) -> None:
        """One pass over every namespace; changes run concurrently."""
        self.rounds += 1
        for ns in await asyncio.to_thread(self.namespaces.list):
            with namespaces.namespace(ns):
                try:
                    changes = await self._changes()
                except PyctrdError as exc:
                    log.error("monitor for changes in %s: %s", ns, exc)
                    continue
                for outcome in await asyncio.gather(*changes, return_exceptions=True):
                    if isinstance(outcome, BaseException):
                        log.error("apply change in %s: %s", ns, outcome)

    async def _changes(self) -> list[Awaitable[None]]:
        found = await asyncio.to_thread(self.containers.list, f'labels."{STATUS_LABEL}"')
        changes: list[Awaitable[None]] = []
        for c in found:
            desired = c.labels.get(STATUS_LABEL, "")
            if desired == await self._status(c.id):
                continue
            if desired == RUNNING:
                changes.append(self._start(c))
            elif desired == STOPPED:
                changes.append(self._kill(c.id))
        return changes

    async def _status(self, id: str) -> str:
        try:
            return str((await self.tasks.get(id)).status)
        except PyctrdError:
            return STOPPED

    async def _start(self, c: Container) -> None:
        uri = c.labels.get(LOG_URI_LABEL) or (f"file://{c.labels[LOG_PATH_LABEL]}"
                                               if c.labels.get(LOG_PATH_LABEL) else "")
        await self._kill(c.id)
        await self.tasks.create(c.id, IO(stdout=uri, stderr=uri))
        await self.tasks.start(c.id)
        log.info("restarted task of container %s", c.id)

    async def _kill(self, id: str) -> None:
        """Kill the task (if any), wait for it to exit, delete it."""
        try:
            await self.tasks.task(id)
        except NotFound:
            return
        exited = asyncio.ensure_future(self.tasks.wait(id))
        try:
            await self.tasks.kill(id, signal.SIGKILL, all=True)
        except PyctrdError:
            exited.cancel()
            await self.tasks.delete(id)  # already stopped: deleting is all that is left
            return
        with contextlib.suppress(PyctrdError):
            await exited
        await self.tasks.delete(id)

    async def astart(self) -> None:
        self._loop_task = asyncio.get_running_loop().create_task(self.run())

    async def aclose(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
