"""The daemon: config -> plugin graph -> init -> sockets. See :mod:`.server`."""
from .server import Daemon

__all__ = ["Daemon"]
