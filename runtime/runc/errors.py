"""runc's failures, read from its JSON log and turned into pyctrd's error kinds.

runc reports a failure by exiting non-zero after logging it. With ``--log FILE --log-format
json`` every message is one JSON object per line::

    {"level":"error","msg":"container does not exist","time":"2026-11-28T05:13:53Z"}

The *last* error-level line is the reason (earlier lines may be warnings or the init
process's own complaints). Its text is kept as runc wrote it and classified by what it
says, the way containerd's shim reads runc's ``log.json``:

>>> last_error(b'{"level":"warning","msg":"x"}\\n{"level":"error","msg":"container does not exist"}\\n')
'container does not exist'
>>> runc_error("runc state c9", "container does not exist")
NotFound('runc state c9: container does not exist: not found')
>>> runc_error("runc kill c1", "container not running")
FailedPrecondition('runc kill c1: container not running: failed precondition')
"""
from __future__ import annotations

import json

from ..errdefs import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PyctrdError,
    Unknown,
)

__all__ = ["last_error", "runc_error"]

# Checked in order; the first phrase found in runc's message decides the kind.
_PHRASES: list[tuple[str, type[PyctrdError]]] = [
    ("does not exist", NotFound),                 # libcontainer ErrNotExist
    ("process already finished", NotFound),       # kill after the process has gone
    ("no such process", NotFound),
    ("already exists", AlreadyExists),            # ErrExist: "container with given ID already exists"
    ("invalid container id", InvalidArgument),
    ("invalid id format", InvalidArgument),
    ("not running", FailedPrecondition),          # ErrNotRunning (kill, exec, pause)
    ("not paused", FailedPrecondition),           # resume of a running container
    ("paused", FailedPrecondition),               # exec/kill into a paused container
    ("not stopped", FailedPrecondition),          # delete of a running container without --force
    ("still running", FailedPrecondition),
    ("cannot start", FailedPrecondition),
    ("stopped container", FailedPrecondition),    # exec into a stopped container         # start twice: "cannot start an already running container"
    ("no such file or directory", NotFound),      # a bundle, rootfs or executable missing
]


def last_error(log: bytes) -> str:
    """The message of the last error or fatal line of a JSON log ("" if none)."""
    msg = ""
    for line in log.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("level") in ("error", "fatal"):
            msg = str(entry.get("msg", ""))
    return msg


def runc_error(what: str, message: str) -> PyctrdError:
    """The pyctrd error for runc's ``message`` about ``what`` (e.g. ``runc kill c1``)."""
    lowered = message.lower()
    for phrase, kind in _PHRASES:
        if phrase in lowered:
            return kind(f"{what}: {message}")
    return Unknown(f"{what}: {message}")
