"""Events from the shim to the daemon: a queue, one sender, retries.

The shim reports what happens to tasks as events (``/tasks/create``, ``/tasks/exit``, …); the
daemon fans them out to its subscribers (``ctr events``) and updates its own records. Two
ways to deliver one, as containerd offers:

- **ttrpc** (containerd 1.6 sets ``TTRPC_ADDRESS`` in the shim's environment): call
  ``containerd.services.events.ttrpc.v1.Events/Forward`` with an ``Envelope`` (timestamp,
  namespace, topic, the event as an ``Any``) on the daemon's ttrpc socket;
- **the publish binary** (no ``TTRPC_ADDRESS``): run
  ``<publish-binary> --address <daemon> publish --topic T --namespace NS`` with the event
  ``Any`` on its stdin; it makes the gRPC call for us.

An RPC handler must never wait for the daemon (it may be slow, or restarting), so
:meth:`Publisher.publish` only puts the event on a queue. One task sends them in order; a
failed send is retried with a growing delay (1 s, 2 s, 3 s, 4 s: five tries), then dropped with an
error in the log. :meth:`Publisher.close` delivers what is queued before the shim exits.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from dataclasses import dataclass

from google.protobuf import any_pb2, empty_pb2, timestamp_pb2
from google.protobuf.message import Message

from .. import ttrpc
from .._api.containerd.api.services.ttrpc.events.v1 import events_pb2
from ..core import typeurl
from ..errdefs import PyctrdError, Unknown
from ..runc import Monitor

__all__ = ["TOPICS", "Publisher"]

log = logging.getLogger("pyctrd.shim")

#: Event type -> topic (containerd's ``runtime.Task*EventTopic``).
TOPICS = {
    "TaskCreate": "/tasks/create", "TaskStart": "/tasks/start", "TaskOOM": "/tasks/oom",
    "TaskExit": "/tasks/exit", "TaskDelete": "/tasks/delete", "TaskExecAdded": "/tasks/exec-added",
    "TaskExecStarted": "/tasks/exec-started", "TaskPaused": "/tasks/paused",
    "TaskResumed": "/tasks/resumed", "TaskCheckpointed": "/tasks/checkpointed",
}
MAX_QUEUED = 2048
MAX_TRIES = 5
SEND_TIMEOUT = 5.0


@dataclass
class _Item:
    envelope: events_pb2.Envelope
    tries: int = 0


class Publisher:
    """Delivers events to the daemon in the background (see the module docstring).

    Args:
        namespace: every envelope's namespace.
        ttrpc_address: the daemon's ttrpc socket (``TTRPC_ADDRESS``), or "" for the binary.
        publish_binary, daemon_address: how to run the publish binary.
        monitor: starts (and reaps) the publish binary: the shim's Reaper.
        retry_delay: seconds before the first retry; the n-th retry waits n times as long (as Go).
    """

    def __init__(self, namespace: str, *, ttrpc_address: str = "", publish_binary: str = "containerd",
                 daemon_address: str = "", monitor: Monitor, retry_delay: float = 1.0) -> None:
        self.namespace = namespace
        self.ttrpc_address = ttrpc_address
        self.publish_binary, self.daemon_address = publish_binary, daemon_address
        self._monitor, self._retry_delay = monitor, retry_delay
        self._queue: deque[_Item] = deque()
        self._wake = asyncio.Event()
        self._closing = False
        self._client: ttrpc.Client | None = None
        self._sender = asyncio.get_running_loop().create_task(self._send_loop())
        self.sent = 0

    def __repr__(self) -> str:
        how = f"ttrpc {self.ttrpc_address}" if self.ttrpc_address else f"binary {self.publish_binary}"
        return f"<Publisher {how} queued={len(self._queue)} sent={self.sent}>"

    def publish(self, event: Message) -> None:
        """Queue ``event`` (a ``containerd.events.Task*`` message) for delivery; never blocks."""
        topic = TOPICS[event.DESCRIPTOR.name]
        ns = time.time_ns()
        now = timestamp_pb2.Timestamp(seconds=ns // 10**9, nanos=ns % 10**9)
        envelope = events_pb2.Envelope(timestamp=now, namespace=self.namespace, topic=topic,
                                       event=typeurl.pack(event))
        if len(self._queue) >= MAX_QUEUED:
            dropped = self._queue.popleft()
            log.error("event queue full: dropping %s", dropped.envelope.topic)
        self._queue.append(_Item(envelope))
        self._wake.set()

    async def _send_loop(self) -> None:
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            item = self._queue[0]
            try:
                await self._send(item.envelope)
            except (PyctrdError, OSError) as exc:
                item.tries += 1
                if item.tries >= MAX_TRIES:
                    log.error("evicting %s from queue after %d tries: %s", item.envelope.topic,
                              item.tries, exc)
                else:
                    log.warning("forward event %s: %s (retrying)", item.envelope.topic, exc)
                    await asyncio.sleep(self._retry_delay * item.tries)
                    continue
            else:
                self.sent += 1
            self._queue.popleft()

    async def _send(self, envelope: events_pb2.Envelope) -> None:
        if self.ttrpc_address:
            await self._forward(envelope)
        else:
            await self._run_binary(envelope.topic, envelope.event)

    async def _forward(self, envelope: events_pb2.Envelope) -> None:
        if self._client is None or self._client.closed:
            self._client = await ttrpc.connect(self.ttrpc_address, timeout=SEND_TIMEOUT)
        await self._client.call("containerd.services.events.ttrpc.v1.Events", "Forward",
                                events_pb2.ForwardRequest(envelope=envelope),
                                empty_pb2.Empty,
                                timeout=SEND_TIMEOUT)

    async def _run_binary(self, topic: str, event: any_pb2.Any) -> None:
        argv = [self.publish_binary, "--address", self.daemon_address, "publish",
                "--topic", topic, "--namespace", self.namespace]
        r, w = os.pipe()
        try:
            pid = self._monitor.spawn(argv, (r, 2, 2))
        finally:
            os.close(r)
        try:  # an event is small: it fits in the pipe's buffer, the write cannot block
            os.write(w, event.SerializeToString())
        finally:
            os.close(w)
        status = await asyncio.wait_for(self._monitor.wait(pid), SEND_TIMEOUT * 2)
        if status != 0:
            raise Unknown(f"{self.publish_binary} publish {topic}: exit status {status}")

    async def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (for at most ``timeout`` seconds), then stop.

        Raises:
            Nothing: events still queued at the deadline are logged and dropped.
        """
        self._closing = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._sender), timeout)
        except TimeoutError:
            log.error("publisher not closed: %d events undelivered", len(self._queue))
            self._sender.cancel()
            await asyncio.wait([self._sender])
        if self._client is not None:
            await self._client.close()
