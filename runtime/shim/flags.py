"""The shim's command line, parsed the way Go's ``flag`` package does.

containerd runs every runtime-v2 shim with Go-style flags (one dash, value as the next word
or after ``=``), then an action::

    containerd-shim-pyrunc-v1 -namespace default -address /run/containerd/containerd.sock \\
        -publish-binary /usr/bin/containerd -id c1 [-debug] [-bundle DIR] start|delete

No action means "serve" (how ``start`` re-runs the binary). ``--flag`` works too.

>>> f = parse(["-namespace", "lab", "--id=c1", "-debug", "-address", "/run/x.sock", "start"])
>>> f.namespace, f.id, f.debug, f.address, f.action
('lab', 'c1', True, '/run/x.sock', 'start')
>>> f.runc_root_base
'/run/runc'
>>> parse(["-bogus"])
Traceback (most recent call last):
...
pyctrd.errdefs.InvalidArgument: flag provided but not defined: -bogus: invalid argument
"""
from __future__ import annotations

import os

__all__ = ["Flags", "parse"]

_BOOLS = {"debug", "v"}
_STRINGS = {"namespace", "id", "socket", "bundle", "address", "publish-binary"}


class Flags:
    """What containerd told the shim on its command line.

    (A plain class, not a dataclass: ``dataclasses`` imports ``inspect``, ~10 ms that every
    ``start`` would pay.)
    """

    def __init__(self) -> None:
        self.namespace = ""
        self.id = ""
        self.address = ""                  # the daemon's gRPC socket (-address)
        self.publish_binary = "containerd"
        self.bundle = ""                   # empty: the working directory
        self.socket = ""                   # serve on this path instead of the inherited fd 3
        self.debug = False
        self.v = False                     # print the version and exit
        self.action = ""                   # "start", "delete", or "" (serve)
        self.args: list[str] = []

    def __repr__(self) -> str:
        return f"<Flags {self.action or 'serve'} ns={self.namespace} id={self.id}>"

    @property
    def state_dir(self) -> str:
        """The daemon's state directory, taken as the directory of its socket.

        containerd's sockets live in its state dir (``/run/containerd/containerd.sock``),
        pyctrd's in its own (``/run/pyctrd/pyctrd.sock``): the shim's socket and runc's state
        go next to them, never to a hard-coded ``/run/containerd``.
        """
        return os.path.dirname(os.path.abspath(self.address.removeprefix("unix://") or "."))

    @property
    def runc_root_base(self) -> str:
        """runc's state root without the namespace (``<state>/runc``; the Root option overrides)."""
        return os.path.join(self.state_dir, "runc")

    @property
    def bundle_dir(self) -> str:
        """The bundle: ``-bundle`` if given, else the working directory."""
        return os.path.abspath(self.bundle or ".")


def _invalid(message: str) -> Exception:
    from ..errdefs import InvalidArgument  # only on a bad command line: start stays lean

    return InvalidArgument(message)


def parse(argv: list[str]) -> Flags:
    """Parse ``argv`` (without the program name) as Go's ``flag.Parse`` would.

    Raises:
        InvalidArgument: an unknown flag, or a flag that needs a value without one.
    """
    flags = Flags()
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            i += 1
            break
        if not word.startswith("-") or word == "-":
            break  # the first non-flag word ends the flags, as in Go
        name, eq, value = word.lstrip("-").partition("=")
        if name in _BOOLS:
            setattr(flags, name, not eq or value.lower() in ("1", "t", "true"))
        elif name in _STRINGS:
            if not eq:
                i += 1
                if i >= len(argv):
                    raise _invalid(f"flag needs an argument: -{name}")
                value = argv[i]
            setattr(flags, name.replace("-", "_"), value)
        else:
            raise _invalid(f"flag provided but not defined: -{name}")
        i += 1
    rest = argv[i:]
    flags.action, flags.args = (rest[0], rest[1:]) if rest else ("", [])
    return flags
