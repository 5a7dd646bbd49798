"""Values a config may not hold even when their types are right: checked before a daemon starts.

:func:`~pyctrd.config.load` checks types. :func:`check_values` checks meaning - what would
otherwise fail half-way through a start (an empty socket address, a uid ``chown`` cannot take,
a metrics address without a port) or, worse, write outside root and state (an empty address
puts ``.ttrpc`` in the current directory). Each problem is a :class:`ConfigError` naming the
key and, when the file says it, the line.

>>> from pyctrd.config import loads
>>> check_values(loads('version = 2\\n[grpc]\\naddress = ""\\n', file="c.toml"))
Traceback (most recent call last):
...
pyctrd.config.load.ConfigError: c.toml:3: grpc.address: must not be empty: invalid argument
"""
from __future__ import annotations

from ..errdefs import InvalidArgument
from .fields import Duration
from .load import ConfigError, Loaded

__all__ = ["LOG_FORMATS", "LOG_LEVELS", "check_values"]

LOG_LEVELS = {"", "trace", "debug", "info", "warn", "warning", "error", "fatal", "panic"}
LOG_FORMATS = {"", "text", "json"}
MAX_ID = 2**32 - 2          # (uid_t)-1 means "no change" to chown
MAX_GRPC_MESSAGE = 2**31 - 1  # grpc's channel arguments are C ints


def _fail(loaded: Loaded, key: str, message: str) -> ConfigError:
    return ConfigError(message, file=loaded.file, key=key, line=loaded.line_of(key.split(".")))


def check_values(loaded: Loaded) -> None:
    """Raise :class:`ConfigError` for the first value the daemon could not start with."""
    c = loaded.config
    for key, value in (("root", c.root), ("state", c.state), ("grpc.address", c.grpc.address)):
        if not value:
            raise _fail(loaded, key, "must not be empty")
    if c.root.rstrip("/") == c.state.rstrip("/"):
        raise _fail(loaded, "state", "root and state must be different paths")
    for section in ("grpc", "ttrpc", "debug"):
        for name in ("uid", "gid"):
            v = getattr(getattr(c, section), name)
            if not 0 <= v <= MAX_ID:
                raise _fail(loaded, f"{section}.{name}", f"{v} is not a {name} (0-{MAX_ID})")
    for name in ("max_recv_message_size", "max_send_message_size"):
        v = getattr(c.grpc, name)
        if not 0 < v <= MAX_GRPC_MESSAGE:
            raise _fail(loaded, f"grpc.{name}", f"{v} is not a message size (1-{MAX_GRPC_MESSAGE} bytes)")
    if c.metrics.address:
        _host, sep, port = c.metrics.address.rpartition(":")
        if not sep or not port.isdigit() or int(port) > 65535:
            raise _fail(loaded, "metrics.address", f"{c.metrics.address!r} is not host:port")
    if c.debug.level.lower() not in LOG_LEVELS:
        raise _fail(loaded, "debug.level", f"{c.debug.level!r} is not one of {', '.join(sorted(LOG_LEVELS - {''}))}")
    if c.debug.format.lower() not in LOG_FORMATS:
        raise _fail(loaded, "debug.format", f"{c.debug.format!r} is not text or json")
    for name, value in c.timeouts.items():
        try:
            Duration(value)
        except (InvalidArgument, TypeError, ValueError) as exc:
            raise _fail(loaded, f"timeouts.{name}", f"{value!r} is not a duration ({exc})") from None
