"""Logging in containerd's shape (logrus text): ``time="…" level=info msg="…" key=value``.

Students compare pyctrd's log with containerd's side by side, so the shape matters more
than the library: plain :mod:`logging` with a formatter. Extra fields passed as
``log.info("msg", extra={"fields": {"type": t}})`` print as ``type=t``.
"""
from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

__all__ = ["LEVELS", "LogfmtFormatter", "setup"]

LEVELS = {"trace": 5, "debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
          "warning": logging.WARNING, "error": logging.ERROR, "fatal": logging.CRITICAL,
          "panic": logging.CRITICAL}
_NAMES = {5: "trace", logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warning",
          logging.ERROR: "error", logging.CRITICAL: "fatal"}


def _quote(v: object) -> str:
    s = str(v)
    if s and all(c.isalnum() or c in "-._/:@+" for c in s):
        return s
    return json.dumps(s)


class LogfmtFormatter(logging.Formatter):
    def __init__(self, fmt: str = "text") -> None:
        super().__init__()
        self.fmt = fmt

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="microseconds")
        ts = ts.replace("+00:00", "Z")
        level = _NAMES.get(record.levelno, record.levelname.lower())
        fields = dict(getattr(record, "fields", {}) or {})
        msg = record.getMessage()
        if record.exc_info:
            fields["error"] = self.formatException(record.exc_info).splitlines()[-1]
        if self.fmt == "json":
            return json.dumps({"time": ts, "level": level, "msg": msg, **fields}, default=str)
        extra = "".join(f" {k}={_quote(v)}" for k, v in fields.items())
        return f"time={json.dumps(ts)} level={level} msg={json.dumps(msg)}{extra}"


def setup(level: str = "info", fmt: str = "text", stream: object = None) -> None:
    """Configure the root logger once for the daemon process."""
    logging.addLevelName(5, "TRACE")
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(LogfmtFormatter(fmt or "text"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(LEVELS.get((level or "info").lower(), logging.INFO))
